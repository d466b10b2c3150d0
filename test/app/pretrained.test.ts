// The pretrained-model stores against an in-process fake of the pretrained worker: the second job
// lane (a download never waits for training, nor training for a download), loads with per-file
// progress, failures as alerts, the cache view, and asking, evaluating and distilling through the
// pretrained worker with the same stores the lab models use.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineApi } from '../../src/lab/api';
import type { PretrainedApi, LoadProgress, CachedModel, LoadedModel } from '../../src/pretrained/api';
import type { EvalRecord } from '../../src/eval/run';
import { setEngine } from '../../src/app/engine-client';
import { setPretrained } from '../../src/pretrained/client';
import { selectBusy, selectPretrainedBusy, useJobs } from '../../src/app/stores/jobs';
import { loadLabel, loadProblem, usePretrained } from '../../src/app/stores/pretrained';
import { useAsk } from '../../src/app/stores/ask';
import { useEval } from '../../src/app/stores/evaluate';
import { catalogFor } from '../../src/pretrained/catalog';

/** A fake: every call not given here rejects, as an unbuilt worker call would. */
function fake<T extends object>(what: string, calls: Partial<T>): T {
  return new Proxy(calls as T, {
    get: (t, k: string) =>
      k in t
        ? (t as Record<string, unknown>)[k]
        : async () => {
            throw new Error(`fake ${what}: no ${k}`);
          },
  });
}

const tick = () => new Promise((r) => setTimeout(r, 0));

const TINY: LoadedModel = {
  id: 'lab/tiny',
  kind: 'text',
  modelType: 'llama',
  dtype: 'fp32',
  device: 'webgpu',
  files: ['config.json', 'onnx/model.onnx'],
  downloaded: 2,
  bytes: 3000,
  contextLength: 512,
};
const cachedTiny = (complete: boolean): CachedModel => ({
  id: 'lab/tiny',
  host: 'http://mirror/',
  bytes: 3000,
  complete,
  files: [
    { file: 'config.json', bytes: 1000 },
    { file: 'onnx/model.onnx', bytes: 2000 },
  ] as CachedModel['files'],
});

beforeEach(() => {
  useJobs.setState({ job: null, pretrainedJob: null, engineBusy: null, alerts: [] });
  usePretrained.setState({ adapter: null, catalog: [], cached: [], loaded: null, ready: false, files: [], backend: 'lab', distilled: null });
  setEngine(fake<EngineApi>('engine', { busy: async () => null }));
});
afterEach(() => {
  setEngine(null);
  setPretrained(null);
});

describe('job lanes', () => {
  it('a pretrained job and an engine job run side by side; each refuses a second of its own lane and cancels its own worker', async () => {
    const cancelled: string[] = [];
    let releaseEngine!: () => void;
    let releasePretrained!: () => void;
    const training = useJobs.getState().run(
      {
        kind: 'run',
        label: 'training',
        cancel: async () => {
          cancelled.push('engine');
        },
      },
      () =>
        new Promise<number>((r) => {
          releaseEngine = () => r(1);
        }),
    );
    const download = useJobs.getState().run(
      {
        kind: 'download',
        lane: 'pretrained',
        label: 'download',
        cancel: async () => {
          cancelled.push('pretrained');
        },
      },
      () =>
        new Promise<number>((r) => {
          releasePretrained = () => r(2);
        }),
    );
    expect(useJobs.getState().job?.label).toBe('training');
    expect(useJobs.getState().pretrainedJob?.label).toBe('download');
    expect(useJobs.getState().alerts).toEqual([]);
    expect(selectBusy(useJobs.getState())).toBe(true);
    expect(selectPretrainedBusy(useJobs.getState())).toBe(true);

    expect(await useJobs.getState().run({ kind: 'ask', lane: 'pretrained', label: 'ask' }, async () => 3)).toBeUndefined();
    expect(useJobs.getState().alerts.map((a) => a.message)).toEqual(['Wait for "download" to finish or stop it first.']);

    await useJobs.getState().cancel('pretrained');
    expect(cancelled).toEqual(['pretrained']);
    expect(useJobs.getState().pretrainedJob?.cancelling).toBe(true);
    expect(useJobs.getState().job?.cancelling).toBe(false);

    releasePretrained();
    expect(await download).toBe(2);
    expect(useJobs.getState().pretrainedJob).toBeNull();
    expect(useJobs.getState().job?.label).toBe('training');
    releaseEngine();
    expect(await training).toBe(1);
    expect(selectBusy(useJobs.getState())).toBe(false);
  });
});

describe('pretrained models', () => {
  it('list the catalog for this adapter, what is cached and the loaded model', async () => {
    const catalog = catalogFor([], { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 });
    setPretrained(
      fake<PretrainedApi>('pretrained', {
        adapter: async () => ({ webgpu: null, memoryBytes: 8e9, device: 'wasm' }),
        catalog: async () => catalog,
        cached: async () => [cachedTiny(true)],
        current: async () => null,
      }),
    );
    await usePretrained.getState().refresh();
    const s = usePretrained.getState();
    expect(s.ready).toBe(true);
    expect(s.catalog.map((c) => c.id)).toEqual(catalog.map((c) => c.id));
    // Without shader-f16 and with 1 GiB buffers: MedGemma's 1.3-2.7 GB embedding cannot fit, and the picker says so.
    const medgemma = s.catalog.find((c) => c.id.includes('medgemma'))!;
    expect(medgemma.choice).toBeNull();
    expect(medgemma.refusal).toMatch(/weight tensor of about .* GB, but this GPU allows buffers of at most 1\.1 GB/);
    expect(s.catalog.find((c) => c.id === 'HuggingFaceTB/SmolVLM-256M-Instruct')!.choice?.dtype).toBe('q4');
    expect(s.cached.map((c) => c.id)).toEqual(['lab/tiny']);
  });

  it('load with per-file progress on the pretrained lane, then switch the pages to the pretrained backend', async () => {
    const events: LoadProgress[] = [
      {
        phase: 'loading config.json',
        done: 500,
        total: 3000,
        files: [
          { file: 'config.json', loaded: 500, total: 1000, done: false },
          { file: 'onnx/model.onnx', loaded: 0, total: 2000, done: false },
        ],
      },
      {
        phase: 'loaded onnx/model.onnx',
        done: 3000,
        total: 3000,
        etaSeconds: 0,
        files: [
          { file: 'config.json', loaded: 1000, total: 1000, done: true },
          { file: 'onnx/model.onnx', loaded: 2000, total: 2000, done: true },
        ],
      },
    ];
    let release!: () => void;
    const seen: unknown[] = [];
    let loaded: LoadedModel | null = null;
    setPretrained(
      fake<PretrainedApi>('pretrained', {
        load: async (req, onProgress) => {
          seen.push(req);
          onProgress?.(events[0]);
          await new Promise<void>((r) => {
            release = r;
          });
          onProgress?.(events[1]);
          loaded = TINY;
          return TINY;
        },
        adapter: async () => ({ webgpu: null, memoryBytes: null, device: 'wasm' }),
        catalog: async () => [],
        cached: async () => (loaded ? [cachedTiny(true)] : []),
        current: async () => loaded,
      }),
    );
    const req = { model: 'lab/tiny', endpoint: 'http://mirror/' };
    const p = usePretrained.getState().load(req);
    await tick();
    const job = useJobs.getState().pretrainedJob!;
    expect(job).toMatchObject({ kind: 'download', label: 'Downloading lab/tiny from http://mirror/', cancelLabel: null });
    expect(job.progress).toMatchObject({ phase: 'loading config.json', done: 500, total: 3000 });
    expect(usePretrained.getState().files.map((f) => [f.file, f.loaded])).toEqual([
      ['config.json', 500],
      ['onnx/model.onnx', 0],
    ]);
    expect(useJobs.getState().job).toBeNull();
    release();
    expect(await p).toEqual(TINY);
    expect(seen).toEqual([req]);
    const s = usePretrained.getState();
    expect(s.loaded).toEqual(TINY);
    expect(s.backend).toBe('pretrained');
    expect(s.cached[0].complete).toBe(true);
    expect(useJobs.getState().pretrainedJob).toBeNull();
  });

  it('a failed load is an alert naming the model and file, frees the lane and keeps the lab backend', async () => {
    setPretrained(
      fake<PretrainedApi>('pretrained', {
        load: async () => {
          throw new Error('lab/missing: onnx/model.onnx not found on http://mirror/ (HTTP 404)');
        },
        adapter: async () => ({ webgpu: null, memoryBytes: null, device: 'wasm' }),
        catalog: async () => [],
        cached: async () => [],
        current: async () => null,
      }),
    );
    expect(await usePretrained.getState().load({ model: 'lab/missing', endpoint: 'http://mirror/' })).toBeUndefined();
    expect(useJobs.getState().alerts.map((a) => [a.level, a.message])).toEqual([
      ['error', 'lab/missing: onnx/model.onnx not found on http://mirror/ (HTTP 404)'],
    ]);
    expect(useJobs.getState().pretrainedJob).toBeNull();
    expect(usePretrained.getState()).toMatchObject({ loaded: null, backend: 'lab', cached: [] });
  });

  it('delete cached files, say how many went, and list again', async () => {
    let cached = [cachedTiny(true)];
    const deleted: string[] = [];
    setPretrained(
      fake<PretrainedApi>('pretrained', {
        deleteCached: async (id) => {
          deleted.push(id);
          const n = cached.find((c) => c.id === id)?.files.length ?? 0;
          cached = cached.filter((c) => c.id !== id);
          return n;
        },
        adapter: async () => ({ webgpu: null, memoryBytes: null, device: 'wasm' }),
        catalog: async () => [],
        cached: async () => cached,
        current: async () => null,
      }),
    );
    await usePretrained.getState().refresh();
    expect(usePretrained.getState().cached).toHaveLength(1);
    await usePretrained.getState().deleteCached('lab/tiny');
    expect(deleted).toEqual(['lab/tiny']);
    expect(usePretrained.getState().cached).toEqual([]);
    expect(useJobs.getState().alerts.map((a) => [a.level, a.message])).toEqual([['info', 'Removed 2 cached files of lab/tiny.']]);
  });

  it('check a typed model id and mirror before any request', () => {
    expect(loadProblem('', '')).toMatch(/type a model id/);
    expect(loadProblem('SmolVLM', '')).toBe('"SmolVLM" is not a hub model id (owner/name)');
    expect(loadProblem('a/b/c', '')).toMatch(/not a hub model id/);
    expect(loadProblem('HuggingFaceTB/SmolVLM-256M-Instruct', '')).toBeNull();
    expect(loadProblem('lab/tiny', 'mirror.local')).toBe('"mirror.local" is not a URL');
    expect(loadProblem('lab/tiny', 'ftp://mirror/')).toBe('the mirror must be an http(s) URL, got ftp:');
    expect(loadProblem('lab/tiny', 'http://127.0.0.1:8080/')).toBeNull();
    expect(loadLabel({ model: 'x/y', offline: true })).toBe('Loading x/y from the cache');
    expect(loadLabel({ model: 'my-model', folder: [] })).toBe('Loading my-model from a local folder');
  });
});

describe('the pages through the pretrained worker', () => {
  it('ask streams the answer on the pretrained lane while the engine lane stays free; Stop cancels the pretrained worker', async () => {
    const asked: unknown[] = [];
    let cancels = 0;
    let release!: () => void;
    setPretrained(
      fake<PretrainedApi>('pretrained', {
        ask: async (req, onToken) => {
          asked.push(req);
          onToken?.('<think> the liver');
          await new Promise<void>((r) => {
            release = r;
          });
          return { text: '<think> the liver is large </think>\n<answer> A </answer>', tokens: 12, finished: true, format: true, letter: 'A' };
        },
        cancel: async () => {
          cancels++;
        },
      }),
    );
    useAsk.setState({
      form: { question: 'Is the liver enlarged?', optionsText: 'A. Yes\nB. No', image: null, recipePrompt: true, maxNewTokens: 64, temperature: 0 },
      text: '',
      reply: null,
      asking: false,
    });
    const p = useAsk.getState().askPretrained('lab/tiny');
    await tick();
    expect(useAsk.getState()).toMatchObject({ text: '<think> the liver', asking: true });
    expect(useJobs.getState().pretrainedJob).toMatchObject({ kind: 'ask', label: 'Answering with lab/tiny', cancelLabel: 'Cancel' });
    expect(useJobs.getState().job).toBeNull();
    await useJobs.getState().cancel('pretrained');
    expect(cancels).toBe(1);
    release();
    await p;
    expect(asked).toEqual([
      { question: 'Is the liver enlarged?', options: { A: 'Yes', B: 'No' }, image: undefined, recipePrompt: true, maxNewTokens: 64, temperature: 0 },
    ]);
    expect(useAsk.getState()).toMatchObject({
      asking: false,
      text: '<think> the liver is large </think>\n<answer> A </answer>',
      reply: { letter: 'A', format: true },
    });
  });

  it('evaluate fills the same results table as a lab model, records first, under the model label', async () => {
    const record = (i: number, correct: boolean): EvalRecord => ({ benchmark: 'synth-text-L1', index: i, correct }) as unknown as EvalRecord;
    const reqs: unknown[] = [];
    let release!: () => void;
    setPretrained(
      fake<PretrainedApi>('pretrained', {
        evaluate: async (req, onProgress, onRecord) => {
          reqs.push(req);
          onProgress?.({ phase: 'evaluating synth-text-L1', done: 1, total: 2 });
          onRecord?.(record(0, true));
          await new Promise<void>((r) => {
            release = r;
          });
          onRecord?.(record(1, false));
          return {
            benchmarks: [{ name: 'synth-text-L1', items: 2, correct: 1, accuracy: 0.5, skipped: 0, unfinished: 0, without_images: 0 }],
            average: { accuracy: 0.5, items: 2 },
            records: [record(0, true), record(1, false)],
          };
        },
      }),
    );
    const benchmarks = [
      { name: 'synth-text-L1', data: { kind: 'synth' as const, options: { n: 2, kind: 'text' as const, level: 1 as const, seed: 1, split: 'test' as const } } },
    ];
    const p = useEval.getState().runPretrained({ model: 'lab/tiny (pretrained)', benchmarks, limit: 2, maxNewTokens: 32, n: 1 });
    await tick();
    expect(useEval.getState().request?.model).toBe('lab/tiny (pretrained)');
    expect(useEval.getState().records).toHaveLength(1);
    expect(useJobs.getState().pretrainedJob?.progress).toMatchObject({ done: 1, total: 2 });
    release();
    await p;
    // The worker gets no "model" field: it evaluates the model it has loaded.
    expect(reqs).toEqual([{ benchmarks, limit: 2, maxNewTokens: 32, n: 1 }]);
    expect(useEval.getState().reply?.average.accuracy).toBe(0.5);
    expect(useEval.getState().records.map((r) => r.correct)).toEqual([true, false]);
  });

  it('distill needs a loaded teacher; its reply (how many questions got a correct trace) is kept for the page', async () => {
    const reqs: unknown[] = [];
    setPretrained(
      fake<PretrainedApi>('pretrained', {
        distill: async (req, onProgress) => {
          reqs.push(req);
          onProgress?.({ phase: 'sampling 3 per question', done: 2, total: 2 });
          return {
            total: 2,
            withTrace: 1,
            samples: 6,
            withoutImages: 0,
            records: [
              { question: 'q1', answer_label: 'A', responses: [{ text: 'x', correct: true, finished: true }], kept: 0, reasoning: 'because' },
              { question: 'q2', answer_label: 'B', responses: [{ text: 'y', correct: false, finished: true }], kept: null, reasoning: null },
            ],
            saved: { name: 'traces', source: 'distilled:lab/tiny', splits: [{ name: 'train', items: 1 }] } as never,
          };
        },
      }),
    );
    const data = { kind: 'dataset' as const, name: 'vqa-rad', split: 'test', limit: 2 };
    expect(await usePretrained.getState().distill({ data, n: 3, maxNewTokens: 64 })).toBeUndefined();
    expect(useJobs.getState().alerts.at(-1)?.message).toMatch(/^Load a pretrained model on the Models page first/);
    expect(reqs).toEqual([]);

    usePretrained.setState({ loaded: TINY });
    const reply = await usePretrained.getState().distill({ data, n: 3, maxNewTokens: 64, saveAs: 'traces' });
    expect(reqs).toEqual([{ data, n: 3, maxNewTokens: 64, saveAs: 'traces' }]);
    expect(reply?.withTrace).toBe(1);
    expect(usePretrained.getState().distilled?.records.map((r) => r.reasoning)).toEqual(['because', null]);
    expect(useJobs.getState().pretrainedJob).toBeNull();
  });
});
