// When GRPO has nothing to learn from, say so. Its advantage is a response's reward against its
// group's mean: a start model that never answers in the format gets reward 0 on every sample, and
// groups whose G rewards are all equal (all wrong, or all right) give every token advantage 0.
// Either way the charts stay flat while the run burns minutes; the Train page warns before Start
// (from the start model's last held-out evaluation) and during the run (from its step rows).
import type { MetricRow } from './metrics';

/** Format rates at or below this are "no format". */
export const NO_FORMAT = 0.05;
/** Consecutive steps with every group equal before the run view warns. */
export const EQUAL_STEPS = 3;

export interface SignalWarning {
  title: string;
  advice: string;
}

/** The start model's last held-out evaluation, from its run's rows, at or before `step` (its checkpoint). */
export function lastEvalAt(rows: readonly MetricRow[], step?: number): MetricRow | null {
  const evals = rows.filter((r) => r.type === 'eval' && (step === undefined || r.step <= step));
  return evals.length ? evals[evals.length - 1] : null;
}

/** Before Start: a start model whose last evaluation shows (almost) no answers in the format. */
export function startModelWarning(lastEval: MetricRow | null): SignalWarning | null {
  const f = lastEval?.format_rate;
  if (typeof f !== 'number' || f > NO_FORMAT) return null;
  return {
    title: `The start model answered in the <think>…</think><answer>…</answer> format on ${(100 * f).toFixed(0)}% of its held-out questions (step ${lastEval!.step}).`,
    advice:
      "GRPO's reward is 0 for every answer without the format, so every group would be all zeros: no learning signal. Train SFT longer (until the held-out format is near 100%) and start GRPO from that checkpoint.",
  };
}

/** During a run: the last EQUAL_STEPS steps had no group with a reward spread, or no answer in the format. */
export function liveSignalWarning(rows: readonly MetricRow[], promptsPerStep: number): SignalWarning | null {
  const steps = rows.filter((r) => r.type === 'step');
  if (steps.length < EQUAL_STEPS) return null;
  const recent = steps.slice(-EQUAL_STEPS);
  const num = (r: MetricRow, k: string) => (typeof r[k] === 'number' ? (r[k] as number) : NaN);
  if (recent.every((r) => num(r, 'format_rate') <= NO_FORMAT)) {
    return {
      title: `No learning signal: almost no sampled answer had the format in the last ${EQUAL_STEPS} steps, so every reward was 0.`,
      advice: 'Stop this run, train SFT longer (held-out format near 100%), and start GRPO from that checkpoint.',
    };
  }
  if (recent.every((r) => num(r, 'groups_equal') >= promptsPerStep)) {
    const allRight = recent.every((r) => num(r, 'reward_mean') >= 1);
    return {
      title: `No learning signal: in each of the last ${EQUAL_STEPS} steps every group's ${'G'} answers got the same reward, so every advantage was 0.`,
      advice: allRight
        ? "Every answer is right: these questions are too easy for the model. Use harder items (a higher synth level, or curation's pass-count filter)."
        : 'Every answer is wrong: train SFT longer, raise the temperature or the group size G, or use easier items.',
    };
  }
  return null;
}
