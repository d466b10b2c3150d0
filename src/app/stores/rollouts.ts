// The GRPO step inspector: which run and step is open, its groups, and the groups of the running
// run as they arrive (so the page follows a live run without re-reading rollouts.jsonl).
import { create } from 'zustand';
import type { GroupRecord } from '../../recipe/grpo';
import { getEngine } from '../engine-client';
import { errorMessage } from '../lib/errors';

export type ColourMode = 'advantage' | 'ratio';

interface RolloutsState {
  run: string | null;
  steps: number[];
  step: number | null;
  groups: GroupRecord[];
  group: number;
  colour: ColourMode;
  /** Follow the newest step while the open run is running. */
  follow: boolean;
  loading: boolean;
  error: string | null;
  open(run: string): Promise<void>;
  setStep(step: number): Promise<void>;
  setGroup(i: number): void;
  setColour(c: ColourMode): void;
  /** Groups of a step of a running run (from its grpo-step event). */
  addLive(run: string, step: number, groups: GroupRecord[]): void;
}

/** Live steps kept per run: enough to step back through a live run, bounded for long ones. */
const LIVE_STEPS = 50;
const live = new Map<string, Map<number, GroupRecord[]>>();

let seq = 0;

/** Sorted union of step lists. */
export function mergeSteps(a: readonly number[], b: Iterable<number>): number[] {
  return [...new Set([...a, ...b])].sort((x, y) => x - y);
}

export const useRollouts = create<RolloutsState>()((set, get) => ({
  run: null,
  steps: [],
  step: null,
  groups: [],
  group: 0,
  colour: 'advantage',
  follow: true,
  loading: false,
  error: null,

  async open(run) {
    const n = ++seq;
    set({ run, steps: [], step: null, groups: [], group: 0, loading: true, error: null, follow: true });
    try {
      const stored = await getEngine().rolloutSteps(run);
      if (n !== seq) return;
      const steps = mergeSteps(stored, live.get(run)?.keys() ?? []);
      set({ steps, loading: false });
      if (steps.length) await get().setStep(steps[steps.length - 1]);
    } catch (e) {
      if (n === seq) set({ loading: false, error: errorMessage(e) });
    }
  },

  async setStep(step) {
    const run = get().run;
    if (!run) return;
    const n = ++seq;
    const steps = get().steps;
    const follow = steps.length > 0 && step === steps[steps.length - 1];
    const cached = live.get(run)?.get(step);
    if (cached) {
      set({ step, groups: cached, group: Math.min(get().group, Math.max(0, cached.length - 1)), loading: false, error: null, follow });
      return;
    }
    set({ step, loading: true, error: null, follow });
    try {
      const groups = await getEngine().rollouts(run, step);
      if (n === seq) set({ groups, group: Math.min(get().group, Math.max(0, groups.length - 1)), loading: false });
    } catch (e) {
      if (n === seq) set({ groups: [], loading: false, error: errorMessage(e) });
    }
  },

  setGroup(i) {
    set({ group: i });
  },

  setColour(c) {
    set({ colour: c });
  },

  addLive(run, step, groups) {
    let m = live.get(run);
    if (!m) live.set(run, (m = new Map()));
    m.set(step, groups);
    for (const k of m.keys()) if (m.size > LIVE_STEPS && k < step) m.delete(k);
    const s = get();
    if (s.run !== run) return;
    const newest = s.steps.length === 0 || step > s.steps[s.steps.length - 1];
    set({ steps: mergeSteps(s.steps, [step]) });
    if (newest && (s.follow || s.step === null)) void get().setStep(step);
  },
}));
