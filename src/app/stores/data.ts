// Datasets: the synth generator's settings and its preview, stored datasets (import, list,
// delete, browse) and difficulty curation with its pass-count histogram.
import { create } from 'zustand';
import type { CurateReply, CurateRequest, DataRef, DatasetInfo, ImportFolderRequest, ImportHubRequest, ItemView } from '../../lab/api';
import type { SynthOptions } from '../../data/synth';
import { validateSynthOptions } from '../../data/synth';
import { callback, getEngine } from '../engine-client';
import { errorMessage } from '../lib/errors';
import { attempt, useJobs } from './jobs';
import { useSession } from './session';

export interface Preview {
  ref: DataRef;
  offset: number;
  count: number;
  total: number;
  items: ItemView[];
  loading: boolean;
  error: string | null;
}

interface DataState {
  datasets: DatasetInfo[];
  loaded: boolean;
  synth: SynthOptions;
  /** The synth options' problem, checked here as the generator checks them, before asking the engine. */
  synthError: string | null;
  preview: Preview | null;
  curation: (CurateReply & { request: CurateRequest }) | null;
  /** Synth settings handed to the Train page's new-run form ("Train on these questions"), with when. */
  forRuns: { synth: SynthOptions; at: number } | null;
  refresh(): Promise<void>;
  sendToRuns(synth: SynthOptions): void;
  setSynth(patch: Partial<SynthOptions>): void;
  show(ref: DataRef, offset?: number, count?: number): Promise<void>;
  importFolder(req: ImportFolderRequest): Promise<DatasetInfo | undefined>;
  importHub(req: ImportHubRequest): Promise<DatasetInfo | undefined>;
  remove(name: string): Promise<void>;
  curate(req: CurateRequest): Promise<void>;
}

export const PREVIEW_COUNT = 12;

export const DEFAULT_SYNTH: SynthOptions = { n: 200, kind: 'mixed', level: 1, seed: 1, split: 'train', imageSize: 32, noisyFraction: 0, sloppyFraction: 0 };

export function checkSynth(o: SynthOptions): string | null {
  try {
    validateSynthOptions(o, 'synth');
    return null;
  } catch (e) {
    return errorMessage(e);
  }
}

export const sameRef = (a: DataRef, b: DataRef) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The synth settings and the ones handed to the Train page outlive a reload (localStorage): a tab
 * reloaded mid-run comes back to the same questions. Anything unreadable falls back to the defaults.
 */
const SAVED_KEY = 'thinker-lab.data';

function loadSaved(): { synth: SynthOptions; forRuns: DataState['forRuns'] } {
  const fallback = { synth: DEFAULT_SYNTH, forRuns: null };
  try {
    const raw = typeof localStorage === 'undefined' ? null : localStorage.getItem(SAVED_KEY);
    if (!raw) return fallback;
    const v = JSON.parse(raw) as { synth?: SynthOptions; forRuns?: DataState['forRuns'] };
    const synth = v.synth && !checkSynth(v.synth) ? v.synth : DEFAULT_SYNTH;
    const forRuns = v.forRuns && typeof v.forRuns.at === 'number' && v.forRuns.synth && !checkSynth(v.forRuns.synth) ? v.forRuns : null;
    return { synth, forRuns };
  } catch {
    return fallback;
  }
}

function save(state: Pick<DataState, 'synth' | 'forRuns'>): void {
  try {
    if (typeof localStorage !== 'undefined') localStorage.setItem(SAVED_KEY, JSON.stringify({ synth: state.synth, forRuns: state.forRuns }));
  } catch {
    // Storage full or blocked: the settings then last as long as the tab.
  }
}

/** Preview replies can arrive out of order when the form changes fast; only the newest is shown. */
let previewSeq = 0;

const saved = loadSaved();

export const useData = create<DataState>()((set, get) => ({
  datasets: [],
  loaded: false,
  synth: saved.synth,
  synthError: null,
  preview: null,
  curation: null,
  forRuns: saved.forRuns,

  async refresh() {
    const datasets = await attempt(() => getEngine().listDatasets());
    if (datasets) set({ datasets, loaded: true });
  },

  sendToRuns(synth) {
    set({ forRuns: { synth: { ...synth }, at: Date.now() } });
    save(get());
  },

  setSynth(patch) {
    const synth = { ...get().synth, ...patch };
    // An emptied template choice means "all templates", which the generator spells as no key.
    if (synth.templates && synth.templates.length === 0) delete synth.templates;
    const synthError = checkSynth(synth);
    set({ synth, synthError });
    if (!synthError) save(get());
  },

  async show(ref, offset = 0, count = PREVIEW_COUNT) {
    const seq = ++previewSeq;
    const prev = get().preview;
    const same = prev !== null && sameRef(prev.ref, ref);
    set({ preview: { ref, offset, count, total: same ? prev.total : 0, items: same ? prev.items : [], loading: true, error: null } });
    try {
      const { total, items } = await getEngine().previewItems(ref, offset, count);
      if (seq === previewSeq) set({ preview: { ref, offset, count, total, items, loading: false, error: null } });
    } catch (e) {
      if (seq === previewSeq) set({ preview: { ref, offset, count, total: 0, items: [], loading: false, error: errorMessage(e) } });
    }
  },

  async importFolder(req) {
    const info = await useJobs
      .getState()
      .run({ kind: 'import', label: `Importing ${req.name} (${req.loader})` }, (report) => getEngine().importFolder(req, callback(report)));
    await get().refresh();
    void useSession.getState().refreshStorage();
    return info;
  },

  async importHub(req) {
    const info = await useJobs
      .getState()
      .run({ kind: 'import', label: `Downloading ${req.repo} (${req.split})`, cancel: () => getEngine().cancel() }, (report) =>
        getEngine().importHub(req, callback(report)),
      );
    await get().refresh();
    void useSession.getState().refreshStorage();
    return info;
  },

  async remove(name) {
    await attempt(() => getEngine().deleteDataset(name));
    const p = get().preview;
    if (p && p.ref.kind === 'dataset' && p.ref.name === name) set({ preview: null });
    await get().refresh();
    void useSession.getState().refreshStorage();
  },

  async curate(req) {
    const reply = await useJobs
      .getState()
      .run({ kind: 'curate', label: `Curating with ${req.model}`, cancel: () => getEngine().cancel() }, (report) => getEngine().curate(req, callback(report)));
    if (!reply) return;
    set({ curation: { ...reply, request: req } });
    if (reply.saved) await get().refresh();
  },
}));
