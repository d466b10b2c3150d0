// The stores against an in-process fake engine: what the pages rely on (alerts instead of thrown
// errors, one job at a time, live run events becoming chart rows and run states, no WebGPU ->
// no worker) without a browser.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EngineApi, RunEvent, RunInfo } from '../../src/lab/api';
import type { GroupRecord } from '../../src/recipe/grpo';
import { setEngine } from '../../src/app/engine-client';
import { useJobs, selectBusy } from '../../src/app/stores/jobs';
import { useSession } from '../../src/app/stores/session';
import { useRuns } from '../../src/app/stores/runs';
import { useRollouts } from '../../src/app/stores/rollouts';
import { useData } from '../../src/app/stores/data';
import { useEval } from '../../src/app/stores/evaluate';
import { useAsk } from '../../src/app/stores/ask';
import { newestCheckpoints, useModels, pickCurrent } from '../../src/app/stores/models';

const run = (over: Partial<RunInfo> = {}): RunInfo => ({
  name: 'sft-1',
  kind: 'sft',
  status: 'completed',
  step: 3,
  totalSteps: 3,
  checkpoints: [3],
  config: {} as RunInfo['config'],
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:01:00Z',
  ...over,
});

/** A fake engine: every call not given here rejects, as an unbuilt worker call would. */
function fake(calls: Partial<EngineApi>): EngineApi {
  return new Proxy(calls as EngineApi, {
    get: (t, k: string) =>
      k in t
        ? (t as unknown as Record<string, unknown>)[k]
        : async () => {
            throw new Error(`fake engine: no ${k}`);
          },
  });
}

const tick = () => new Promise((r) => setTimeout(r, 0));

beforeEach(() => {
  useJobs.setState({ job: null, engineBusy: null, alerts: [] });
  useRuns.setState({ runs: [], loaded: false, selected: null, rows: {}, rowsError: null, live: null, log: [] });
  useSession.setState({ status: 'idle', info: null, problem: null, storage: null });
});
afterEach(() => setEngine(null));

describe('jobs', () => {
  it('turn a rejection into an alert and free the slot', async () => {
    setEngine(fake({ busy: async () => null }));
    const out = await useJobs.getState().run({ kind: 'evaluate', label: 'eval' }, async () => {
      throw new Error('models/x: no model here');
    });
    expect(out).toBeUndefined();
    expect(useJobs.getState().job).toBeNull();
    expect(useJobs.getState().alerts.map((a) => [a.level, a.message])).toEqual([['error', 'models/x: no model here']]);
  });

  it('refuse a second job while one runs, and report progress with time left', async () => {
    setEngine(fake({ busy: async () => null }));
    let release!: () => void;
    let report!: (p: { phase: string; done: number; total: number; etaSeconds?: number }) => void;
    const first = useJobs.getState().run({ kind: 'curate', label: 'curation' }, (r) => {
      report = r;
      return new Promise<number>((res) => {
        release = () => res(7);
      });
    });
    expect(selectBusy(useJobs.getState())).toBe(true);
    report({ phase: 'sampling', done: 2, total: 8, etaSeconds: 30 });
    expect(useJobs.getState().job?.progress).toMatchObject({ done: 2, total: 8, secondsLeft: 30 });
    const second = await useJobs.getState().run({ kind: 'ask', label: 'ask' }, async () => 1);
    expect(second).toBeUndefined();
    expect(useJobs.getState().alerts[0].message).toMatch(/curation/);
    release();
    expect(await first).toBe(7);
    expect(useJobs.getState().job).toBeNull();
  });

  it('cancel through the job and call a cancelled job an info, not an error', async () => {
    let reject!: (e: Error) => void;
    const cancel = vi.fn(async () => reject(new Error('evaluation was cancelled')));
    setEngine(fake({ busy: async () => null }));
    const p = useJobs.getState().run(
      { kind: 'evaluate', label: 'Evaluating', cancel },
      () =>
        new Promise((_, rej) => {
          reject = rej;
        }),
    );
    expect(useJobs.getState().job?.cancelLabel).toBe('Cancel');
    await useJobs.getState().cancel();
    await p;
    expect(cancel).toHaveBeenCalledOnce();
    // The outcome belongs to the Evaluate page, whichever page is shown when it comes.
    expect(useJobs.getState().alerts).toMatchObject([{ level: 'info', message: 'Evaluating: cancelled.', page: 'evaluate' }]);
  });
});

describe('session', () => {
  it('without navigator.gpu shows the explanation and never starts the engine', async () => {
    const init = vi.fn(async () => ({ vendor: '', architecture: '', description: '', cpu: false, features: [], limits: {} }));
    setEngine(fake({ init }));
    await useSession.getState().start({});
    expect(useSession.getState().status).toBe('unavailable');
    expect(useSession.getState().problem).toMatch(/navigator\.gpu/);
    expect(init).not.toHaveBeenCalled();
  });

  it("shows init's rejection (no adapter) the same way", async () => {
    setEngine(
      fake({
        init: async () => {
          throw new Error('NoWebGPUError: requestAdapter() returned null');
        },
      }),
    );
    await useSession.getState().start({ gpu: {} });
    expect(useSession.getState()).toMatchObject({ status: 'unavailable', problem: 'NoWebGPUError: requestAdapter() returned null' });
  });

  it('is ready with the adapter and the storage figures', async () => {
    const info = { vendor: 'google', architecture: 'swiftshader', description: '', cpu: true, features: ['subgroups'], limits: { maxBufferSize: 1 } };
    setEngine(fake({ init: async () => info, storage: async () => ({ usage: 10, quota: 100 }) }));
    await useSession.getState().start({ gpu: {} });
    await tick();
    expect(useSession.getState()).toMatchObject({ status: 'ready', info, storage: { usage: 10, quota: 100 } });
  });
});

describe('runs', () => {
  it('stream a run into chart rows, progress and its final state', async () => {
    const final = run({ name: 'sft-9', step: 3, totalSteps: 3, checkpoints: [2, 3] });
    let onDisk = run({ name: 'sft-9', status: 'running', step: 0, totalSteps: 3, checkpoints: [] });
    const seen: number[] = [];
    const left: (number | undefined)[] = [];
    // listRuns answers late, as a worker busy with the run would: after the run's end when it is last.
    const late = <T>(v: T) => new Promise<T>((res) => setTimeout(() => res(v), 5));
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        storage: async () => ({ usage: 0, quota: 0 }),
        listRuns: () => late([onDisk]),
        async startRun(_req, onEvent) {
          const emit = (e: RunEvent) => onEvent?.(e);
          emit({ type: 'progress', progress: { phase: 'training the tokenizer', done: 1, total: 2 } });
          emit({ type: 'eval', step: 0, items: 2, formatRate: 0, accuracy: 0.1, rewardMean: 0, finishedRate: 0, meanResponseTokens: 8 });
          for (let s = 1; s <= 3; s++) {
            emit({
              type: 'sft-step',
              totalSteps: 3,
              metrics: { step: s, epoch: s / 3, loss: 4 - s, lr: 1e-3, gradNorm: 1, examples: 8, targetTokens: 10, tokens: 20, tokensPerSecond: 5, seconds: 1 },
            });
            await new Promise((r) => setTimeout(r, 10));
            seen.push(useJobs.getState().job?.progress?.done ?? -1);
            left.push(useJobs.getState().job?.progress?.secondsLeft);
            if (s === 2) emit({ type: 'checkpoint', step: 2, reason: 'periodic' });
          }
          emit({ type: 'eval', step: 3, items: 2, formatRate: 0.9, accuracy: 0.6, rewardMean: 0.5, finishedRate: 1, meanResponseTokens: 6, evalLoss: 1.1 });
          emit({ type: 'end', run: final });
          onDisk = final;
          return final;
        },
      }),
    );
    const info = await useRuns.getState().start({ name: 'sft-9', kind: 'sft', config: {} as never });
    await new Promise((r) => setTimeout(r, 20));
    expect(info).toEqual(final);
    const s = useRuns.getState();
    expect(s.live).toBeNull();
    expect(s.selected).toBe('sft-9');
    expect(s.rows['sft-9'].map((r) => [r.type, r.step])).toEqual([
      ['eval', 0],
      ['step', 1],
      ['step', 2],
      ['step', 3],
      ['eval', 3],
    ]);
    expect(s.rows['sft-9'].find((r) => r.type === 'eval' && r.step === 3)).toMatchObject({ accuracy: 0.6, eval_loss: 1.1 });
    // From the first step on, though the run list has not caught up: counts and time left (1 s a step).
    expect(seen).toEqual([1, 2, 3]);
    expect(left).toEqual([2, 1, 0]);
    expect(s.runs.find((r) => r.name === 'sft-9')).toMatchObject({ status: 'completed', checkpoints: [2, 3] });
    expect(useJobs.getState().job).toBeNull();
  });

  it('show a failed run as an alert and keep its state', async () => {
    const failed = run({ name: 'g', kind: 'grpo', status: 'failed', error: 'GPU device lost (unknown): gone', checkpoints: [5] });
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        listRuns: async () => [failed],
        storage: async () => ({ usage: 0, quota: 0 }),
        startRun: async () => failed,
      }),
    );
    await useRuns.getState().start({ name: 'g', kind: 'grpo', config: {} as never });
    expect(useJobs.getState().alerts[0]).toMatchObject({ message: expect.stringMatching(/Run g failed: GPU device lost/), page: 'train' });
    expect(useRuns.getState().runs[0].status).toBe('failed');
  });

  it('after a reload, select an interrupted run and load its charts from runMetrics', async () => {
    const runMetrics = vi.fn(async () => [
      { type: 'step', step: 1, loss: 3 },
      { type: 'step', step: 2, loss: 2 },
      { type: 'eval', step: 2, accuracy: 0.4 },
    ]);
    setEngine(fake({ listRuns: async () => [run({ name: 'old' }), run({ name: 'cut', status: 'interrupted', checkpoints: [2] })], runMetrics }));
    await useRuns.getState().refresh();
    await tick();
    expect(useRuns.getState().selected).toBe('cut');
    expect(runMetrics).toHaveBeenCalledWith('cut');
    expect(useRuns.getState().rows.cut).toHaveLength(3);
  });

  it('restart a run cut off before its first checkpoint: it cannot resume, and its charts start over', async () => {
    const cut = run({ name: 'early', status: 'interrupted', step: 2, checkpoints: [] });
    const oldRows = [
      { type: 'step', step: 1, loss: 3 },
      { type: 'step', step: 2, loss: 2 },
    ];
    let onDisk: RunInfo[] = [cut];
    let rowsOnDisk: Record<string, unknown>[] = oldRows;
    const restartRun = vi.fn(async (_name: string, onEvent?: (e: RunEvent) => void) => {
      // The old attempt's rows are gone from the page before the first new step arrives.
      expect(useRuns.getState().rows.early).toEqual([]);
      onEvent?.({
        type: 'sft-step',
        totalSteps: 3,
        metrics: { step: 1, epoch: 0.1, loss: 5, lr: 1e-3, gradNorm: 1, examples: 2, targetTokens: 4, tokens: 8, tokensPerSecond: 1, seconds: 1 },
      });
      const done = run({ name: 'early', status: 'completed', step: 3, checkpoints: [3] });
      onDisk = [done];
      rowsOnDisk = [
        { type: 'step', step: 1, loss: 5 },
        { type: 'step', step: 2, loss: 4 },
        { type: 'step', step: 3, loss: 3 },
      ];
      return done;
    });
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        storage: async () => ({ usage: 0, quota: 0 }),
        listRuns: async () => onDisk,
        runMetrics: async () => rowsOnDisk,
        restartRun,
      }),
    );
    await useRuns.getState().refresh();
    await tick();
    expect(useRuns.getState().rows.early).toHaveLength(2);
    const info = await useRuns.getState().restart('early');
    expect(restartRun).toHaveBeenCalledWith('early', expect.any(Function));
    expect(info?.status).toBe('completed');
    await tick();
    expect(useRuns.getState().rows.early.map((r) => [r.step, r.loss])).toEqual([
      [1, 5],
      [2, 4],
      [3, 3],
    ]);
    expect(useJobs.getState().alerts).toEqual([]);
  });

  it('follow a run another tab is running: its charts grow, and the last rows come once it ends there', async () => {
    let status: RunInfo['status'] = 'running-elsewhere';
    let steps = 1;
    setEngine(
      fake({
        listRuns: async () => [run({ name: 'there', status, step: steps, checkpoints: [steps] })],
        runMetrics: async () => Array.from({ length: steps }, (_, i) => ({ type: 'step', step: i + 1, loss: 1 })),
      }),
    );
    await useRuns.getState().refresh();
    await tick();
    expect(useRuns.getState().rows.there).toHaveLength(1);
    steps = 2;
    await useRuns.getState().followElsewhere();
    expect(useRuns.getState().rows.there).toHaveLength(2);
    steps = 3;
    status = 'paused';
    await useRuns.getState().followElsewhere();
    expect(useRuns.getState().runs[0].status).toBe('paused');
    expect(useRuns.getState().rows.there).toHaveLength(3);
  });

  it('pause asks the engine for a pause, stop cancels through the job', async () => {
    const stopRun = vi.fn(async () => {});
    let end!: () => void;
    let onDisk: RunInfo[] = [];
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        listRuns: async () => onDisk,
        storage: async () => ({ usage: 0, quota: 0 }),
        stopRun,
        startRun: () =>
          new Promise<RunInfo>((res) => {
            end = () => res((onDisk = [run({ status: 'paused' })])[0]);
          }),
      }),
    );
    const p = useRuns.getState().start({ name: 'sft-1', kind: 'sft', config: {} as never });
    await tick();
    await useRuns.getState().stop('pause');
    expect(stopRun).toHaveBeenLastCalledWith('pause');
    expect(useJobs.getState().job?.cancelling).toBe(true);
    end();
    await p;
    await tick();
    expect(useRuns.getState().runs[0].status).toBe('paused');
  });
});

describe('stopping', () => {
  it('Stop ends the run through the job with a stop request', async () => {
    const stopRun = vi.fn(async () => {});
    let end!: () => void;
    setEngine(
      fake({
        busy: async () => null,
        listModels: async () => [],
        listRuns: async () => [],
        storage: async () => ({ usage: 0, quota: 0 }),
        stopRun,
        startRun: () =>
          new Promise<RunInfo>((res) => {
            end = () => res(run({ status: 'stopped' }));
          }),
      }),
    );
    const p = useRuns.getState().start({ name: 'sft-1', kind: 'sft', config: {} as never });
    await tick();
    expect(useJobs.getState().job?.cancelLabel).toBe('Stop');
    await useRuns.getState().stop('stop');
    expect(stopRun).toHaveBeenCalledWith('stop');
    end();
    expect((await p)?.status).toBe('stopped');
    // A stopped run is not an error.
    expect(useJobs.getState().alerts).toEqual([]);
  });
});

describe('rollouts', () => {
  const groups = (step: number): GroupRecord[] => [
    { step, item: { dataset: 'd', index: 0, hash: 'h', answer_label: 'A' }, prompt: 'p', kept: true, reward_mean: 0.5, reward_std: 0.5, responses: [] },
  ];

  it('open a run at its last logged step, step through it, and follow live steps', async () => {
    const rollouts = vi.fn(async (_: string, step: number) => groups(step));
    setEngine(fake({ rolloutSteps: async () => [1, 2, 3], rollouts }));
    await useRollouts.getState().open('g1');
    expect(useRollouts.getState()).toMatchObject({ steps: [1, 2, 3], step: 3 });
    await useRollouts.getState().setStep(2);
    expect(useRollouts.getState().groups[0].step).toBe(2);
    useRollouts.getState().addLive('g1', 4, groups(4));
    await tick();
    // Not following (step 2 was picked): the new step is listed but not opened.
    expect(useRollouts.getState()).toMatchObject({ steps: [1, 2, 3, 4], step: 2 });
    await useRollouts.getState().setStep(4);
    useRollouts.getState().addLive('g1', 5, groups(5));
    await tick();
    expect(useRollouts.getState().step).toBe(5);
    expect(rollouts).not.toHaveBeenCalledWith('g1', 5);
    useRollouts.getState().addLive('other', 9, groups(9));
    expect(useRollouts.getState().steps).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('synth settings across a reload', () => {
  const store = new Map<string, string>();
  const fakeStorage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
  const fresh = async () => {
    vi.resetModules();
    return (await import('../../src/app/stores/data')).useData;
  };
  beforeEach(() => {
    store.clear();
    vi.stubGlobal('localStorage', fakeStorage);
  });
  afterEach(() => vi.unstubAllGlobals());

  it('come back after a reload, with what was handed to the Train page', async () => {
    let data = await fresh();
    expect(data.getState().forRuns).toBeNull();
    data.getState().setSynth({ kind: 'image', n: 16, templates: ['effusion_presence'] });
    data.getState().sendToRuns(data.getState().synth);
    data = await fresh();
    expect(data.getState().synth).toMatchObject({ kind: 'image', n: 16, templates: ['effusion_presence'] });
    expect(data.getState().forRuns?.synth).toMatchObject({ kind: 'image', n: 16 });
  });

  it('fall back to the defaults when what is stored is not usable', async () => {
    store.set('thinker-lab.data', JSON.stringify({ synth: { kind: 'nope', n: -1 }, forRuns: { synth: { n: 1 }, at: 'x' } }));
    let data = await fresh();
    expect(data.getState().synth.kind).toBe('mixed');
    expect(data.getState().forRuns).toBeNull();
    store.set('thinker-lab.data', '{not json');
    data = await fresh();
    expect(data.getState().synth.n).toBe(200);
  });
});

describe('data, evaluation, asking, models', () => {
  it('show only the newest preview when replies come out of order', async () => {
    const resolvers: ((v: { total: number; items: [] }) => void)[] = [];
    setEngine(fake({ previewItems: () => new Promise((res) => resolvers.push(res)) }));
    const a = useData.getState().show({ kind: 'dataset', name: 'a' });
    const b = useData.getState().show({ kind: 'dataset', name: 'b' });
    resolvers[1]({ total: 2, items: [] });
    await b;
    resolvers[0]({ total: 1, items: [] });
    await a;
    expect(useData.getState().preview).toMatchObject({ ref: { name: 'b' }, total: 2, loading: false });
  });

  it('check synth options before asking the engine', () => {
    useData.getState().setSynth({ imageSize: 500 });
    expect(useData.getState().synthError).toMatch(/imageSize/);
    useData.getState().setSynth({ imageSize: 32, templates: [] });
    expect(useData.getState().synthError).toBeNull();
    expect(useData.getState().synth.templates).toBeUndefined();
  });

  it('collect evaluation records as they are graded', async () => {
    setEngine(
      fake({
        busy: async () => null,
        async evaluate(_req, onProgress, onRecord) {
          onProgress?.({ phase: 'answering', done: 1, total: 1 });
          onRecord?.({ benchmark: 'b', correct: true } as never);
          expect(useEval.getState().records).toHaveLength(1);
          return { benchmarks: [], average: { accuracy: 1, items: 1 }, records: [] };
        },
      }),
    );
    await useEval.getState().run({ model: 'models/m', benchmarks: [], limit: 1, maxNewTokens: 8 });
    expect(useEval.getState().reply?.average.accuracy).toBe(1);
    expect(useEval.getState().records).toHaveLength(1);
  });

  it('drop records and tokens that arrive after their reply (callbacks travel on their own port)', async () => {
    let late: (() => void) | null = null;
    const rec = (i: number) => ({ benchmark: 'b', correct: true, hash: String(i) }) as never;
    setEngine(
      fake({
        busy: async () => null,
        async evaluate(_req, _onProgress, onRecord) {
          onRecord?.(rec(0));
          late = () => {
            onRecord?.(rec(1));
            onRecord?.(rec(2));
          };
          return { benchmarks: [], average: { accuracy: 1, items: 3 }, records: [rec(0), rec(1), rec(2)] };
        },
      }),
    );
    await useEval.getState().run({ model: 'models/m', benchmarks: [], limit: 3, maxNewTokens: 8 });
    late!();
    expect(useEval.getState().records).toHaveLength(3);

    let lateToken: (() => void) | null = null;
    setEngine(
      fake({
        busy: async () => null,
        async ask(_req, onToken) {
          onToken?.('<think>');
          lateToken = () => onToken?.('<think>x');
          return { text: '<think>x</think><answer>A</answer>', tokens: 9 };
        },
      }),
    );
    useAsk.getState().setForm({ question: 'Q?', optionsText: '' });
    await useAsk.getState().ask('models/m');
    lateToken!();
    expect(useAsk.getState().text).toBe('<think>x</think><answer>A</answer>');
  });

  it('stream an answer token by token', async () => {
    const seen: string[] = [];
    setEngine(
      fake({
        busy: async () => null,
        async ask(req, onToken) {
          expect(req).toMatchObject({ question: 'Q?', options: { A: 'Yes', B: 'No' }, recipePrompt: true });
          for (const t of ['<think>', '<think>x</think>', '<think>x</think><answer>A</answer>']) {
            onToken?.(t);
            seen.push(useAsk.getState().text);
          }
          return { text: '<think>x</think><answer>A</answer>', tokens: 9, format: true, letter: 'A' };
        },
      }),
    );
    useAsk.getState().setForm({ question: 'Q?', optionsText: 'Yes\nNo' });
    await useAsk.getState().ask('models/m');
    expect(seen).toEqual(['<think>', '<think>x</think>', '<think>x</think><answer>A</answer>']);
    expect(useAsk.getState()).toMatchObject({ asking: false, reply: { letter: 'A' } });
  });

  it('keep the current model while it exists, else take the newest saved one', () => {
    const m = (path: string, ckpt = false) => ({ path, run: ckpt ? { name: 'r', kind: 'sft' as const, step: 1 } : undefined }) as never;
    expect(pickCurrent([m('models/a'), m('models/b')], 'models/a')).toBe('models/a');
    expect(pickCurrent([m('runs/r/checkpoint-1', true), m('models/b')], 'models/gone')).toBe('models/b');
    expect(pickCurrent([m('runs/r/checkpoint-1', true)], null)).toBe('runs/r/checkpoint-1');
    expect(pickCurrent([], 'x')).toBeNull();
    expect(useModels.getState().current).toBeNull();
  });

  it("order checkpoints by their run's last update, then by step, whatever order the engine lists them in", () => {
    const c = (runName: string, kind: 'sft' | 'grpo', step: number) =>
      ({ path: `runs/${runName}/checkpoint-${step}`, run: { name: runName, kind, step } }) as never;
    const models = [c('grpo-1', 'grpo', 2), c('sft-2', 'sft', 2), c('sft-2', 'sft', 10), c('sft-1', 'sft', 4), { path: 'models/x' } as never];
    const runs = [
      run({ name: 'sft-1', updatedAt: '2026-01-01T00:05:00Z' }),
      run({ name: 'sft-2', updatedAt: '2026-01-01T00:03:00Z' }),
      run({ name: 'grpo-1', updatedAt: '2026-01-01T00:09:00Z' }),
    ];
    expect(newestCheckpoints(models, runs, 'sft').map((m) => (m as { path: string }).path)).toEqual([
      'runs/sft-1/checkpoint-4',
      'runs/sft-2/checkpoint-10',
      'runs/sft-2/checkpoint-2',
    ]);
    expect(pickCurrent(models.slice(0, 4), null, runs)).toBe('runs/grpo-1/checkpoint-2');
  });

  it('follow the newest model until the user picks one', async () => {
    const c = (runName: string, step: number) => ({ path: `runs/${runName}/checkpoint-${step}`, run: { name: runName, kind: 'sft', step } });
    let listed = [c('sft-1', 1)];
    setEngine(fake({ listModels: async () => listed as never, listRuns: async () => [run({ name: 'sft-1' })] }));
    useModels.setState({ models: [], current: null, chosen: false });
    await useModels.getState().refresh();
    expect(useModels.getState().current).toBe('runs/sft-1/checkpoint-1');
    listed = [c('sft-1', 1), c('sft-1', 4)];
    await useModels.getState().refresh();
    expect(useModels.getState().current).toBe('runs/sft-1/checkpoint-4');
    useModels.getState().setCurrent('runs/sft-1/checkpoint-1');
    listed = [c('sft-1', 1), c('sft-1', 4), c('sft-1', 8)];
    await useModels.getState().refresh();
    expect(useModels.getState().current).toBe('runs/sft-1/checkpoint-1');
    expect(useJobs.getState().alerts).toEqual([]);
  });
});
