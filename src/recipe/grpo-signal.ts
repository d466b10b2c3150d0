// When GRPO has nothing to learn from, say so. Its advantage is a response's reward against its
// group's mean: a start model that never answers in the format gets reward 0 on every sample, and
// groups whose G rewards are all equal (all wrong, or all right) give every token advantage 0.
// Either way the charts stay flat while the run burns minutes; the Train page warns before Start
// (from the start model's last held-out evaluation) and during the run (from its step rows), and
// `thinker grpo` prints the same warnings as they first appear.
//
// A third failure has a signal but learns the wrong thing: the policy answers one option to nearly
// everything while the questions' right answers are mixed. GRPO with a fresh Adam moves every
// weight by about the lr, so too high a rate shifts the answer prior faster than the reading;
// the warning says so while the run can still be stopped.

import { gradeAnswer } from '../task/grader';

/** A metrics.jsonl row (the app's MetricRow has this shape). */
export type SignalRow = { type: string; step: number } & Record<string, unknown>;

/** Format rates at or below this are "no format". */
export const NO_FORMAT = 0.05;
/** Consecutive steps with every group equal before the run view warns. */
export const EQUAL_STEPS = 3;

/**
 * A step has collapsed when at least COLLAPSE_SHARE of its parsed answers name one option while
 * its prompts' right answers are mixed (the most common covers at most GOLD_MIXED of them); the
 * run view warns when COLLAPSE_STEPS of the last COLLAPSE_WINDOW steps have. Set from the
 * rollouts of 18 GRPO runs on the synth notes and scans (test/fixtures/grpo-answer-shares.json,
 * docs/recipe-results.md): it fires at step 4 or 5 of the three runs that pushed the scans to one
 * answer (RL on scans at lr 5e-4, 4 prompts a step; held-out scans 88 -> 59% and 72 -> 69% in
 * the bench, the other scans 22 -> 10 of 22 in the 32-scan run) and in none of the 15 others, the
 * curated mixed runs that gained most included (one step at 95% "No" there, none beside it).
 * It does not see a loss spread over several answers: the 16-prompt mixed arm of seed 1 lost
 * scans while its answers stayed spread over five options.
 */
export const COLLAPSE_SHARE = 0.85;
export const GOLD_MIXED = 0.75;
export const COLLAPSE_STEPS = 2;
export const COLLAPSE_WINDOW = 3;

/** One prompt's options, right answer and sampled responses. */
export interface AnsweredGroup {
  options: Record<string, string>;
  answerLabel: string;
  answer?: string;
  responses: readonly string[];
}

export interface AnswerShares {
  /** The option text (lower case) most sampled answers named; '' when none could be read. */
  answer_top: string;
  /** Its share of the answers the grader could match to an option (0 when none). */
  answer_top_share: number;
  /** The share of the prompts whose right answer is the most common right answer. */
  gold_top_share: number;
}

/**
 * What a step's answers say about collapse. Answers are compared by option text, not letter, so a
 * step mixing notes (Red / Yellow / Green) and scans (Yes / No) counts "Yes" as one answer.
 */
export function answerShares(groups: readonly AnsweredGroup[]): AnswerShares {
  const key = (t: string | undefined) => (t ?? '').trim().toLowerCase();
  const top = (counts: Map<string, number>): [string, number] => [...counts].reduce((a, b) => (b[1] > a[1] ? b : a), ['', 0]);
  const answers = new Map<string, number>();
  const golds = new Map<string, number>();
  let read = 0;
  for (const g of groups) {
    const gold = key(g.answer ?? g.options[g.answerLabel]);
    golds.set(gold, (golds.get(gold) ?? 0) + 1);
    for (const r of g.responses) {
      const { predLetter } = gradeAnswer(r, g.options, g.answerLabel, g.answer);
      if (predLetter === null) continue;
      const a = key(g.options[predLetter]);
      answers.set(a, (answers.get(a) ?? 0) + 1);
      read++;
    }
  }
  const [answerTop, n] = top(answers);
  return { answer_top: answerTop, answer_top_share: read ? n / read : 0, gold_top_share: groups.length ? top(golds)[1] / groups.length : 0 };
}

export interface SignalWarning {
  title: string;
  advice: string;
}

/** The start model's last held-out evaluation, from its run's rows, at or before `step` (its checkpoint). */
export function lastEvalAt(rows: readonly SignalRow[], step?: number): SignalRow | null {
  const evals = rows.filter((r) => r.type === 'eval' && (step === undefined || r.step <= step));
  return evals.length ? evals[evals.length - 1] : null;
}

/** Before Start: a start model whose last evaluation shows (almost) no answers in the format. */
export function startModelWarning(lastEval: SignalRow | null): SignalWarning | null {
  const f = lastEval?.format_rate;
  if (typeof f !== 'number' || f > NO_FORMAT) return null;
  return {
    title: `The start model answered in the <think>…</think><answer>…</answer> format on ${(100 * f).toFixed(0)}% of its held-out questions (step ${lastEval!.step}).`,
    advice:
      "GRPO's reward is 0 for every answer without the format, so every group would be all zeros: no learning signal. Train SFT longer (until the held-out format is near 100%) and start GRPO from that checkpoint.",
  };
}

/** During a run: the last EQUAL_STEPS steps had no group with a reward spread, or no answer in the format. */
export function liveSignalWarning(rows: readonly SignalRow[], promptsPerStep: number): SignalWarning | null {
  const steps = rows.filter((r) => r.type === 'step');
  if (steps.length < EQUAL_STEPS) return null;
  const recent = steps.slice(-EQUAL_STEPS);
  const num = (r: SignalRow, k: string) => (typeof r[k] === 'number' ? (r[k] as number) : NaN);
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
  const window = steps.slice(-COLLAPSE_WINDOW);
  const collapsed = window.filter((r) => num(r, 'answer_top_share') >= COLLAPSE_SHARE && num(r, 'gold_top_share') <= GOLD_MIXED);
  if (window.length === COLLAPSE_WINDOW && collapsed.length >= COLLAPSE_STEPS) {
    const top = collapsed[collapsed.length - 1].answer_top;
    const named = typeof top === 'string' && top ? ` ("${top}")` : '';
    return {
      title: `Answer collapse: in ${collapsed.length} of the last ${COLLAPSE_WINDOW} steps at least ${100 * COLLAPSE_SHARE}% of the sampled answers named one option${named}, while the questions' right answers were mixed.`,
      advice:
        'The updates are moving the answer prior, not teaching the model to read the question; held-out accuracy on the other answer falls. Stop, and start again from the same checkpoint with a lower learning rate (on the synth scans, 5e-4 sent every scan to "Yes" by step 4; 1e-4 kept the rest right) or more prompts per step.',
    };
  }
  return null;
}
