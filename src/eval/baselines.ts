// The two baselines a trained model is read against on a closed-question benchmark:
//   majority: always answer the most common answer of the training items ("Yes" on VQA-RAD), graded
//             by the paper's grader like any response (an item whose options lack it is wrong);
//   blind:    the same model with every image replaced by a blank one, so what it gets right
//             without looking is visible (closed medical questions have strong language priors).
import type { ImageRef, QAItem } from '../task/schema';
import { encodeGrayPng } from '../data/synth/png';
import { gradeAnswer } from '../task/grader';

/** The most common answer text of `items` (case-insensitive; ties go to the one seen first), as first written. */
export function majorityAnswer(items: Pick<QAItem, 'answer'>[]): string {
  if (items.length === 0) throw new Error('majorityAnswer: no items');
  const counts = new Map<string, { n: number; text: string }>();
  for (const it of items) {
    const k = it.answer.trim().toLowerCase();
    const c = counts.get(k);
    if (c) c.n++;
    else counts.set(k, { n: 1, text: it.answer.trim() });
  }
  let best: { n: number; text: string } | null = null;
  for (const c of counts.values()) if (!best || c.n > best.n) best = c;
  return best!.text;
}

/** Accuracy of answering `answer` to every item, graded by the paper's grader. */
export function constantAnswerAccuracy(items: Pick<QAItem, 'options' | 'answer_label' | 'answer'>[], answer: string): number {
  if (items.length === 0) return 0;
  const response = `<think> </think>\n<answer> ${answer} </answer>`;
  return items.filter((it) => gradeAnswer(response, it.options, it.answer_label, it.answer).correct).length / items.length;
}

/** A mid-gray square PNG: the blank image of the blind baseline. */
export function blankPng(side = 32, gray = 128): Uint8Array {
  return encodeGrayPng(new Uint8Array(side * side).fill(gray), side, side);
}

/** The items with every image replaced by one blank image (same names and count, so prompts are unchanged). */
export function withBlankImages(items: QAItem[], png: Uint8Array = blankPng()): QAItem[] {
  return items.map((it) => ({
    ...it,
    images: it.images.map((im): ImageRef => ({ ...im, load: async () => png })),
  }));
}
