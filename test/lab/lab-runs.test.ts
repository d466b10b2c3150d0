// Runs through the lab (src/lab/runs.ts) on a memory workspace, as the engine worker runs them
// on OPFS: an SFT run's events, run.json and checkpoints; a run whose tab closed mid-way (its
// workspace stops answering and its locks are freed) seen as 'interrupted' by a new lab and resumed to
// exactly the uninterrupted run's weights; pause; GRPO from an SFT checkpoint with its rollouts
// read back; one GPU job at a time; bad input refused before the GPU is asked for.
import { describe, it, expect } from 'vitest';
import { InputError } from '../../src/engine/errors';
import { readSafetensors } from '../../src/io/safetensors';
import { MemoryWorkspace, subWorkspace, type Workspace } from '../../src/io/workspace';
import { applyOverrides, sftConfigFrom } from '../../src/recipe/sft-config';
import { applyGrpoOverrides, grpoConfigFrom } from '../../src/recipe/grpo-config';
import { MetricsLog, findCheckpoint, listCheckpoints, pruneCheckpoints, readRunState } from '../../src/recipe/run-io';
import type { RunEvent } from '../../src/recipe/run-events';
import type { GrpoStepMetrics, GroupRecord } from '../../src/recipe/grpo';
import type { SftStepMetrics } from '../../src/recipe/sft';
import { createLab } from '../../src/lab';
import { LockRegistry } from '../../src/lab/locks';
import { testGpu } from '../helpers/gpu';

// ~30k parameters on the real synth curriculum, one short template, so a step is well under a second.
const SFT_SETS = [
  'model.hiddenSize=32',
  'model.numHeads=2',
  'model.numKvHeads=1',
  'model.intermediateSize=64',
  'model.context=160',
  'maxLength=160',
  'batchSize=2',
  'data.synth.n=24',
  'data.synth.options={"templates":["dose_weight"]}',
  'eval.items=0',
  'lr=1e-2',
  'seed=3',
];
const sftConfig = (steps: number, extra: string[] = []) => applyOverrides(sftConfigFrom('synth-micro'), [...SFT_SETS, `maxSteps=${steps}`, ...extra]);
const grpoConfig = (model: string, extra: string[] = []) =>
  applyGrpoOverrides(grpoConfigFrom('synth-micro'), [
    `model=${model}`,
    'data.synth.n=24',
    'data.synth.options={"templates":["dose_weight"]}',
    'steps=2',
    'groupSize=2',
    'promptsPerStep=2',
    'maxNewTokens=6',
    'maxPromptTokens=150',
    'microBatch=4',
    'rolloutBatch=4',
    'eval.items=0',
    'checkpoint.every=0',
    'lr=1e-3',
    'seed=5',
    ...extra,
  ]);

/** A view of `inner` that, once frozen, never answers again: a job on it hangs like one in a closed tab. */
function freezable(inner: Workspace) {
  let frozen = false;
  let hit!: () => void;
  const stuck = new Promise<void>((r) => {
    hit = r;
  });
  const gate = async () => {
    if (!frozen) return;
    hit();
    await new Promise<never>(() => undefined);
  };
  const ws: Workspace = {
    name: inner.name,
    list: async () => {
      await gate();
      return inner.list();
    },
    read: async (p) => {
      await gate();
      return inner.read(p);
    },
    exists: async (p) => {
      await gate();
      return inner.exists(p);
    },
    write: async (p, b) => {
      await gate();
      return inner.write(p, b);
    },
    listDir: async (d) => {
      await gate();
      return inner.listDir(d);
    },
    append: async (p, t) => {
      await gate();
      return inner.append(p, t);
    },
    remove: async (p) => {
      await gate();
      return inner.remove(p);
    },
    size: async (p) => {
      await gate();
      return inner.size(p);
    },
    writeFolder: async (d, f) => {
      await gate();
      return inner.writeFolder(d, f);
    },
    removeLeftovers: async (d) => {
      await gate();
      return inner.removeLeftovers(d);
    },
  };
  return {
    ws,
    freeze: () => {
      frozen = true;
    },
    stuck,
  };
}

async function maxWeightDiff(ws: Workspace, a: string, b: string): Promise<number> {
  const wa = readSafetensors(await ws.read(`${a}/model.safetensors`), a),
    wb = readSafetensors(await ws.read(`${b}/model.safetensors`), b);
  expect([...wa.keys()]).toEqual([...wb.keys()]);
  let d = 0;
  for (const [name, t] of wa) {
    const u = wb.get(name)!.data;
    for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs(t.data[i] - u[i]));
  }
  return d;
}

const sftSteps = (events: RunEvent[]) => events.flatMap((e) => (e.type === 'sft-step' ? [e.metrics as SftStepMetrics] : []));
const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as Error,
  );

describe('run folders over a workspace', () => {
  it('logs skip a torn last line and resume on a clean line; only complete checkpoints count', async () => {
    const ws = new MemoryWorkspace('unit');
    const log = await MetricsLog.open(ws, 'r/metrics.jsonl');
    for (const step of [1, 2, 3]) await log.append({ type: 'step', step });
    await ws.append('r/metrics.jsonl', '{"type":"st');
    expect((await MetricsLog.read(ws, 'r/metrics.jsonl')).map((r) => r.step)).toEqual([1, 2, 3]);
    // Resuming from step 2 drops step 3 and the torn line, so the redone step 3 is a line of its own.
    const again = await MetricsLog.open(ws, 'r/metrics.jsonl', { resumeStep: 2 });
    await again.append({ type: 'step', step: 3, redone: true });
    expect(await MetricsLog.read(ws, 'r/metrics.jsonl')).toEqual([
      { type: 'step', step: 1 },
      { type: 'step', step: 2 },
      { type: 'step', step: 3, redone: true },
    ]);
    // A bad line before the last is damage, named by its line.
    await ws.write('r/bad.jsonl', new TextEncoder().encode('{"a":1}\nnot json\n{"b":2}\n'));
    await expect(MetricsLog.read(ws, 'r/bad.jsonl')).rejects.toThrow(/bad\.jsonl:2/);
    expect(await MetricsLog.read(ws, 'r/none.jsonl')).toEqual([]);

    const run = subWorkspace(ws, 'r');
    const files = { 'config.json': '{}', 'trainer_state.json': '{}' };
    await run.writeFolder('checkpoint-1', files);
    await run.writeFolder('checkpoint-2', files);
    // A save cut short: its files are there, its marker is not.
    for (const [p, v] of Object.entries(files)) await run.write(`checkpoint-3/${p}`, new TextEncoder().encode(v));
    expect(await listCheckpoints(run)).toEqual([1, 2]);
    expect(await findCheckpoint(run)).toBe('checkpoint-2');
    expect(await findCheckpoint(run, 'checkpoint-1')).toBe('checkpoint-1');
    await expect(findCheckpoint(run, 'checkpoint-3')).rejects.toThrow(/incomplete checkpoint/);
    await expect(findCheckpoint(run, 'checkpoint-9')).rejects.toThrow(/folder not found/);
    expect(await pruneCheckpoints(run, 1)).toEqual([3, 1]);
    expect((await run.listDir('')).map((e) => e.name)).toEqual(['bad.jsonl', 'checkpoint-2', 'metrics.jsonl']);
    await run.writeFolder('checkpoint-4', files);
    expect(await pruneCheckpoints(run, 1, [2])).toEqual([]);
    expect(await listCheckpoints(run)).toEqual([2, 4]);
  });
});

describe('lab runs', () => {
  const ws = new MemoryWorkspace('lab');
  const lab = createLab(ws, testGpu);
  let straightLosses: number[] = [];

  it('an SFT run streams its steps, keeps run.json and ends completed with checkpoints', async () => {
    const events: RunEvent[] = [];
    const info = await lab.startRun({ name: 'straight', kind: 'sft', config: sftConfig(3, ['checkpoint.every=1']) }, (e) => events.push(e));
    // keep=2: checkpoint-1 made way for the newer two.
    expect(info).toMatchObject({ name: 'straight', kind: 'sft', status: 'completed', step: 3, totalSteps: 3, checkpoints: [2, 3] });
    const steps = sftSteps(events);
    expect(steps.map((s) => s.step)).toEqual([1, 2, 3]);
    for (const s of steps) expect(Number.isFinite(s.loss) && s.loss > 0).toBe(true);
    straightLosses = steps.map((s) => s.loss);
    expect(events.filter((e) => e.type === 'checkpoint')).toEqual([
      { type: 'checkpoint', step: 1, reason: 'periodic' },
      { type: 'checkpoint', step: 2, reason: 'periodic' },
      { type: 'checkpoint', step: 3, reason: 'final' },
    ]);
    expect(events.some((e) => e.type === 'progress' && e.progress.phase === 'training the tokenizer' && e.progress.done === 1)).toBe(true);
    // Between encoding and the first step the bar says what happens, not a stale "encoding examples N/N".
    const firstStep = events.findIndex((e) => e.type === 'sft-step');
    const phases = events.slice(0, firstStep).flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
    expect(phases.slice(-2).map((p) => p.phase)).toEqual(['starting the GPU and the model', 'step 1 (the first compiles the GPU kernels)']);
    expect(phases[phases.length - 1]).toMatchObject({ done: 0, total: 3 });
    expect(events.some((e) => e.type === 'log' && /trained a byte-level BPE tokenizer/.test(e.line))).toBe(true);
    expect(events[events.length - 1]).toEqual({ type: 'end', run: info });

    // What is on disk: run.json as listed, the metrics, whole checkpoints.
    expect(await lab.listRuns()).toEqual([{ ...info }]);
    const rows = (await lab.runMetrics('straight')).filter((r) => r.type === 'step');
    expect(rows.map((r) => [r.step, r.loss])).toEqual(steps.map((s) => [s.step, s.loss]));
    for (const f of [
      'run.json',
      'run_config.json',
      'summary.json',
      'checkpoint-3/.complete',
      'checkpoint-3/config.json',
      'checkpoint-3/tokenizer.json',
      'checkpoint-3/trainer_state.json',
      'checkpoint-3/optimizer.safetensors',
    ]) {
      expect(await ws.exists(`runs/straight/${f}`), f).toBe(true);
    }
    expect(await ws.exists('runs/straight/checkpoint-1/config.json')).toBe(false);
    await expect(lab.startRun({ name: 'straight', kind: 'sft', config: sftConfig(3) })).rejects.toThrow(/name is in use/);

    // Another tab lists the runs while this run's trainer prunes a checkpoint: the look inside the
    // vanishing folder fails (OPFS throws), and the listing tries again instead of failing whole.
    let failures = 1;
    const pruning: Workspace = {
      name: ws.name,
      list: () => ws.list(),
      read: (p) => ws.read(p),
      write: (p, b) => ws.write(p, b),
      listDir: (d) => ws.listDir(d),
      append: (p, t) => ws.append(p, t),
      remove: (p) => ws.remove(p),
      size: (p) => ws.size(p),
      writeFolder: (d, f) => ws.writeFolder(d, f),
      removeLeftovers: (d) => ws.removeLeftovers(d),
      exists: async (p) => {
        if (p === 'runs/straight/checkpoint-2/.complete' && failures-- > 0) throw Object.assign(new Error('entry was removed'), { name: 'InvalidStateError' });
        return ws.exists(p);
      },
    };
    expect(await createLab(pruning, testGpu).listRuns()).toEqual([{ ...info }]);
    expect(failures).toBe(-1);
  }, 120_000);

  it('a run whose tab closed reads as interrupted in a new lab and resumes to the uninterrupted weights', async () => {
    const f = freezable(ws);
    // Two tabs of one origin: the dying one's locks are freed when it closes, not when its job ends (it never does).
    const origin = new LockRegistry();
    const dyingTab = origin.client();
    const dying = createLab(f.ws, testGpu, { locks: dyingTab });
    // The job hangs at its first storage call after step 2 (saving checkpoint-2), as if the tab had closed.
    void dying
      .startRun({ name: 'killed', kind: 'sft', config: sftConfig(3, ['checkpoint.every=1']) }, (e) => {
        if (e.type === 'sft-step' && e.metrics.step === 2) f.freeze();
      })
      .catch(() => undefined);
    await f.stuck;

    const lab2 = createLab(ws, testGpu, { locks: origin.client() });
    expect((await lab2.listRuns()).find((r) => r.name === 'killed')?.status).toBe('running-elsewhere');
    await expect(lab2.resumeRun('killed')).rejects.toThrow(/run killed: is running in another tab/);
    dyingTab.close();
    const killed = (await lab2.listRuns()).find((r) => r.name === 'killed');
    expect(killed).toMatchObject({ status: 'interrupted', step: 2, checkpoints: [1] });
    // run.json itself still says running: 'interrupted' is what a lab not running it concludes.
    expect(JSON.parse(new TextDecoder().decode(await ws.read('runs/killed/run.json'))).status).toBe('running');
    // A torn last line (an append cut short) is skipped.
    await ws.append('runs/killed/metrics.jsonl', '{"type":"step","step":3,"lo');
    expect((await lab2.runMetrics('killed')).map((r) => r.step)).toEqual([1, 2]);

    // A save of checkpoint-2 that the closing tab cut short: files without the marker.
    await ws.write('runs/killed/checkpoint-2/config.json', new TextEncoder().encode('{}'));
    expect(await listCheckpoints(subWorkspace(ws, 'runs/killed'))).toEqual([1]);

    const events: RunEvent[] = [];
    let tornAtFirstStep: boolean | null = null;
    const info = await lab2.resumeRun('killed', (e) => {
      events.push(e);
      // Removed before the run trained on (a memory workspace answers at once).
      if (e.type === 'sft-step' && tornAtFirstStep === null)
        void ws.exists('runs/killed/checkpoint-2/config.json').then((x) => {
          tornAtFirstStep = x;
        });
    });
    expect(tornAtFirstStep).toBe(false);
    expect(events.some((e) => e.type === 'log' && /removed what an interrupted save left: checkpoint-2/.test(e.line))).toBe(true);
    // keep=2 counts the checkpoints the run had before it resumed: the one it resumed from went.
    expect(info).toMatchObject({ status: 'completed', step: 3, totalSteps: 3, checkpoints: [2, 3] });
    expect((await ws.listDir('runs/killed')).filter((e) => e.kind === 'dir').map((e) => e.name)).toEqual(['checkpoint-2', 'checkpoint-3']);
    expect(sftSteps(events).map((s) => s.step)).toEqual([2, 3]);
    // One run's worth of metrics: the steps after the checkpoint were dropped and redone.
    const rows = (await lab2.runMetrics('killed')).filter((r) => r.type === 'step');
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    rows.forEach((r, i) => expect(r.loss as number).toBeCloseTo(straightLosses[i], 5));
    expect(await maxWeightDiff(ws, 'runs/killed/checkpoint-3', 'runs/straight/checkpoint-3')).toBeLessThan(1e-5);
    const st = await readRunState(subWorkspace(ws, 'runs/killed/checkpoint-3'), '', 'sft');
    expect([st.step, st.reason, st.optimizer]).toEqual([3, 'final', true]);
  }, 120_000);

  it('a save that runs out of storage leaves no half-written checkpoint; the run resumes from the last whole one and keeps `keep`', async () => {
    // OPFS and memory write a folder file by file; here the storage fills up at checkpoint-2's last file, its weights written.
    class FullAt extends MemoryWorkspace {
      armed = true;
      override async write(p: string, b: Uint8Array) {
        if (this.armed && p === 'runs/full/checkpoint-2/config.json') {
          this.armed = false;
          throw new InputError(p, "the browser's storage for this site is full: nothing was replaced; delete old runs, models or datasets and try again");
        }
        return super.write(p, b);
      }
    }
    const fws = new FullAt('quota');
    const qlab = createLab(fws, testGpu);
    const failed = await qlab.startRun({ name: 'full', kind: 'sft', config: sftConfig(4, ['checkpoint.every=1']) });
    expect(failed).toMatchObject({ status: 'failed', step: 2, checkpoints: [1] });
    expect(failed.error).toMatch(/storage for this site is full/);
    expect((await fws.list()).filter((f) => f.startsWith('runs/full/checkpoint-2'))).toEqual([]);

    const info = await qlab.resumeRun('full');
    expect(info).toMatchObject({ status: 'completed', step: 4, checkpoints: [3, 4] });
    expect((await fws.listDir('runs/full')).filter((e) => e.kind === 'dir').map((e) => e.name)).toEqual(['checkpoint-3', 'checkpoint-4']);
    expect((await qlab.runMetrics('full')).filter((r) => r.type === 'step').map((r) => r.step)).toEqual([1, 2, 3, 4]);
  }, 120_000);

  it('a run cut off before its first checkpoint cannot resume; it restarts from the start with its settings', async () => {
    const f = freezable(ws);
    const origin = new LockRegistry();
    const dyingTab = origin.client();
    const dying = createLab(f.ws, testGpu, { locks: dyingTab });
    // No checkpoint before the end (every 100 steps); the tab closes after step 2.
    void dying
      .startRun({ name: 'early', kind: 'sft', config: sftConfig(3, ['checkpoint.every=100']) }, (e) => {
        if (e.type === 'sft-step' && e.metrics.step === 2) f.freeze();
      })
      .catch(() => undefined);
    await f.stuck;
    dyingTab.close();
    const lab2 = createLab(ws, testGpu, { locks: origin.client() });
    expect((await lab2.listRuns()).find((r) => r.name === 'early')).toMatchObject({ status: 'interrupted', step: 2, checkpoints: [] });
    await expect(lab2.resumeRun('early')).rejects.toThrow(
      /run early: has no checkpoint to resume from \(it ended before its first\); restart it from the start/,
    );

    const events: RunEvent[] = [];
    const info = await lab2.restartRun('early', (e) => events.push(e));
    expect(info).toMatchObject({ name: 'early', status: 'completed', step: 3, totalSteps: 3, checkpoints: [3] });
    expect(info.config).toEqual(sftConfig(3, ['checkpoint.every=100']));
    // The old run's rows are gone: one run's worth, the same losses as the uninterrupted run's.
    const rows = (await lab2.runMetrics('early')).filter((r) => r.type === 'step');
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    rows.forEach((r, i) => expect(r.loss as number).toBeCloseTo(straightLosses[i], 5));
    expect(sftSteps(events).map((s) => s.step)).toEqual([1, 2, 3]);

    await expect(lab2.restartRun('nothing')).rejects.toThrow(/no such run/);
    // A restart whose settings no longer check out clears nothing.
    await ws.write('runs/early/run.json', new TextEncoder().encode(JSON.stringify({ ...info, config: { ...info.config, lr: -1 } })));
    const before = await ws.list();
    await expect(lab2.restartRun('early')).rejects.toThrow(/lr must be >= 0/);
    expect(await ws.list()).toEqual(before);
  }, 120_000);

  it('stopRun("pause") ends the run paused with a checkpoint at the step it stopped', async () => {
    const info = await lab.startRun({ name: 'paused', kind: 'sft', config: sftConfig(4) }, (e) => {
      if (e.type === 'sft-step' && e.metrics.step === 1) void lab.stopRun('pause');
    });
    expect(info).toMatchObject({ status: 'paused', step: 1, totalSteps: 4, checkpoints: [1] });
    const st = await readRunState(subWorkspace(ws, 'runs/paused/checkpoint-1'), '', 'sft');
    expect([st.step, st.reason]).toEqual([1, 'interrupted']);
    expect((await lab.listRuns()).find((r) => r.name === 'paused')?.status).toBe('paused');
    await expect(lab.stopRun('stop')).rejects.toThrow(/no run is running/);
  }, 120_000);

  it('GRPO from that SFT checkpoint: groups of G in its events and in rollouts; one GPU job at a time', async () => {
    const events: RunEvent[] = [];
    let busy: Promise<Error | null> | null = null,
      del: Promise<Error | null> | null = null;
    const info = await lab.startRun({ name: 'grpo', kind: 'grpo', config: grpoConfig('runs/paused/checkpoint-1') }, (e) => {
      events.push(e);
      if (e.type === 'grpo-step' && !busy) {
        busy = errorOf(lab.startRun({ name: 'other', kind: 'sft', config: sftConfig(1) }));
        del = errorOf(lab.deleteRun('grpo'));
      }
    });
    expect(info).toMatchObject({ kind: 'grpo', status: 'completed', step: 2, totalSteps: 2, checkpoints: [2] });
    const steps = events.flatMap((e) => (e.type === 'grpo-step' ? [{ metrics: e.metrics as GrpoStepMetrics, groups: e.groups as GroupRecord[] }] : []));
    expect(steps.map((s) => s.metrics.step)).toEqual([1, 2]);
    const before = events
      .slice(
        0,
        events.findIndex((e) => e.type === 'grpo-step'),
      )
      .flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
    expect(before.slice(-2).map((p) => p.phase)).toEqual([
      'starting the GPU and the models',
      'step 1: 2 x 2 responses (the first step compiles the GPU kernels)',
    ]);
    for (const s of steps) {
      expect(s.groups).toHaveLength(2);
      for (const g of s.groups) {
        expect(g.step).toBe(s.metrics.step);
        expect(g.responses).toHaveLength(2);
        expect(g.prompt).toContain('You will solve a problem/request.');
      }
    }
    expect(await lab.rolloutSteps('grpo')).toEqual([1, 2]);
    expect(await lab.rollouts('grpo', 1)).toEqual(steps[0].groups);
    expect(await lab.rollouts('grpo', 2)).toEqual(steps[1].groups);
    expect((await lab.runMetrics('grpo')).filter((r) => r.type === 'step').map((r) => r.reward_mean)).toEqual(steps.map((s) => s.metrics.reward_mean));

    const b = await busy!,
      d = await del!;
    expect(b).toBeInstanceOf(InputError);
    expect(b!.message).toMatch(/busy with run grpo/);
    expect(d).toBeInstanceOf(InputError);
    expect(d!.message).toMatch(/is running/);
    expect(await ws.listDir('runs/other')).toEqual([]);
    expect((await ws.listDir('runs/grpo')).length).toBeGreaterThan(0);
  }, 120_000);

  it('bad input is refused before the GPU is asked for; deleteRun removes a run', async () => {
    let asked = 0;
    const strict = createLab(ws, async () => {
      asked++;
      throw new Error('the GPU was asked for');
    });
    const bad = async (p: Promise<unknown>, re: RegExp) => {
      const e = await errorOf(p);
      expect(e, String(re)).toBeInstanceOf(InputError);
      expect(e!.message).toMatch(re);
    };
    await bad(strict.startRun({ name: 'bad', kind: 'sft', config: { ...sftConfig(2), bogus: 1 } as never }), /unknown key "bogus"/);
    await bad(strict.startRun({ name: 'bad', kind: 'sft', config: { ...sftConfig(2), lr: -1 } }), /lr must be >= 0/);
    await bad(strict.startRun({ name: 'bad name', kind: 'sft', config: sftConfig(2) }), /run name/);
    await bad(strict.startRun({ name: '..', kind: 'sft', config: sftConfig(2) }), /run name/);
    await bad(strict.startRun({ name: 'bad', kind: 'grpo', config: grpoConfig('models/none') }), /no config\.json/);
    await bad(strict.startRun({ name: 'bad', kind: 'grpo', config: grpoConfig('/etc') }), /not a folder of the workspace/);
    await bad(strict.resumeRun('straight'), /already did 3 of 3 steps/);
    await bad(strict.resumeRun('nothing'), /no such run/);
    expect(asked).toBe(0);
    expect(await ws.listDir('runs/bad')).toEqual([]);

    await lab.deleteRun('straight');
    expect((await lab.listRuns()).map((r) => r.name).sort()).toEqual(['early', 'grpo', 'killed', 'paused']);
    expect((await ws.list()).some((p) => p.startsWith('runs/straight/'))).toBe(false);
    await bad(lab.deleteRun('straight'), /no such run/);
  }, 60_000);
});
