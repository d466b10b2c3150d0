// The one long job the UI has going (a run, a curation, an evaluation, an answer, an import): its
// progress with time left and how to cancel it, plus the alerts every failure ends in. Every
// engine call that can take more than a moment goes through run(), which never lets a rejection
// escape: a failure becomes a readable alert and the job slot is freed.
import { create } from 'zustand';
import type { Progress } from '../../../workers/api';
import { getEngine } from '../engine-client';
import { errorMessage, isCancellation } from '../lib/errors';
import { EtaTracker, type Timed } from '../lib/progress';

export type JobKind = 'run' | 'curate' | 'evaluate' | 'ask' | 'import' | 'model';

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
}

export interface JobSpec {
  kind: JobKind;
  label: string;
  /** How to end the job early; omit when it cannot be. */
  cancel?: () => Promise<void>;
  cancelLabel?: string;
}

interface JobsState {
  job: Job | null;
  /** What the engine says holds the GPU (a job started before this page loaded, or by a test). */
  engineBusy: string | null;
  alerts: Alert[];
  run<T>(spec: JobSpec, fn: (report: (p: Progress) => void) => Promise<T>): Promise<T | undefined>;
  cancel(): Promise<void>;
  alert(message: string, level?: Alert['level']): void;
  dismiss(id: number): void;
  refreshBusy(): Promise<void>;
}

let nextId = 1;
/** The running job's cancel call and clock: kept out of the state because they are not shown. */
let current: { id: number; cancel?: () => Promise<void>; eta: EtaTracker } | null = null;
const MAX_ALERTS = 5;

export const useJobs = create<JobsState>()((set, get) => ({
  job: null,
  engineBusy: null,
  alerts: [],

  async run<T>(spec: JobSpec, fn: (report: (p: Progress) => void) => Promise<T>): Promise<T | undefined> {
    const held = get().job;
    if (held) {
      get().alert(`Wait for "${held.label}" to finish or stop it first.`);
      return undefined;
    }
    const id = nextId++;
    current = { id, cancel: spec.cancel, eta: new EtaTracker() };
    set({ job: { id, kind: spec.kind, label: spec.label, progress: null, startedAt: Date.now(), cancelLabel: spec.cancel ? spec.cancelLabel ?? 'Cancel' : null, cancelling: false } });
    const report = (p: Progress) => {
      const job = get().job;
      if (!job || job.id !== id || !current || current.id !== id) return;
      set({ job: { ...job, progress: current.eta.update(p, Date.now()) } });
    };
    try {
      return await fn(report);
    } catch (e) {
      const message = errorMessage(e);
      const cancelled = get().job?.cancelling && isCancellation(message);
      get().alert(cancelled ? `${spec.label}: cancelled.` : message, cancelled ? 'info' : 'error');
      return undefined;
    } finally {
      if (current?.id === id) current = null;
      if (get().job?.id === id) set({ job: null });
      void get().refreshBusy();
    }
  },

  async cancel() {
    const job = get().job;
    if (!job || !current || current.id !== job.id || !current.cancel || job.cancelling) return;
    set({ job: { ...job, cancelling: true } });
    try {
      await current.cancel();
    } catch (e) {
      get().alert(errorMessage(e));
      const now = get().job;
      if (now?.id === job.id) set({ job: { ...now, cancelling: false } });
    }
  },

  alert(message, level = 'error') {
    const a: Alert = { id: nextId++, level, message };
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

/** A short call (listing, deleting): errors become alerts, nothing is thrown. */
export async function attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    useJobs.getState().alert(errorMessage(e));
    return undefined;
  }
}
