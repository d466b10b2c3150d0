// Teacher traces and benchmark scoring through the pretrained backend, on real VQA-RAD items:
//  - distill keeps only traces whose answers grade correct, the first correct of each question,
//    with a teacher whose behaviour is known by construction (a hand-set "bigram" model that
//    always writes "<think>x|y</think><answer>A</answer>"), so the kept count is known in advance
//    and the rejection path runs too;
//  - runEval with the backend's sampler gives, item for item, the records the engine's own
//    sampler gives for the same weights (the same runner, grader and prompt).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { PretrainedBackend } from '../../src/pretrained/backend';
import { distill, reasoningOf, type DistillSample } from '../../src/pretrained/distill';
import type { QAItem } from '../../src/task/schema';
import { loadVqaRad } from '../../src/data/loaders';
import { tokenizerFromJson, type TextTokenizer } from '../../src/io/tokenizer';
import { promptText } from '../../src/task/prompt';
import { chatPrompt } from '../../src/io/chat';
import { computeReward } from '../../src/task/reward';
import { gradeAnswer } from '../../src/task/grader';
import { runEval } from '../../src/eval/run';
import { loadModel } from '../../src/node/checkpoint';
import { testGpu } from '../helpers/gpu';
import { HAS_DATA, NO_DATA_MESSAGE, realSource } from '../data/helpers';
import { labTokenizer, letterTeacher, smallTextConfig, spreadWeights, tempDir, labModelAndExport } from './fixtures';

const tmp = await tempDir('distill');
afterAll(() => tmp.cleanup());

const item = (answer_label: string, i = 0): QAItem => ({
  images: [],
  question: `q${i}`,
  options: { A: 'Yes', B: 'No' },
  answer_label,
  answer: answer_label === 'A' ? 'Yes' : 'No',
  dataset_name: 't',
  dataset_index: i,
  hash: `h${i}`,
});

describe('distill (any sampler)', () => {
  it('keeps the first correct response per question and drops questions with none', async () => {
    const script: Record<string, string[]> = {
      q0: ['<think>wrong</think><answer>B</answer>', '<think>first good</think><answer>A</answer>', '<think>second good</think><answer>A</answer>'],
      q1: ['<think>a</think><answer>A</answer>', 'B', '<think>c</think><answer>A</answer>'],
      // Right letter, broken format: the reward (default) rejects it, the grader accepts it.
      q2: ['I think the answer is: A', '<think>x</think><answer>B</answer>', 'no idea'],
    };
    const sampler = async (it: QAItem, n: number): Promise<DistillSample[]> => script[it.question].slice(0, n).map((text) => ({ text, finished: true }));
    const items = [item('A', 0), item('B', 1), item('A', 2)];
    const r = await distill(items, sampler, { n: 3 });
    expect(r).toMatchObject({ total: 3, withTrace: 1, samples: 9 });
    expect(r.records.map((x) => x.kept)).toEqual([1, null, null]);
    expect(r.items).toEqual([{ ...items[0], reasoning: 'first good' }]);
    const g = await distill(items, sampler, { n: 3, grade: 'grader' });
    expect(g.records.map((x) => x.kept)).toEqual([1, 1, 0]);
    expect(g.items.map((x) => x.reasoning)).toEqual(['first good', '', '']);
    await expect(distill(items, sampler, { n: 0 })).rejects.toThrow(/n must be an integer >= 1/);
    expect(r.withoutImages).toBe(0);
  });

  it('counts the questions a teacher answered without (some of) their images', async () => {
    const img = (name: string) => ({ name, load: async () => new Uint8Array(0) });
    const items = [{ ...item('A', 0), images: [img('a.png'), img('b.png')] }, { ...item('A', 1), images: [img('c.png')] }, item('B', 2)];
    // Saw one of q0's two images, all of q1's, and q2 has none.
    const seen: Record<string, number | undefined> = { q0: 1, q1: undefined, q2: 0 };
    const sampler = async (it: QAItem, n: number): Promise<DistillSample[]> =>
      Array.from({ length: n }, () => ({ text: '<think>t</think><answer>A</answer>', finished: true, imagesSeen: seen[it.question] }));
    const r = await distill(items, sampler, { n: 2 });
    expect(r.records.map((x) => x.images_unseen)).toEqual([1, undefined, undefined]);
    expect(r.withoutImages).toBe(1);
  });

  it('reads the reasoning from the think block, else from what precedes the answer', () => {
    expect(reasoningOf('<think> step 1\nstep 2 </think>\n<answer> A </answer>')).toBe('step 1\nstep 2');
    expect(reasoningOf('Because of X.\n<answer>A</answer>')).toBe('Because of X.');
    expect(reasoningOf('Because of X.\nThe answer is: A')).toBe('Because of X.');
    expect(reasoningOf('A')).toBe('');
  });
});

describe.skipIf(!HAS_DATA)(`pretrained backend on real VQA-RAD items (${HAS_DATA ? 'present' : NO_DATA_MESSAGE})`, () => {
  let items: QAItem[];
  let tok: TextTokenizer;
  let files: Record<string, string>;

  beforeAll(async () => {
    const res = await loadVqaRad(realSource('vqa-rad'), { split: 'test', limit: 40 });
    // Three questions whose gold is A and two whose gold is B, in source order.
    const a = res.items.filter((x) => x.answer_label === 'A').slice(0, 3);
    const b = res.items.filter((x) => x.answer_label === 'B').slice(0, 2);
    items = [...a, ...b].sort((p, q) => p.dataset_index - q.dataset_index);
    expect(items).toHaveLength(5);
    const t = labTokenizer();
    files = t.files;
    tok = tokenizerFromJson(t.bpe.tokenizerJson, t.bpe.tokenizerConfig, 'test tokenizer');
  });

  it('distill keeps only traces that grade correct: the A questions, each with its think text', async () => {
    const { cfg, weights } = letterTeacher(tok);
    // The prompt ends with the newline the teacher answers with <think>.
    const p = tok.encode(chatPrompt(promptText(items[0]), 0, 0), { addSpecialTokens: false });
    expect(tok.decode([p[p.length - 1]])).toBe('\n');
    const { exported } = await labModelAndExport(path.join(tmp.dir, 'teacher'), cfg, weights, files);
    const b = new PretrainedBackend({ store: null, defaultDevice: 'cpu', numThreads: 1 });
    await b.load({ model: exported });
    const progress: number[] = [];
    const r = await b.distill(items, { n: 4, maxNewTokens: 12, seed: 3, onProgress: (d) => progress.push(d) });
    expect(progress).toEqual([4, 8, 12, 16, 20]);
    const goldA = items.filter((x) => x.answer_label === 'A');
    expect(r).toMatchObject({ total: 5, withTrace: goldA.length, samples: 20 });
    // A text model: every scan question was answered from its text alone, and the result says so.
    expect(items.every((x) => x.images.length === 1)).toBe(true);
    expect(r.withoutImages).toBe(5);
    expect(r.records.map((x) => x.images_unseen)).toEqual([1, 1, 1, 1, 1]);
    expect(r.items.map((x) => x.hash)).toEqual(goldA.map((x) => x.hash));
    const thinks = new Set<string>();
    for (const rec of r.records) {
      for (const s of rec.responses) {
        expect(s.text).toMatch(/^<think>[xy]<\/think><answer>A<\/answer>$/);
        expect(s.finished).toBe(true);
        thinks.add(s.text.slice(7, 8));
        // Each response's grade is the recipe reward's, and agrees with the paper's grader here.
        expect(s.correct).toBe(computeReward(s.text, rec.item.options, rec.item.answer_label, rec.item.answer) === 1);
        expect(s.correct).toBe(gradeAnswer(s.text, rec.item.options, rec.item.answer_label, rec.item.answer).correct);
      }
      if (rec.item.answer_label === 'A') {
        expect(rec.kept).toBe(0);
        expect(rec.reasoning).toBe(rec.responses[0].text.slice(7, 8));
      } else {
        expect(rec.kept).toBeNull();
        expect(rec.responses.every((s) => !s.correct)).toBe(true);
      }
    }
    // Sampling, not greedy decoding: both think words occur over 20 draws.
    expect([...thinks].sort()).toEqual(['x', 'y']);
    // Every kept item carries its trace and grades correct with it.
    for (const k of r.items) {
      expect(k.reasoning).toMatch(/^[xy]$/);
      expect(computeReward(`<think>${k.reasoning}</think><answer>${k.answer_label}</answer>`, k.options, k.answer_label, k.answer)).toBe(1);
    }
    // The same seed draws the same traces.
    const again = await b.distill(items, { n: 4, maxNewTokens: 12, seed: 3 });
    expect(again.records.map((x) => x.responses.map((s) => s.text))).toEqual(r.records.map((x) => x.responses.map((s) => s.text)));
  });

  it("runEval with the backend's sampler gives the engine's records for the same weights", async () => {
    const cfg = smallTextConfig(tok.vocabSize, { maxPositionEmbeddings: 1024 });
    const { lab, exported } = await labModelAndExport(path.join(tmp.dir, 'eval'), cfg, spreadWeights(cfg, 9), files);
    const b = new PretrainedBackend({ store: null, defaultDevice: 'cpu', numThreads: 1 });
    await b.load({ model: exported });
    const seen: number[] = [];
    const bench = [{ name: 'vqa-rad', items }];
    const got = await b.evaluate(bench, { maxNewTokens: 6, onProgress: (p) => seen.push(p.done) });
    expect(seen.at(-1)).toBe(items.length);

    const gpu = await testGpu();
    const { model } = await loadModel(gpu, lab);
    const want = await runEval(model, tok, bench, { maxNewTokens: 6, batchSize: 1 });
    model.release();
    const pick = (r: (typeof want.records)[number]) => ({
      response: r.response,
      prompt_tokens: r.prompt_tokens,
      response_tokens: r.response_tokens,
      finished: r.finished,
      correct: r.correct,
      pred_letter: r.pred_letter,
    });
    expect(got.records.map(pick)).toEqual(want.records.map(pick));
    expect(got.summary.benchmarks[0]).toEqual(want.summary.benchmarks[0]);
    expect(got.records.some((r) => r.response.length > 0)).toBe(true);
  });
});
