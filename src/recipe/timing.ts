// Time arithmetic of a run, shared by the estimate (src/recipe/estimate.ts) and the UI's live
// time-left: pure functions, so the app bundle does not pull in the run drivers.

/** Evaluations a run makes: at the start (optional), every `every` steps before the end, and at the end. */
export function evalCount(e: { every: number; items: number; atStart: boolean }, total: number): number {
  if (e.items <= 0) return 0;
  return (e.atStart ? 1 : 0) + (e.every > 0 ? Math.floor((total - 1) / e.every) : 0) + 1;
}

/** Seconds left of a run at `step` of `total`, from the steps and evaluations seen so far. */
export function remainingSeconds(o: { step: number; total: number; stepSeconds: number[]; evalSeconds: number[]; evalsLeft: number }): number | null {
  if (o.stepSeconds.length === 0) return null;
  // The first step compiles kernels: leave it out once there are others.
  const steps = o.stepSeconds.length > 1 ? o.stepSeconds.slice(1) : o.stepSeconds;
  const perStep = steps.reduce((a, b) => a + b, 0) / steps.length;
  const perEval = o.evalSeconds.length ? o.evalSeconds.reduce((a, b) => a + b, 0) / o.evalSeconds.length : 0;
  return Math.max(0, o.total - o.step) * perStep + Math.max(0, o.evalsLeft) * perEval;
}
