// Two tabs on one storage: two labs on one memory workspace, each with its own client of one lock
// registry (src/lab/locks.ts), as two tabs share navigator.locks. While tab A runs a run,
// imports a dataset or saves a model, tab B cannot resume, restart, delete or overwrite it, is
// told it runs in another tab, and changes nothing; B lists A's run as 'running-elsewhere', and
// as 'interrupted' once A's tab is closed (its locks freed with its job still hanging).
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors';
import type { FileSource } from '../../src/io/files';
import { MemoryWorkspace, subWorkspace, type Workspace } from '../../src/io/workspace';
import { generateSynth } from '../../src/data/synth';
import { recipeRow } from '../../src/data/loaders/recipe';
import { applyOverrides, sftConfigFrom } from '../../src/recipe/sft-config';
import { initWeights } from '../../src/model/model';
import type { RunEvent } from '../../src/recipe/run-events';
import { createLab } from '../../src/lab';
import { dataApi } from '../../src/lab/data';
import { LabLocks, LockRegistry } from '../../src/lab/locks';
import { modelsApi } from '../../src/lab/models';
import { writeModelFolder } from '../../src/io/hf-config';
import { testGpu } from '../helpers/gpu';
import { tinyConfig, tinyTokenizer } from '../eval/run-helpers';

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

/** A gate: once closed, every call through it waits (`reached` resolves at the first) until it opens again. */
function gate() {
  let closed = false;
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((r) => {
    reach = r;
  });
  let opened = Promise.resolve();
  return {
    reached,
    close() {
      closed = true;
      opened = new Promise<void>((r) => {
        open = r;
      });
    },
    open() {
      closed = false;
      open();
    },
    async pass() {
      if (closed) {
        reach();
        await opened;
      }
    },
  };
}

/** `inner` with `before(method, path)` awaited ahead of every call (it may hold the call, or throw instead of it). */
function interposed(inner: Workspace, before: (method: keyof Workspace, path: string) => Promise<void>): Workspace {
  const via =
    <A extends [string?, ...unknown[]], R>(method: keyof Workspace, f: (...a: A) => Promise<R>) =>
    async (...a: A) => {
      await before(method, a[0] ?? '');
      return f(...a);
    };
  return {
    name: inner.name,
    list: via('list', () => inner.list()),
    read: via('read', (p: string) => inner.read(p)),
    exists: via('exists', (p: string) => inner.exists(p)),
    write: via('write', (p: string, b: Uint8Array) => inner.write(p, b)),
    listDir: via('listDir', (d: string) => inner.listDir(d)),
    append: via('append', (p: string, t: string) => inner.append(p, t)),
    remove: via('remove', (p: string) => inner.remove(p)),
    size: via('size', (p: string) => inner.size(p)),
    writeFolder: via('writeFolder', (d: string, f: Record<string, Uint8Array | string>) => inner.writeFolder(d, f)),
    removeLeftovers: via('removeLeftovers', (d: string) => inner.removeLeftovers(d)),
  };
}

const gatedWorkspace = (inner: Workspace, g: ReturnType<typeof gate>) => interposed(inner, () => g.pass());

/** `inner`, whose reads of a run.json fail while `failing()` says so (as Chrome's do once another tab rewrote the file). */
const unreadableRunFile = (inner: Workspace, failing: () => boolean) =>
  interposed(inner, async (method, p) => {
    if (method === 'read' && p.endsWith('run.json') && failing()) throw new Error('NotReadableError: The requested file could not be read');
  });

function gatedSource(inner: FileSource, g: ReturnType<typeof gate>): FileSource {
  return {
    name: inner.name,
    list: async () => {
      await g.pass();
      return inner.list();
    },
    read: async (p) => {
      await g.pass();
      return inner.read(p);
    },
    exists: async (p) => {
      await g.pass();
      return inner.exists(p);
    },
  };
}

const refusal = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => null,
    (x: unknown) => x as Error,
  );
  expect(e).toBeInstanceOf(InputError);
  return e!.message;
};

/** Every file of the workspace with its bytes, to show that a refused call changed nothing. */
async function snapshot(ws: MemoryWorkspace): Promise<Map<string, string>> {
  return new Map([...ws.files].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
}

describe('the lock registry (the stand-in for navigator.locks)', () => {
  it('grants a free lock, refuses a held one, frees it when the job ends or its tab closes', async () => {
    const origin = new LockRegistry();
    const a = new LabLocks(origin.client());
    const tabB = origin.client();
    const b = new LabLocks(tabB);
    const g = gate();
    g.close();
    const job = a.hold('runs/r', 'run r', 'is running in another tab', () => g.pass().then(() => 'done'));
    await g.reached;
    expect(await a.heldElsewhere()).toEqual(new Set());
    expect(await b.heldElsewhere()).toEqual(new Set(['runs/r']));
    expect(await refusal(b.hold('runs/r', 'run r', 'is running in another tab', async () => 'never'))).toBe('run r: is running in another tab');
    // The same tab asking again is told it is its own job.
    expect(await refusal(a.hold('runs/r', 'run r', 'is running in another tab', async () => 'never'))).toMatch(/another job of this tab/);
    g.open();
    expect(await job).toBe('done');
    expect(await b.heldElsewhere()).toEqual(new Set());
    expect(await b.hold('runs/r', 'run r', 'x', async () => 'mine')).toBe('mine');

    // A closed tab's locks go at once, even while its job hangs.
    const g2 = gate();
    g2.close();
    void b.hold('datasets/d', 'd', 'x', () => g2.pass());
    await g2.reached;
    expect(await a.heldElsewhere()).toEqual(new Set(['datasets/d']));
    tabB.close();
    expect(await a.heldElsewhere()).toEqual(new Set());
    expect(await a.hold('datasets/d', 'd', 'x', async () => 'taken over')).toBe('taken over');
    await expect(b.hold('runs/other', 'other', 'is refused: that tab is closed', async () => 'never')).rejects.toThrow(/that tab is closed/);
  });
});

describe('two tabs, one storage', () => {
  it("tab B lists tab A's live run as running elsewhere and cannot resume, restart, delete or replace it; then it is B's to take", async () => {
    const ws = new MemoryWorkspace('tabs');
    const origin = new LockRegistry();
    const g = gate();
    const labA = createLab(gatedWorkspace(ws, g), testGpu, { locks: origin.client() });
    const labB = createLab(ws, testGpu, { locks: origin.client() });
    // Tab A stops at its first storage call after checkpoint-1, still holding the run.
    const run = labA.startRun({ name: 'r', kind: 'sft', config: sftConfig(3, ['checkpoint.every=1']) }, (e: RunEvent) => {
      if (e.type === 'checkpoint' && e.step === 1) g.close();
    });
    await g.reached;

    const seen = (await labB.listRuns()).find((x) => x.name === 'r');
    expect(seen).toMatchObject({ status: 'running-elsewhere', step: 1, checkpoints: [1] });
    const before = await snapshot(ws);
    const elsewhere = /^run r: is running in another tab/;
    expect(await refusal(labB.resumeRun('r'))).toMatch(elsewhere);
    expect(await refusal(labB.restartRun('r'))).toMatch(elsewhere);
    expect(await refusal(labB.deleteRun('r'))).toMatch(elsewhere);
    expect(await refusal(labB.startRun({ name: 'r', kind: 'sft', config: sftConfig(2) }))).toMatch(elsewhere);
    expect(await refusal(labB.deleteModel('runs/r/checkpoint-1'))).toMatch(/runs\/r\/checkpoint-1: belongs to run r, which is running in another tab/);
    expect(await snapshot(ws)).toEqual(before);
    // Reading is fine: B's charts follow A's run.
    expect((await labB.runMetrics('r')).filter((x) => x.type === 'step').map((x) => x.step)).toEqual([1]);

    g.open();
    expect(await run).toMatchObject({ status: 'completed', step: 3 });
    expect((await labB.listRuns()).find((x) => x.name === 'r')?.status).toBe('completed');
    expect((await labB.runMetrics('r')).filter((x) => x.type === 'step').map((x) => x.step)).toEqual([1, 2, 3]);
    await labB.deleteRun('r');
    expect(await ws.listDir('runs/r')).toEqual([]);
  }, 120_000);

  it("a run.json another tab is writing does not drop that tab's run from this tab's listing", async () => {
    const ws = new MemoryWorkspace('tabs-listing');
    const origin = new LockRegistry();
    const g = gate();
    const labA = createLab(gatedWorkspace(ws, g), testGpu, { locks: origin.client() });
    // How many of tab B's next reads of run.json fail.
    let unreadable = 0;
    const labB = createLab(
      unreadableRunFile(ws, () => unreadable-- > 0),
      testGpu,
      { locks: origin.client() },
    );
    const run = labA.startRun({ name: 'r', kind: 'sft', config: sftConfig(3, ['checkpoint.every=1']) }, (e: RunEvent) => {
      if (e.type === 'checkpoint' && e.step === 1) g.close();
    });
    await g.reached;
    const listed = async () => (await labB.listRuns()).find((x) => x.name === 'r');

    // Two reads fail as A writes: B reads it again (it has never read it before).
    unreadable = 2;
    expect(await listed()).toMatchObject({ status: 'running-elsewhere', step: 1, checkpoints: [1] });
    // Every read fails: B lists the run as it last read it.
    unreadable = Number.POSITIVE_INFINITY;
    expect(await listed()).toMatchObject({ status: 'running-elsewhere', step: 1, checkpoints: [1] });

    unreadable = 0;
    g.open();
    expect(await run).toMatchObject({ status: 'completed', step: 3 });
    // No other tab holds it now: an unreadable run.json is not a run, as before.
    unreadable = Number.POSITIVE_INFINITY;
    expect(await listed()).toBeUndefined();
    unreadable = 0;
    expect(await listed()).toMatchObject({ status: 'completed', step: 3 });
  }, 120_000);

  it('a dataset import and a model save hold their names: the other tab cannot import, save or delete there meanwhile', async () => {
    const ws = new MemoryWorkspace('tabs-data');
    const origin = new LockRegistry();
    const labA = createLab(ws, testGpu, { locks: origin.client() });
    const labB = createLab(ws, testGpu, { locks: origin.client() });

    const items = await generateSynth({ n: 3, kind: 'text', level: 1, seed: 2, split: 'train' });
    const picked = new MemoryWorkspace('picked', { 'train.jsonl': items.map((it) => JSON.stringify(recipeRow(it))).join('\n') + '\n' });
    const g = gate();
    g.close();
    const importing = dataApi(labA.context).importFrom({ name: 'ds', loader: 'recipe' }, gatedSource(picked, g));
    await g.reached;
    const busy = /^datasets\/ds: is being written by another tab or job/;
    expect(await refusal(dataApi(labB.context).importFrom({ name: 'ds', loader: 'recipe' }, picked))).toMatch(busy);
    expect(await refusal(labB.deleteDataset('ds'))).toMatch(busy);
    g.open();
    expect((await importing).splits).toEqual([{ name: 'train', items: 3, withImages: 0 }]);
    // Once it is written, the name is taken the ordinary way.
    expect(await refusal(dataApi(labB.context).importFrom({ name: 'ds', loader: 'recipe' }, picked))).toMatch(/a dataset of this name exists/);

    const { bpe, tok } = tinyTokenizer();
    const cfg = tinyConfig(tok);
    const store = new MemoryWorkspace('picked-model');
    await writeModelFolder(store, 'm', cfg, initWeights(cfg, 1), {
      'tokenizer.json': JSON.stringify(bpe.tokenizerJson),
      'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig),
    });
    const g2 = gate();
    g2.close();
    const saving = modelsApi(labA.context).importModelFrom('m', gatedSource(subWorkspace(store, 'm'), g2));
    await g2.reached;
    expect(await refusal(modelsApi(labB.context).importModelFrom('m', subWorkspace(store, 'm')))).toMatch(/^models\/m: is being saved by another tab/);
    g2.open();
    expect((await saving).path).toBe('models/m');
    expect(await refusal(labB.saveModel('models/m', 'm'))).toMatch(/cannot be saved over itself/);
    await labB.deleteModel('models/m');
    expect((await labB.listModels()).map((m) => m.path)).toEqual([]);
  }, 60_000);
});
