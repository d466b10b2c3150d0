// Pretrained models (transformers.js, in their own worker): what this adapter can run, what the
// browser has cached, the loaded model, and which backend the Ask, Evaluate and Data pages use.
// Every long call runs on the jobs store's "pretrained" lane, so a download or an answer never
// waits for a training run on the engine lane, and vice versa.
import { create } from 'zustand';
import type { AdapterView, CachedModel, CatalogView, DistillReply, DistillReq, LoadedModel, LoadProgress, PretrainedLoadReq } from '../../pretrained/api';
import { callback } from '../engine-client';
import { getPretrained } from '../../pretrained/client';
import { attempt, useJobs } from './jobs';

/** Which model answers on the Ask, Evaluate and Data pages. */
export type Backend = 'lab' | 'pretrained';

interface PretrainedState {
  adapter: AdapterView | null;
  catalog: CatalogView[];
  cached: CachedModel[];
  loaded: LoadedModel | null;
  /** The first refresh came back. */
  ready: boolean;
  /** The files of the last download, as its last progress event listed them. */
  files: LoadProgress['files'];
  backend: Backend;
  /** The last distillation's reply (Data page). */
  distilled: DistillReply | null;
  refresh(): Promise<void>;
  load(req: PretrainedLoadReq): Promise<LoadedModel | undefined>;
  unload(): Promise<void>;
  deleteCached(id: string): Promise<void>;
  setBackend(b: Backend): void;
  distill(req: DistillReq): Promise<DistillReply | undefined>;
}

const cancel = () => getPretrained().cancel();

/** How a load is named in the job bar and alerts. */
export function loadLabel(req: Pick<PretrainedLoadReq, 'model' | 'folder' | 'offline' | 'endpoint'>): string {
  if (req.folder) return `Loading ${req.model} from a local folder`;
  if (req.offline) return `Loading ${req.model} from the cache`;
  return `Downloading ${req.model}${req.endpoint ? ` from ${req.endpoint}` : ''}`;
}

/**
 * Check a typed model id and mirror URL before anything is fetched: "owner/name" as the hub
 * spells repositories, and an http(s) URL. Returns the problem, or null.
 */
export function loadProblem(model: string, endpoint: string): string | null {
  const id = model.trim();
  if (!id) return 'type a model id, e.g. HuggingFaceTB/SmolVLM-256M-Instruct';
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(id)) return `"${id}" is not a hub model id (owner/name)`;
  const e = endpoint.trim();
  if (e) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      return `"${e}" is not a URL`;
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return `the mirror must be an http(s) URL, got ${u.protocol}`;
  }
  return null;
}

export const usePretrained = create<PretrainedState>()((set, get) => ({
  adapter: null,
  catalog: [],
  cached: [],
  loaded: null,
  ready: false,
  files: [],
  backend: 'lab',
  distilled: null,

  async refresh() {
    const p = getPretrained();
    const got = await attempt(() => Promise.all([p.adapter(), p.catalog(), p.cached(), p.current()]));
    if (!got) return;
    const [adapter, catalog, cached, loaded] = got;
    set({ adapter, catalog, cached, loaded, ready: true });
  },

  async load(req) {
    set({ files: [] });
    // No cancel: transformers.js's loaders take no abort signal; the loader removes a half-done download itself.
    const model = await useJobs.getState().run({ kind: 'download', lane: 'pretrained', label: loadLabel(req) }, (report) =>
      getPretrained().load(
        req,
        callback((p: LoadProgress) => {
          report(p);
          set({ files: p.files });
        }),
      ),
    );
    // A failed load may have dropped the previous model and left (or cleaned) cache entries.
    await get().refresh();
    if (model) set({ loaded: model, backend: 'pretrained' });
    return model;
  },

  async unload() {
    await attempt(() => getPretrained().unload());
    set({ loaded: null, backend: 'lab' });
  },

  async deleteCached(id) {
    const gone = await attempt(() => getPretrained().deleteCached(id));
    if (gone !== undefined) useJobs.getState().alert(`Removed ${gone} cached file${gone === 1 ? '' : 's'} of ${id}.`, 'info');
    await get().refresh();
  },

  setBackend(b) {
    set({ backend: b });
  },

  async distill(req) {
    const loaded = get().loaded;
    if (!loaded) {
      useJobs.getState().alert('Load a pretrained model on the Models page first: it writes the teacher traces.');
      return undefined;
    }
    set({ distilled: null });
    const reply = await useJobs
      .getState()
      .run({ kind: 'distill', lane: 'pretrained', label: `Teacher traces from ${loaded.id}`, cancel }, (report) =>
        getPretrained().distill(req, callback(report)),
      );
    if (reply) set({ distilled: reply });
    return reply;
  },
}));
