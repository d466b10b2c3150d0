// The periodic held-out evaluation of a training run (SFT and GRPO): greedy answers scored with the
// reward's format gate and the paper's grader, plus the data fingerprint a run records.
import type { QAItem } from '../task/schema';
import type { TextTokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import { gradeAnswer } from '../task/grader';
import { checkFormat, computeReward } from '../task/reward';
import type { EncodedPrompt } from '../task/encode';
import { sampleResponses } from '../task/rollout';

/** Fingerprint of strings (e.g. item hashes): FNV-1a 64-bit, order-sensitive, in hex. */
export function fingerprint(parts: string[]): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = (1n << 64n) - 1n;
  for (const p of parts) {
    for (let i = 0; i < p.length; i++) h = ((h ^ BigInt(p.charCodeAt(i))) * prime) & mask;
    // A separator, so ["ab", "c"] and ["a", "bc"] differ.
    h = ((h ^ 0x1fn) * prime) & mask;
  }
  return h.toString(16).padStart(16, '0');
}

export interface EvalSample {
  index: number;
  question: string;
  gold: string;
  response: string;
  format: boolean;
  correct: boolean;
}

export interface HeldOutEval {
  items: number;
  /** Responses whose whole text has the <think>...</think><answer>...</answer> shape (the reward's gate). */
  formatRate: number;
  /** Graded correct by the paper's grader (which does not require the format). */
  accuracy: number;
  /** Mean training reward: format and correct (recipe §5). */
  rewardMean: number;
  /** Responses that ended with the end-of-turn token within the budget. */
  finishedRate: number;
  meanResponseTokens: number;
  samples: EvalSample[];
  seconds: number;
}

/** Greedy answers to held-out items, scored with the reward's format gate and the grader. */
export async function evaluateHeldOut(
  model: Model,
  tok: TextTokenizer,
  items: QAItem[],
  o: {
    maxNewTokens: number;
    batchSize: number;
    newline: 'literal' | 'real';
    samples: number;
    prompts?: EncodedPrompt[];
    signal?: AbortSignal;
  },
): Promise<HeldOutEval> {
  const t0 = performance.now();
  const res = await sampleResponses(
    model,
    tok,
    items,
    {
      n: 1,
      greedy: true,
      maxNewTokens: o.maxNewTokens,
      batchSize: o.batchSize,
      prompt: { newline: o.newline },
      signal: o.signal,
    },
    o.prompts,
  );
  let format = 0,
    correct = 0,
    reward = 0,
    finished = 0,
    tokens = 0;
  const samples: EvalSample[] = [];
  res.forEach((r, index) => {
    const resp = r.responses[0];
    const f = checkFormat(resp.text);
    const c = gradeAnswer(resp.text, r.item.options, r.item.answer_label, r.item.answer).correct;
    format += f ? 1 : 0;
    correct += c ? 1 : 0;
    reward += computeReward(resp.text, r.item.options, r.item.answer_label, r.item.answer);
    finished += resp.finished ? 1 : 0;
    tokens += resp.ids.length;
    if (samples.length < o.samples) samples.push({ index, question: r.item.question, gold: r.item.answer_label, response: resp.text, format: f, correct: c });
  });
  const n = Math.max(1, items.length);
  return {
    items: items.length,
    formatRate: format / n,
    accuracy: correct / n,
    rewardMean: reward / n,
    finishedRate: finished / n,
    meanResponseTokens: tokens / n,
    samples,
    seconds: (performance.now() - t0) / 1000,
  };
}
