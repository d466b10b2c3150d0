// The long jobs the UI has going, one per worker ("lane"): on the engine lane a run, a curation,
// an evaluation, an answer, an import; on the pretrained lane a download or an answer of a
// pretrained model, which never waits on training. Each has its progress with time left and how
// to cancel it; failures end in alerts. Every worker call that can take more than a moment goes
// through run(), which never lets a rejection escape: a failure becomes a readable alert and the
// lane is freed.
import { create } from 'zustand';
import type { Progress } from '../../lab/api';
import { getEngine } from '../engine-client';
import { errorMessage, isCancellation } from '../lib/errors';
import { EtaTracker, type Timed } from '../lib/progress';
import { pageFromHash, type PageId } from '../lib/route';

export type JobKind = 'run' | 'estimate' | 'curate' | 'evaluate' | 'ask' | 'import' | 'model' | 'download' | 'distill';
/** The worker a job occupies: the lab's engine, or the pretrained-model worker (transformers.js). */
export type Lane = 'engine' | 'pretrained';

export interface Job {
  id: number;
  kind: JobKind;
  label: string;
  progress: Timed | null;
  startedAt: number;
  /** The button's word: runs stop (with a checkpoint), other jobs cancel. */
  cancelLabel: string | null;
  cancelling: boolean;
}

export interface Alert {
  id: number;
  level: 'error' | 'info';
  message: string;
  /** The page it belongs to: shown there, counted on that page's link elsewhere. */
  page: PageId;
}

/** The page a job's outcome belongs to: a failed run is news for Train even if it ends while the user reads Ask. */
export const JOB_PAGE: Record<JobKind, PageId> = {
  run: 'train',
  estimate: 'train',
  curate: 'data',
  import: 'data',
  distill: 'data',
  evaluate: 'evaluate',
  ask: 'ask',
  model: 'models',
  download: 'models',
};

/** The page shown now ('data' outside a browser). */
const currentPage = (): PageId => pageFromHash(typeof location === 'undefined' ? '' : location.hash);

export interface JobSpec {
  kind: JobKind;
  /** Default 'engine'. */
  lane?: Lane;
  label: string;
  /** How to end the job early; omit when it cannot be. */
  cancel?: () => Promise<void>;
  cancelLabel?: string;
}

interface JobsState {
  /** The engine lane's job. */
  job: Job | null;
  /** The pretrained lane's job. */
  pretrainedJob: Job | null;
  /** What the engine says holds the GPU (a job started before this page loaded, or by a test). */
  engineBusy: string | null;
  alerts: Alert[];
  run<T>(spec: JobSpec, fn: (report: (p: Progress) => void) => Promise<T>): Promise<T | undefined>;
  cancel(lane?: Lane): Promise<void>;
  /** An alert for `page` (default: the page shown now). */
  alert(message: string, level?: Alert['level'], page?: PageId): void;
  dismiss(id: number): void;
  refreshBusy(): Promise<void>;
}

let nextId = 1;
/** Each lane's running job's cancel call and clock: kept out of the state because they are not shown. */
const current: Record<Lane, { id: number; cancel?: () => Promise<void>; eta: EtaTracker } | null> = { engine: null, pretrained: null };
const MAX_ALERTS = 5;
const KEY = { engine: 'job', pretrained: 'pretrainedJob' } as const;

export const useJobs = create<JobsState>()((set, get) => ({
  job: null,
  pretrainedJob: null,
  engineBusy: null,
  alerts: [],

  async run<T>(spec: JobSpec, fn: (report: (p: Progress) => void) => Promise<T>): Promise<T | undefined> {
    const lane = spec.lane ?? 'engine';
    const key = KEY[lane];
    const held = get()[key];
    if (held) {
      get().alert(`Wait for "${held.label}" to finish or stop it first.`);
      return undefined;
    }
    const id = nextId++;
    const mine = { id, cancel: spec.cancel, eta: new EtaTracker() };
    current[lane] = mine;
    set({
      [key]: {
        id,
        kind: spec.kind,
        label: spec.label,
        progress: null,
        startedAt: Date.now(),
        cancelLabel: spec.cancel ? (spec.cancelLabel ?? 'Cancel') : null,
        cancelling: false,
      },
    });
    const report = (p: Progress) => {
      const job = get()[key];
      if (!job || job.id !== id || current[lane] !== mine) return;
      set({ [key]: { ...job, progress: mine.eta.update(p, Date.now()) } });
    };
    try {
      return await fn(report);
    } catch (e) {
      const message = errorMessage(e);
      const cancelled = get()[key]?.cancelling && isCancellation(message);
      get().alert(cancelled ? `${spec.label}: cancelled.` : message, cancelled ? 'info' : 'error', JOB_PAGE[spec.kind]);
      return undefined;
    } finally {
      if (current[lane] === mine) current[lane] = null;
      if (get()[key]?.id === id) set({ [key]: null });
      if (lane === 'engine') void get().refreshBusy();
    }
  },

  async cancel(lane = 'engine') {
    const key = KEY[lane];
    const job = get()[key];
    const c = current[lane];
    if (!job || !c || c.id !== job.id || !c.cancel || job.cancelling) return;
    set({ [key]: { ...job, cancelling: true } });
    try {
      await c.cancel();
    } catch (e) {
      get().alert(errorMessage(e));
      const now = get()[key];
      if (now?.id === job.id) set({ [key]: { ...now, cancelling: false } });
    }
  },

  alert(message, level = 'error', page = currentPage()) {
    // The same message again (a retried listing that fails the same way) is not a new alert.
    if (get().alerts.some((x) => x.message === message && x.level === level && x.page === page)) return;
    const a: Alert = { id: nextId++, level, message, page };
    set({ alerts: [...get().alerts, a].slice(-MAX_ALERTS) });
  },

  dismiss(id) {
    set({ alerts: get().alerts.filter((a) => a.id !== id) });
  },

  async refreshBusy() {
    try {
      set({ engineBusy: await getEngine().busy() });
    } catch {
      // The busy flag only greys out buttons; an engine that cannot answer is reported by the call that needs it.
    }
  },
}));

/** True while a job of this page or the engine holds the GPU: action buttons are disabled. */
export const selectBusy = (s: Pick<JobsState, 'job' | 'engineBusy'>) => s.job !== null || s.engineBusy !== null;
/** True while the pretrained-model worker has a job (a download, an answer, an evaluation). */
export const selectPretrainedBusy = (s: Pick<JobsState, 'pretrainedJob'>) => s.pretrainedJob !== null;

/** A short call (listing, deleting): errors become alerts, nothing is thrown. */
export async function attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    useJobs.getState().alert(errorMessage(e));
    return undefined;
  }
}
