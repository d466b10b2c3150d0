// Stopping and resuming SFT: a run stopped after step 2 (AbortSignal, or a real Ctrl-C to the CLI
// process) leaves an 'interrupted' checkpoint, and resuming it continues the step count, the
// schedule and the data order so exactly that its weights match an uninterrupted run's. Bad
// resumes and bad configs fail with an InputError before the GPU is touched.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Gpu } from '../../src/engine/gpu';
import { InputError } from '../../src/engine/errors';
import { readSafetensors } from '../../src/io/safetensors';
import { runSftCommand, type SftCliOptions, type SftSummary } from '../../src/cli/commands/sft';
import { MetricsLog, readRunState, findCheckpoint } from '../../src/recipe/run-io';
import { nodeWorkspace } from '../../src/io/workspace';
import { testGpu } from '../helpers/gpu';
import { compareItems, handMade } from './compare-items';

const root = path.resolve(__dirname, '../..');

const MICRO = ['model.hiddenSize=32', 'model.numHeads=2', 'model.numKvHeads=1', 'model.intermediateSize=64', 'model.context=128', 'maxLength=128'];
const RUN = [...MICRO, 'batchSize=2', 'data.synth.n=40', 'eval.items=0', 'checkpoint.every=0', 'lr=1e-2'];

/** A device that fails the test the moment anything uses it. */
const noGpu = new Proxy(
  {},
  {
    get: (_t, k) => {
      throw new Error(`the GPU was touched (${String(k)}) before the input was checked`);
    },
  },
) as Gpu;

async function rejects(p: Promise<unknown>, ...patterns: RegExp[]) {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  for (const re of patterns) expect((err as Error).message).toMatch(re);
}

async function weights(dir: string) {
  return readSafetensors(new Uint8Array(await readFile(path.join(dir, 'model.safetensors'))), dir);
}

async function maxDiff(a: string, b: string): Promise<number> {
  const wa = await weights(a),
    wb = await weights(b);
  let d = 0;
  for (const [name, t] of wa) {
    const u = wb.get(name)!;
    for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs(t.data[i] - u.data[i]));
  }
  return d;
}

const dir = mkdtempSync(path.join(tmpdir(), 'thinker-sft-resume-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SFT stop and resume', () => {
  const A = path.join(dir, 'straight'),
    B = path.join(dir, 'stopped'),
    C = path.join(dir, 'no-moments');
  let straight: SftSummary;
  const run = (o: SftCliOptions, deps: { gpu: Gpu; signal?: AbortSignal; log?: (l: string) => void }) =>
    runSftCommand(o, { generateSynth: handMade, handleSignals: false, log: () => {}, ...deps }) as Promise<SftSummary>;

  beforeAll(async () => {
    straight = await run({ config: 'synth-micro', out: A, steps: '4', seed: '3', set: RUN }, { gpu: await testGpu() });
  }, 600_000);

  it('an aborted run saves an interrupted checkpoint; resuming it reproduces the uninterrupted run', async () => {
    const gpu = await testGpu();
    const stop = new AbortController();
    const first = await run(
      { config: 'synth-micro', out: B, steps: '4', seed: '3', set: RUN },
      {
        gpu,
        signal: stop.signal,
        log: (l) => {
          if (l.startsWith('step 2/')) stop.abort();
        },
      },
    );
    expect(first.stopped).toBe('interrupted');
    expect(first.step).toBe(2);
    const ck2 = path.join(B, 'checkpoint-2');
    expect(first.checkpoint).toBe(ck2);
    const st = await readRunState(ck2, 'sft');
    expect([st.reason, st.step, st.totalSteps, st.position.epoch, st.position.index, st.optimizer]).toEqual(['interrupted', 2, 4, 0, 4, true]);
    expect(JSON.parse(readFileSync(path.join(B, 'summary.json'), 'utf8')).stopped).toBe('interrupted');
    expect(await findCheckpoint(nodeWorkspace(B))).toBe('checkpoint-2');
    cpSync(ck2, path.join(C, 'checkpoint-2'), { recursive: true });

    // --resume alone: the config comes from trainer_state.json, the run folder from the checkpoint.
    const resumed = await run({ resume: B }, { gpu });
    expect(resumed.stopped).toBe('completed');
    expect(resumed.step).toBe(4);
    expect(resumed.resumedFrom).toBe(ck2);
    expect(resumed.optimizerRestored).toBe(true);
    expect(resumed.checkpoint).toBe(path.join(B, 'checkpoint-4'));

    // One run's worth of metrics, steps 1-4 once each, with the straight run's losses.
    const rowsA = (await MetricsLog.read(path.join(A, 'metrics.jsonl'))).filter((r) => r.type === 'step');
    const rowsB = (await MetricsLog.read(path.join(B, 'metrics.jsonl'))).filter((r) => r.type === 'step');
    expect(rowsB.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    rowsB.forEach((r, i) => {
      expect(r.lr).toBe(rowsA[i].lr);
      expect(r.loss as number).toBeCloseTo(rowsA[i].loss as number, 5);
    });
    expect(await maxDiff(path.join(A, 'checkpoint-4'), path.join(B, 'checkpoint-4'))).toBeLessThan(1e-5);
    expect(straight.lastLoss).toBeCloseTo(resumed.lastLoss!, 5);

    // Without the saved AdamW moments the resumed run restarts them at zero and drifts from the
    // straight run: what the optimizer file buys.
    rmSync(path.join(C, 'checkpoint-2', 'optimizer.safetensors'));
    const fresh = await run({ resume: path.join(C, 'checkpoint-2') }, { gpu });
    expect(fresh.optimizerRestored).toBe(false);
    expect(fresh.step).toBe(4);
    expect(await maxDiff(path.join(A, 'checkpoint-4'), path.join(C, 'checkpoint-4'))).toBeGreaterThan(1e-4);
  }, 900_000);

  it('bad resumes and configs are InputErrors before any GPU work', async () => {
    const ck = path.join(A, 'checkpoint-4');
    await rejects(run({ resume: A }, { gpu: noGpu }), /already did 4 of 4 steps/);
    // Other data than the run was trained on.
    await rejects(run({ resume: ck, steps: '6', set: ['data.synth.n=41'] }, { gpu: noGpu }), /training items differ/);
    // A config describing another model than the checkpoint holds.
    const cfgFile = path.join(dir, 'wide.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({ extends: 'synth-micro', model: { hiddenSize: 48, numHeads: 4, numKvHeads: 2, intermediateSize: 64, context: 128 }, maxLength: 128 }),
    );
    await rejects(
      run({ config: cfgFile, resume: ck, steps: '6', set: ['batchSize=2', 'data.synth.n=40', 'eval.items=0'] }, { gpu: noGpu }),
      /checkpoint shape does not match the config/,
      /hiddenSize 32 \(checkpoint\) vs 48 \(config\)/,
    );
    // A plain model folder, and a damaged trainer state.
    const plain = path.join(dir, 'plain');
    cpSync(ck, plain, { recursive: true });
    rmSync(path.join(plain, 'trainer_state.json'));
    await rejects(run({ resume: plain }, { gpu: noGpu }), /without trainer_state\.json/);
    const damaged = path.join(dir, 'damaged');
    cpSync(ck, damaged, { recursive: true });
    const st = JSON.parse(readFileSync(path.join(damaged, 'trainer_state.json'), 'utf8'));
    writeFileSync(path.join(damaged, 'trainer_state.json'), JSON.stringify({ ...st, position: { epoch: 0, index: -3 } }));
    await rejects(run({ resume: damaged }, { gpu: noGpu }), /trainer_state\.json/, /position/);
    writeFileSync(path.join(damaged, 'trainer_state.json'), JSON.stringify({ ...st, kind: 'grpo' }));
    await rejects(run({ resume: damaged }, { gpu: noGpu }), /"grpo" run; it cannot be resumed by "sft"/);

    // Configs.
    await rejects(run({ config: 'synth-huge' }, { gpu: noGpu }), /neither a preset/);
    await rejects(run({ config: path.join(dir, 'missing.json') }, { gpu: noGpu }), /config file not found/);
    await rejects(run({ config: 'synth-micro', set: ['lr=-1'] }, { gpu: noGpu }), /lr must be >= 0/);
    await rejects(run({ config: 'synth-micro', steps: '0' }, { gpu: noGpu }), /--steps/);
    await rejects(run({}, { gpu: noGpu }), /--config/, /required/);
    await rejects(run({ config: 'synth-micro', set: [...MICRO, 'maxLength=512'] }, { gpu: noGpu }), /maxLength/, /context of 128/);
    // Items without traces: nothing to distil.
    await rejects(
      runSftCommand(
        { config: 'synth-micro', out: path.join(dir, 'x'), set: RUN },
        { gpu: noGpu, generateSynth: (o) => compareItems(o.n, 1, o.split, false), handleSignals: false, log: () => {} },
      ),
      /no usable items after filtering/,
      /40 without a reasoning trace/,
    );
    expect(existsSync(path.join(dir, 'x'))).toBe(false);
  }, 300_000);

  it('Ctrl-C to the CLI process stops after the current step with a checkpoint that resumes', async () => {
    // The command as a user runs it: bin/thinker.mjs in its own process.
    const cli = path.join(root, 'bin/thinker.mjs');
    const out = path.join(dir, 'cli-run');
    // The real synth curriculum, one short template; far more steps than will run.
    const args = [
      'sft',
      '--config',
      'synth-micro',
      '--out',
      out,
      '--steps',
      '50',
      '--seed',
      '2',
      ...[
        ...MICRO,
        'maxLength=160',
        'model.context=160',
        'batchSize=2',
        'data.synth.n=24',
        'data.synth.options={"templates":["dose_weight"]}',
        'eval.items=0',
      ].flatMap((s) => ['--set', s]),
    ];
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /step 1\/50/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(sent, stderr).toBe(true);
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/SIGINT: stopping after the current step/);
    const m = /interrupted at step (\d+)\/50; checkpoint saved in (\S+);/.exec(stderr);
    expect(m, stderr).not.toBeNull();
    const step = Number(m![1]);
    expect(step).toBeGreaterThanOrEqual(1);
    expect(step).toBeLessThan(50);
    const st = await readRunState(m![2], 'sft');
    expect([st.reason, st.step]).toEqual(['interrupted', step]);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'optimizer.safetensors']) expect(existsSync(path.join(m![2], f)), f).toBe(true);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8'));
    expect([summary.stopped, summary.step]).toEqual(['interrupted', step]);

    // It resumes in-process with the real synth items: one more step, counted on from the stop.
    const more = (await runSftCommand({ resume: out, steps: String(step + 1) }, { gpu: await testGpu(), handleSignals: false, log: () => {} })) as SftSummary;
    expect([more.stopped, more.step, more.resumedFrom]).toEqual(['completed', step + 1, m![2]]);
  }, 600_000);
});
