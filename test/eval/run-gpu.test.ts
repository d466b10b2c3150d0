// Evaluation runs on the GPU with tiny models on real VQA-RAD test items (read in place from
// ../shared/data): a scripted model whose answers are known in advance gives exact accuracies, and
// the records are re-graded here independently of the run.

import { describe, expect, it, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { loadVqaRad } from '../../src/data/loaders';
import type { QAItem } from '../../src/task/schema';
import { loadModel } from '../../src/node/checkpoint';
import type { Model } from '../../src/model/model';
import { runEval, type EvalRecord } from '../../src/eval/run';
import { testGpu } from '../helpers/gpu';
import { HAS_DATA, NO_DATA_MESSAGE, realSource } from '../data/helpers';
import { scriptedResponse, tinyModel, type TinyModel } from './run-helpers';

const sha16 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex').slice(0, 16);

/** The grader's rule (recipe §6) for the two response shapes the scripted model can produce. */
function expectedCorrect(item: QAItem, response: string): boolean {
  const m = /<answer>([\s\S]*?)<\/answer>/.exec(response);
  return m !== null && m[1].trim() === item.answer_label;
}

describe.skipIf(!HAS_DATA)(`evaluation runs on real VQA-RAD items (${HAS_DATA ? 'data present' : NO_DATA_MESSAGE})`, () => {
  let items: QAItem[];
  let tiny: TinyModel;
  let model: Model;

  beforeAll(async () => {
    const res = await loadVqaRad(realSource('vqa-rad'), { split: 'test' });
    // Gold letters of both kinds, and one "X or Y" item, so an always-A model is right only sometimes.
    const a = res.items.filter((it) => it.answer_label === 'A' && it.options.A === 'Yes').slice(0, 2);
    const b = res.items.filter((it) => it.answer_label === 'B').slice(0, 2);
    const alt = res.items.filter((it) => it.options.A !== 'Yes').slice(0, 1);
    items = [...a, ...b, ...alt];
    expect(items).toHaveLength(5);
    tiny = await tinyModel({ seed: 3, pA: 0.5 });
    model = (await loadModel(await testGpu(), tiny.dir)).model;
  });

  it('greedy accuracy is exactly the share of gold-A items for a model that always answers A, and records re-grade the same', async () => {
    const progress: number[] = [];
    const streamed: EvalRecord[] = [];
    const { summary, records } = await runEval(model, tiny.tok, [{ name: 'vqa-rad', items }], {
      maxNewTokens: 8,
      batchSize: 4,
      seed: 1,
      onProgress: (p) => progress.push(p.done),
      onRecord: (r) => streamed.push(r),
    });
    expect(records).toHaveLength(items.length);
    expect(streamed).toEqual(records);
    for (const [i, r] of records.entries()) {
      const it = items[i];
      expect(r.response).toBe(scriptedResponse('A'));
      expect(r.finished).toBe(true);
      expect(r.extracted).toBe('A');
      expect(r.pred_letter).toBe('A');
      expect(r.correct).toBe(expectedCorrect(it, r.response));
      expect(r.hash).toBe(sha16(it.question + it.answer));
      expect([r.dataset_index, r.answer_label, r.options]).toEqual([it.dataset_index, it.answer_label, it.options]);
      expect(r.prompt).toContain(`Question: ${it.question}`);
    }
    const goldA = items.filter((it) => it.answer_label === 'A').length;
    const b = summary.benchmarks[0];
    expect(b.correct).toBe(goldA);
    expect(b.accuracy).toBeCloseTo(goldA / items.length, 12);
    expect(b.accuracy).toBeCloseTo(records.filter((r) => r.correct).length / records.length, 12);
    expect(summary.average.accuracy).toBe(b.accuracy);
    expect(b.pass_at_n).toBeUndefined();
    // The model has a vision encoder: every item's scan went in.
    expect(items.every((it) => it.images.length === 1)).toBe(true);
    expect(b.without_images).toBe(0);
    expect(records.every((r) => r.images_unseen === undefined)).toBe(true);
    expect(progress[progress.length - 1]).toBe(items.length);
    // The count and the total are out before the first batch is decoded (a bar that says "working…" says nothing).
    expect(progress[0]).toBe(0);
    expect(progress.slice(1).every((d, i) => d >= progress[i])).toBe(true);
    // 7 response tokens each: <think> x </think> <answer> A </answer> <|im_end|>.
    expect(summary.generated_tokens).toBe(7 * items.length);
  });

  it('with n samples: pass@n, majority and sample accuracy agree with the sampled responses, over two benchmarks', async () => {
    const n = 3;
    const sets = [
      { name: 'first', items: [items[0], items[2]] },
      { name: 'second', items: [items[3], items[4]] },
    ];
    const { summary, records } = await runEval(model, tiny.tok, sets, { maxNewTokens: 8, batchSize: 6, n, seed: 7 });
    let letters = '';
    for (const r of records) {
      const it = items.find((x) => x.hash === r.hash)!;
      expect(r.samples).toHaveLength(n);
      for (const s of r.samples!) {
        expect([scriptedResponse('A'), scriptedResponse('B')]).toContain(s.response);
        expect(s.correct).toBe(expectedCorrect(it, s.response));
        letters += s.pred_letter;
      }
      const votes = { A: r.samples!.filter((s) => s.pred_letter === 'A').length, B: r.samples!.filter((s) => s.pred_letter === 'B').length };
      // n is odd and only A or B is ever said, so the majority is never tied.
      const majority = votes.A > votes.B ? 'A' : 'B';
      expect(r.majority_letter).toBe(majority);
      expect(r.majority_correct).toBe(majority === it.answer_label);
      expect(r.pass_at_n).toBe(r.samples!.some((s) => expectedCorrect(it, s.response)));
    }
    // Sampling at temperature 1 really mixes A and B (p = 0.5 each; a seeded run, 12 draws).
    expect(letters).toMatch(/A/);
    expect(letters).toMatch(/B/);
    for (const [k, set] of sets.entries()) {
      const recs = records.filter((r) => r.benchmark === set.name);
      const b = summary.benchmarks[k];
      expect(b.items).toBe(set.items.length);
      expect(b.pass_at_n).toBeCloseTo(recs.filter((r) => r.pass_at_n).length / recs.length, 12);
      expect(b.majority_accuracy).toBeCloseTo(recs.filter((r) => r.majority_correct).length / recs.length, 12);
      const all = recs.flatMap((r) => r.samples!);
      expect(b.sample_accuracy).toBeCloseTo(all.filter((s) => s.correct).length / all.length, 12);
    }
    const accs = summary.benchmarks.map((b) => b.accuracy);
    expect(summary.average.accuracy).toBeCloseTo((accs[0] + accs[1]) / 2, 12);
    // The same seed gives a benchmark the same samples, whichever benchmarks run beside it.
    const again = await runEval(model, tiny.tok, [sets[1]], { maxNewTokens: 8, batchSize: 6, n, seed: 7 });
    expect(again.records.map((r) => r.samples!.map((s) => s.response))).toEqual(records.slice(2).map((r) => r.samples!.map((s) => s.response)));
  });

  it('an item whose prompt does not fit the context is recorded as skipped and counted wrong', async () => {
    const long = { ...items[0], question: `${'Is there a rib fracture? '.repeat(60)}` };
    const { summary, records } = await runEval(model, tiny.tok, [{ name: 'vqa-rad', items: [items[0], long] }], { maxNewTokens: 8, batchSize: 4 });
    expect(records[1].skipped).toMatch(/context of 320 tokens/);
    expect(records[1].correct).toBe(false);
    expect(records[0].correct).toBe(true);
    expect(summary.benchmarks[0]).toMatchObject({ items: 2, correct: 1, accuracy: 0.5, skipped: 1 });
  });
});
