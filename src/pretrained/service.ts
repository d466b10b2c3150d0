// PretrainedApi (src/pretrained/api.ts) over a PretrainedBackend and the lab's workspace:
// benchmarks and distillation sets come from the same DataRefs the engine worker reads, and kept
// traces are stored as a dataset the SFT page can train on. The worker (workers/pretrained.worker.ts)
// supplies the browser's pieces; Node tests build it over a temp workspace.
import { InputError } from '../engine/errors';
import type { Workspace } from '../io/workspace';
import type { BenchmarkInput } from '../eval/run';
import type { PretrainedApi, AdapterView, DistillReply } from './api';
import { pickedSource } from '../io/workspace';
import { owningDataset } from '../lab/data';
import { progressReporter } from '../util/progress';
import { requireFreeName, resolveItems, writeDataset } from '../data/store';
import { checkName } from '../util/names';
import { defaultLockManager, LabLocks, type LockManagerLike } from '../lab/locks';
import { catalogFor } from './catalog';
import type { PretrainedBackend } from './backend';
import type { ModelCacheStore } from './cache';

export interface ServiceDeps {
  backend: PretrainedBackend;
  store: ModelCacheStore | null;
  adapter: AdapterView;
  /** The lab's workspace (datasets to evaluate or distill; where kept traces are saved). */
  workspace: Workspace | null;
  /** The origin's lock manager, shared with the engine worker's lab (default: navigator.locks, or the workspace's in-process registry). */
  locks?: LockManagerLike;
}

const posInt = (where: string, v: unknown, min = 1) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new InputError(where, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
};

export function createPretrainedService(d: ServiceDeps): PretrainedApi {
  const b = d.backend;
  const ws = () => {
    if (!d.workspace) throw new InputError('pretrained worker', 'no workspace: datasets cannot be read here');
    return d.workspace;
  };
  let labLocks: LabLocks | null = null;
  const locks = () => (labLocks ??= new LabLocks(d.locks ?? defaultLockManager(ws())));
  const webgpu = d.adapter.webgpu;
  // Claimed before the first await of a call, so a call that arrives while another is still
  // reading its items is refused too (the backend's own lock only starts at the model).
  let running: string | null = null;
  const job = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    if (running) throw new InputError('pretrained model', `busy ${running}; wait for it or cancel it before ${what}`);
    running = what;
    try {
      return await f();
    } finally {
      running = null;
    }
  };
  const api: PretrainedApi = {
    async adapter() {
      return d.adapter;
    },
    async catalog() {
      return catalogFor(
        webgpu?.features ?? [],
        webgpu ? { maxBufferSize: webgpu.maxBufferSize, maxStorageBufferBindingSize: webgpu.maxStorageBufferBindingSize } : null,
        { memoryBytes: d.adapter.memoryBytes ?? undefined, device: d.adapter.device },
      );
    },
    async cached() {
      return d.store ? d.store.list() : [];
    },
    async deleteCached(id) {
      if (typeof id !== 'string' || id === '') throw new InputError('deleteCached', 'give the model id to delete');
      if (!d.store) return 0;
      if (b.loaded?.id === id) await b.unload();
      return d.store.remove(id);
    },
    async load(req, onProgress) {
      return job(`loading ${req?.model}`, async () => {
        const folder = req.folder ? pickedSource(req.folder) : undefined;
        return b.load({ model: req.model, endpoint: req.endpoint, dtype: req.dtype, device: req.device, offline: req.offline, folder }, onProgress);
      });
    },
    async current() {
      return b.loaded;
    },
    async ask(req, onToken) {
      return job('answering a question', () => b.ask({ ...req, prompt: { newline: req.newline } }, onToken));
    },
    evaluate: (req, onProgress, onRecord) =>
      job('evaluating', async () => {
        if (!Array.isArray(req.benchmarks) || req.benchmarks.length === 0) throw new InputError('evaluate.benchmarks', 'no benchmarks to evaluate');
        posInt('evaluate.limit', req.limit, 0);
        posInt('evaluate.maxNewTokens', req.maxNewTokens);
        const sets: BenchmarkInput[] = [];
        for (const [i, bm] of req.benchmarks.entries()) {
          if (typeof bm?.name !== 'string' || bm.name === '') throw new InputError(`evaluate.benchmarks[${i}].name`, 'must be a non-empty name');
          sets.push({ name: bm.name, items: await resolveItems(ws(), bm.data, `evaluate.benchmarks[${i}].data`) });
        }
        const report = progressReporter(onProgress, 100, () => 'evaluating');
        const res = await b.evaluate(sets, {
          limit: req.limit || undefined,
          n: req.n,
          maxNewTokens: req.maxNewTokens,
          seed: req.seed,
          batchSize: 1,
          prompt: { newline: req.newline },
          onRecord,
          onProgress: (p) => report({ phase: `evaluating ${p.benchmark}`, done: p.done, total: p.total }),
        });
        const bs = res.summary.benchmarks;
        return { benchmarks: bs, average: { accuracy: res.summary.average.accuracy, items: bs.reduce((a, x) => a + x.items, 0) }, records: res.records };
      }),
    distill: (req, onProgress) =>
      job('distilling', async (): Promise<DistillReply> => {
        posInt('distill.n', req.n);
        posInt('distill.maxNewTokens', req.maxNewTokens);
        if (!req.saveAs) return distillOwned(req, onProgress);
        // The traces' dataset name is held from its check to the write, as an import holds its name.
        const name = checkName('distill.saveAs', req.saveAs);
        return owningDataset(locks(), name, async () => {
          await requireFreeName(ws(), name, 'distill.saveAs');
          return distillOwned(req, onProgress);
        });
      }),
    async cancel() {
      b.cancel();
    },
    async unload() {
      await job('unloading', () => b.unload());
    },
  };
  return api;

  async function distillOwned(req: Parameters<PretrainedApi['distill']>[0], onProgress: Parameters<PretrainedApi['distill']>[1]): Promise<DistillReply> {
    const items = await resolveItems(ws(), req.data, 'distill.data');
    const model = b.loaded?.id ?? 'a pretrained model';
    const report = progressReporter(onProgress);
    const r = await b.distill(items, {
      n: req.n,
      maxNewTokens: req.maxNewTokens,
      temperature: req.temperature,
      topP: req.topP,
      seed: req.seed,
      grade: req.grade,
      prompt: { newline: req.newline },
      onProgress: (done, total) => report({ phase: `sampling ${req.n} per question`, done, total }),
    });
    const reply: DistillReply = {
      total: r.total,
      withTrace: r.withTrace,
      samples: r.samples,
      withoutImages: r.withoutImages,
      records: r.records.map((x) => ({
        question: x.item.question,
        answer_label: x.item.answer_label,
        responses: x.responses,
        kept: x.kept,
        reasoning: x.reasoning,
      })),
    };
    if (req.saveAs) {
      if (r.items.length === 0) throw new InputError('distill.saveAs', `no question got a correct trace from ${model}: nothing to save`);
      reply.saved = await writeDataset(ws(), req.saveAs, `distilled:${model}`, [{ name: 'train', items: r.items }], {}, onProgress);
    }
    return reply;
  }
}
