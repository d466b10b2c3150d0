// Training runs: the list (run.json of each), the metric rows of the run on screen, and the live
// run's events. A run is one job: startRun/resumeRun resolve when it ends, and Stop/Pause ask the
// engine to end it after the current step with a checkpoint.
import { create } from 'zustand';
import type { EstimateRequest, RunEstimate, RunEvent, RunInfo, RunRequest } from '../../lab/api';
import { callback, getEngine } from '../engine-client';
import { appendRow, normalizeRows, rowFromEvent, type MetricRow } from '../lib/metrics';
import { evalCount, remainingSeconds } from '../../recipe/timing';
import { errorMessage } from '../lib/errors';
import { attempt, useJobs } from './jobs';
import { useRollouts } from './rollouts';
import { useModels } from './models';
import { useSession } from './session';

interface RunsState {
  runs: RunInfo[];
  loaded: boolean;
  /** The run whose charts are shown. */
  selected: string | null;
  /** Metric rows per run (loaded on selection, grown by events while live). */
  rows: Record<string, MetricRow[]>;
  rowsError: string | null;
  /** The run this page is running now. */
  live: string | null;
  /** The log lines of the run this page ran last (newest last), kept after it ends. */
  log: string[];
  logRun: string | null;
  refresh(): Promise<void>;
  /** Follow runs another tab is running: the list, and the charts of the one on screen (the page polls while there are any). */
  followElsewhere(): Promise<void>;
  select(name: string | null): Promise<void>;
  start(req: RunRequest): Promise<RunInfo | undefined>;
  /** Time a run before starting it (its first steps, measured on this adapter); undefined when cancelled or failed (an alert says why). */
  estimate(req: EstimateRequest): Promise<RunEstimate | undefined>;
  resume(name: string, totalSteps?: number): Promise<RunInfo | undefined>;
  /** Run it again from step 0 with its settings (one that ended before its first checkpoint); its charts start empty. */
  restart(name: string): Promise<RunInfo | undefined>;
  stop(how: 'pause' | 'stop'): Promise<void>;
  remove(name: string): Promise<void>;
  /** Apply one event of the live run (exported for tests). */
  onEvent(name: string, e: RunEvent, report?: (p: { phase: string; done: number; total: number; etaSeconds?: number }) => void): void;
}

const MAX_LOG = 300;

/** Runs that ended early and can continue from their last checkpoint. */
export const canResume = (r: RunInfo) => ['paused', 'stopped', 'interrupted', 'failed'].includes(r.status) && r.checkpoints.length > 0;

/** Runs that ended before their first checkpoint: nothing to resume from, so they can only start over. */
export const canRestart = (r: RunInfo) => ['paused', 'stopped', 'interrupted', 'failed'].includes(r.status) && r.checkpoints.length === 0;

/** Completed runs can go on for more steps from their final checkpoint. */
export const canExtend = (r: RunInfo) => r.status === 'completed' && r.checkpoints.length > 0;

/**
 * Seconds left of a live run, re-estimated at every step from its own step times and evaluation
 * times (the first step, which compiles kernels, is left out once there are others), with the
 * held-out evaluations still to come counted in.
 */
export function runEta(config: RunInfo['config'] | undefined, rows: readonly MetricRow[], step: number, total: number): number | undefined {
  const secs = (type: string) => rows.filter((r) => r.type === type && typeof r.seconds === 'number').map((r) => r.seconds as number);
  const evalsDone = rows.filter((r) => r.type === 'eval').length;
  const left = remainingSeconds({
    step,
    total,
    stepSeconds: secs('step'),
    evalSeconds: secs('eval'),
    evalsLeft: config?.eval ? evalCount(config.eval, total) - evalsDone : 0,
  });
  return left ?? undefined;
}

/** Replace or add a run in the list, keeping the list's order. */
export function upsertRun(runs: readonly RunInfo[], r: RunInfo): RunInfo[] {
  const i = runs.findIndex((x) => x.name === r.name);
  if (i < 0) return [...runs, r];
  const out = [...runs];
  out[i] = r;
  return out;
}

export const useRuns = create<RunsState>()((set, get) => {
  /** Run one startRun/resumeRun call as the page's job. */
  async function drive(name: string, label: string, call: (onEvent: (e: RunEvent) => void) => Promise<RunInfo>, placeholder?: RunInfo) {
    const jobs = useJobs.getState();
    return jobs.run({ kind: 'run', label, cancel: () => getEngine().stopRun('stop'), cancelLabel: 'Stop' }, async (report) => {
      set({ live: name, selected: name, log: [], logRun: name });
      if (placeholder) set({ runs: upsertRun(get().runs, placeholder), rows: { ...get().rows, [name]: [] } });
      else if (!get().rows[name]) await loadRows(name);
      try {
        const info = await call((e) => get().onEvent(name, e, report));
        set({ runs: upsertRun(get().runs, info) });
        if (info.status === 'failed' && info.error) useJobs.getState().alert(`Run ${name} failed: ${info.error}`, 'error', 'train');
        return info;
      } finally {
        set({ live: null });
        // metrics.jsonl is the record: it has fields live events do not carry (held-out response lengths).
        void loadRows(name);
        void get().refresh();
        void useModels.getState().refresh();
        void useSession.getState().refreshStorage();
      }
    });
  }

  async function loadRows(name: string) {
    try {
      const raw = await getEngine().runMetrics(name);
      set({ rows: { ...get().rows, [name]: normalizeRows(raw) }, rowsError: null });
    } catch (e) {
      set({ rowsError: errorMessage(e) });
    }
  }

  /** totalSteps is known once run.json is written; fetched once when the first step arrives. */
  const totals = new Map<string, number>();
  async function learnTotal(name: string) {
    if (totals.has(name)) return;
    totals.set(name, 0);
    const runs = await attempt(() => getEngine().listRuns());
    const r = runs?.find((x) => x.name === name);
    if (!r) return;
    totals.set(name, r.totalSteps);
    // Only while it still runs: a reply that arrives after the end must not bring back 'running'.
    const mine = get().runs.find((x) => x.name === name);
    if (get().live === name && mine) set({ runs: upsertRun(get().runs, { ...mine, totalSteps: r.totalSteps, createdAt: r.createdAt }) });
  }

  return {
    runs: [],
    loaded: false,
    selected: null,
    rows: {},
    rowsError: null,
    live: null,
    log: [],
    logRun: null,

    async refresh() {
      const runs = await attempt(() => getEngine().listRuns());
      if (!runs) return;
      // The live run's own state is the freshest (listRuns may race its last write).
      const live = get().live;
      const merged = live ? runs.map((r) => (r.name === live ? { ...r, status: 'running' as const } : r)) : runs;
      set({ runs: merged, loaded: true });
      if (get().selected === null && merged.length) {
        const pick = merged.find((r) => r.status === 'interrupted') ?? [...merged].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
        void get().select(pick.name);
      }
    },

    async followElsewhere() {
      const sel = get().selected;
      // Its last rows too, once it has ended there.
      const watched = get().runs.some((r) => r.name === sel && r.status === 'running-elsewhere');
      await get().refresh();
      if (sel && watched && sel !== get().live) await loadRows(sel);
    },

    async select(name) {
      set({ selected: name, rowsError: null });
      if (name && name !== get().live) await loadRows(name);
    },

    async start(req) {
      const now = new Date().toISOString();
      const placeholder: RunInfo = {
        name: req.name,
        kind: req.kind,
        status: 'running',
        step: 0,
        totalSteps: 0,
        checkpoints: [],
        config: req.config,
        createdAt: now,
        updatedAt: now,
      };
      totals.delete(req.name);
      return drive(req.name, `${req.kind.toUpperCase()} run ${req.name}`, (onEvent) => getEngine().startRun(req, callback(onEvent)), placeholder);
    },

    async estimate(req) {
      return useJobs
        .getState()
        .run({ kind: 'estimate', label: `Timing the ${req.kind.toUpperCase()} run: its first steps on this GPU`, cancel: () => getEngine().cancel() }, () =>
          getEngine().estimateRun(req),
        );
    },

    async resume(name, totalSteps) {
      const r = get().runs.find((x) => x.name === name);
      if (r) set({ runs: upsertRun(get().runs, { ...r, status: 'running' }) });
      totals.delete(name);
      const more = totalSteps ? { totalSteps } : undefined;
      return drive(name, `${(r?.kind ?? 'run').toUpperCase()} run ${name} (resumed)`, (onEvent) => getEngine().resumeRun(name, callback(onEvent), more));
    },

    async restart(name) {
      const r = get().runs.find((x) => x.name === name);
      totals.delete(name);
      let placeholder: RunInfo | undefined;
      if (r) {
        const { error: _old, ...rest } = r;
        placeholder = { ...rest, status: 'running', step: 0, checkpoints: [] };
      }
      return drive(
        name,
        `${(r?.kind ?? 'run').toUpperCase()} run ${name} (restarted)`,
        (onEvent) => getEngine().restartRun(name, callback(onEvent)),
        placeholder,
      );
    },

    async stop(how) {
      if (!get().live) return;
      if (how === 'stop') {
        await useJobs.getState().cancel();
        return;
      }
      const job = useJobs.getState().job;
      if (job) useJobs.setState({ job: { ...job, cancelling: true, label: `${job.label}: pausing after this step` } });
      await attempt(() => getEngine().stopRun('pause'));
    },

    async remove(name) {
      await attempt(() => getEngine().deleteRun(name));
      const rows = { ...get().rows };
      delete rows[name];
      set({ rows, selected: get().selected === name ? null : get().selected, runs: get().runs.filter((r) => r.name !== name) });
      await get().refresh();
      void useModels.getState().refresh();
      void useSession.getState().refreshStorage();
    },

    onEvent(name, e, report) {
      const row = rowFromEvent(e);
      if (row) set({ rows: { ...get().rows, [name]: appendRow(get().rows[name] ?? [], row) } });
      const run = get().runs.find((r) => r.name === name);
      switch (e.type) {
        case 'progress':
          report?.(e.progress);
          break;
        case 'log':
          set({ log: [...get().log, e.line].slice(-MAX_LOG) });
          break;
        case 'sft-step':
        case 'grpo-step': {
          const step = e.metrics.step;
          void learnTotal(name);
          // The event carries the total: the run list may not know this run yet at its first step.
          const total = e.totalSteps || totals.get(name) || run?.totalSteps || 0;
          if (run) set({ runs: upsertRun(get().runs, { ...run, step, totalSteps: total || run.totalSteps }) });
          if (total > 0) report?.({ phase: 'training steps', done: step, total, etaSeconds: runEta(run?.config, get().rows[name] ?? [], step, total) });
          if (e.type === 'grpo-step') useRollouts.getState().addLive(name, step, e.groups);
          break;
        }
        case 'checkpoint':
          if (run) set({ runs: upsertRun(get().runs, { ...run, checkpoints: [...new Set([...run.checkpoints, e.step])].sort((a, b) => a - b) }) });
          break;
        case 'end':
          set({ runs: upsertRun(get().runs, e.run) });
          break;
        default:
          break;
      }
    },
  };
});
