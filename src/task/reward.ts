// The RLVR reward of the released runs (recipe §5): binary, with the format as a gate. It is not the
// evaluation grader (src/task/grader.ts): it reads the FIRST answer block, only a one-line one, and
// demands the whole response be exactly <think>...</think><answer>...</answer>. Python semantics as
// in grader.ts.

import { PY_WS, explainGrade, pyStrip } from './grader';

// re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", response, re.DOTALL): anchored at both
// ends, so a leading space or a trailing newline fails (JavaScript's `$` without the m flag matches
// only at the very end, unlike Python's `$`).
const FORMAT = new RegExp(`^<think>[\\s\\S]*?</think>[${PY_WS}]*<answer>[\\s\\S]*?</answer>$`);

// re.search(r"<answer>(.*?)</answer>", response): the first block on one line.
const FIRST_ANSWER = /<answer>([^\n]*?)<\/answer>/;

/** Whether the whole response has the required <think>...</think> <answer>...</answer> shape. */
export function checkFormat(response: string): boolean {
  return FORMAT.test(response);
}

/** The answer the reward reads: the first one-line <answer> block, else the whole response; stripped. */
export function extractRewardAnswer(response: string): string {
  const m = FIRST_ANSWER.exec(response);
  return pyStrip(m ? m[1] : response);
}

/** The accuracy half of the reward: the answer equals, ignoring case, the letter, "L. text" or the text. */
export function rewardAccuracy(response: string, answerLabel: string, answer: string): boolean {
  const p = extractRewardAnswer(response).toLowerCase();
  return p === answerLabel.toLowerCase() || p === `${answerLabel}. ${answer}`.toLowerCase() || p === answer.toLowerCase();
}

/** The training reward: 1 when the format holds and the answer is right, else 0. */
export function computeReward(response: string, options: Record<string, string>, answerLabel: string, answer?: string): 0 | 1 {
  if (!checkFormat(response)) return 0;
  return rewardAccuracy(response, answerLabel, answer ?? options[answerLabel] ?? '') ? 1 : 0;
}

/** What Ask shows under an answer to a multiple-choice question: the reward's format gate and what the grader read. */
export interface AskVerdict {
  format: boolean;
  /** The option the grader's reading matches, or null. */
  letter: string | null;
  /** The text the grader read (explainGrade). */
  extracted: string;
  /** Why the reading names no option, or that the <answer> was never closed; null when all is well. */
  why: string | null;
}

export function askVerdict(text: string, options: Record<string, string>): AskVerdict {
  const e = explainGrade(text, options, '');
  return { format: checkFormat(text), letter: e.predLetter, extracted: e.extracted, why: e.why };
}
