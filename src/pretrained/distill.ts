// Teacher traces (recipe §4): sample n responses per question from a strong model, keep the first
// one graded correct, and store its reasoning as the item's `reasoning` for SFT; questions with no
// correct response are dropped. The paper drew 3 samples per question from GPT-4o / DeepSeek-R1.
// The loop is independent of the model: any sampler (transformers.js, the lab's engine) feeds it.

import type { QAItem } from '../task/schema';
import { InputError } from '../engine/errors';
import { passGrade } from '../recipe/curate';

export interface DistillSample {
  text: string;
  finished: boolean;
  /** How many of the item's images the model saw writing it (absent: all of them). */
  imagesSeen?: number;
}

/** n responses for one item. */
export type ItemSampler = (item: QAItem, n: number, o: { seed: number; signal?: AbortSignal }) => Promise<DistillSample[]>;

export interface DistillOptions {
  /** Responses per question (the paper: 3). */
  n: number;
  /** reward: the recipe's training reward (think/answer format required, first answer block);
   * grader: the evaluation grader (any answer the paper's grader reads). Default reward, so every
   * kept trace has the shape SFT teaches. */
  grade?: 'reward' | 'grader';
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Each question's outcome as soon as it is known. */
  onRecord?: (r: DistillRecord) => void;
}

export interface DistillRecord {
  item: QAItem;
  responses: (DistillSample & { correct: boolean })[];
  /** Index of the kept response, or null when none was correct. */
  kept: number | null;
  reasoning: string | null;
  /** Images of the item the teacher answered without (a text-only teacher sees none); absent when none. */
  images_unseen?: number;
}

export interface DistillResult {
  /** The questions that got a correct trace, with `reasoning` set (recipe schema, ready for SFT). */
  items: QAItem[];
  records: DistillRecord[];
  total: number;
  withTrace: number;
  samples: number;
  /**
   * Questions the teacher answered without (some of) their images: a kept trace there reasons from
   * the text alone, which is not what SFT on image questions should copy.
   */
  withoutImages: number;
}

/**
 * The reasoning of a response: its first <think> block; without one (the grader also accepts bare
 * answers), the text before the last <answer> block, else every line before the last (the answer
 * line). A one-line answer has no reasoning.
 */
export function reasoningOf(response: string): string {
  const think = /<think>([\s\S]*?)<\/think>/.exec(response);
  if (think) return think[1].trim();
  const lastAnswer = response.lastIndexOf('<answer>');
  if (lastAnswer >= 0) return response.slice(0, lastAnswer).trim();
  const lines = response.trimEnd().split('\n');
  return lines.slice(0, -1).join('\n').trim();
}

function subSeed(seed: number, i: number): number {
  return Math.imul((seed >>> 0) ^ (i + 0x9e3779b9), 0x85ebca6b) >>> 0;
}

export async function distill(items: QAItem[], sample: ItemSampler, o: DistillOptions): Promise<DistillResult> {
  if (!Number.isInteger(o.n) || o.n < 1) throw new InputError('distill', `n must be an integer >= 1, got ${o.n}`);
  if (items.length === 0) throw new InputError('distill', 'no questions to distill');
  const grade = o.grade ?? 'reward';
  const records: DistillRecord[] = [];
  const kept: QAItem[] = [];
  const total = items.length * o.n;
  let done = 0;
  for (let i = 0; i < items.length; i++) {
    if (o.signal?.aborted) throw new Error('distillation cancelled');
    const item = items[i];
    const got = await sample(item, o.n, { seed: subSeed(o.seed ?? 0, i), signal: o.signal });
    if (got.length !== o.n) throw new Error(`distill: the sampler gave ${got.length} responses for ${o.n}`);
    const responses = got.map((r) => ({ ...r, correct: passGrade(item, r.text, grade) === 1 }));
    const k = responses.findIndex((r) => r.correct);
    const rec: DistillRecord = { item, responses, kept: k < 0 ? null : k, reasoning: k < 0 ? null : reasoningOf(responses[k].text) };
    const unseen = item.images.length - Math.min(...got.map((r) => r.imagesSeen ?? item.images.length));
    if (unseen > 0) rec.images_unseen = unseen;
    if (k >= 0) kept.push({ ...item, reasoning: rec.reasoning! });
    records.push(rec);
    done += o.n;
    o.onProgress?.(done, total);
    o.onRecord?.(rec);
  }
  return { items: kept, records, total: items.length, withTrace: kept.length, samples: total, withoutImages: records.filter((r) => r.images_unseen).length };
}
