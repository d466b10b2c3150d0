// Evaluation bookkeeping on fixed responses: grading, pass@n, majority vote, summaries, the paper's
// rows and the printed table. No GPU: the sampler is replaced by a script.

import { describe, expect, it } from 'vitest';
import type { QAItem } from '../../src/task/schema';
import type { Model } from '../../src/model/model';
import type { ItemSamples } from '../../src/task/rollout';
import type { SampleOptions } from '../../src/task/rollout';
import { InputError } from '../../src/engine/errors';
import { majorityLetter, runEval, summarizeBenchmark, gradeResponse, type EvalRecord, type Sampler } from '../../src/eval/run';
import { formatEvalTable, evalReportJson, paperComparison } from '../../src/eval/report';
import { PAPER_BENCHMARKS, PAPER_ROWS, selectPaperRows } from '../../src/eval/paper';
import { tinyTokenizer } from './run-helpers';

const item = (q: string, options: Record<string, string>, label: string, i = 0): QAItem => ({
  images: [],
  question: q,
  options,
  answer_label: label,
  answer: options[label],
  dataset_name: 'fixture',
  dataset_index: i,
  hash: `h${i}`,
});
const ans = (x: string) => `<think>because</think>\n<answer>${x}</answer>`;

/** A sampler that answers from a table: greedy -> one text, sampled -> the listed texts in order. */
function scripted(table: Map<string, { greedy: string; samples?: string[] }>, calls: SampleOptions[] = []): Sampler {
  return async (_m, _t, items, o) => {
    calls.push(o);
    return items.map((it): ItemSamples => {
      const row = table.get(it.question)!;
      const texts = o.greedy ? [row.greedy] : row.samples!.slice(0, o.n);
      return {
        item: it,
        prompt: { ids: [1], patches: new Float32Array(0), nImages: 0 },
        responses: texts.map((text) => ({ ids: [1, 2, 3], text, logps: [0, 0, 0], finished: true })),
      };
    });
  };
}

const fakeModel = (ctx = 4096) => ({ cfg: { text: { maxPositionEmbeddings: ctx } } }) as unknown as Model;

describe('majority vote and pass@n', () => {
  it('majority: most votes wins, unparsed answers do not vote, ties go to the earliest first vote', () => {
    expect(majorityLetter(['B', 'A', 'B', null])).toBe('B');
    expect(majorityLetter([null, 'C', 'A', 'A', 'C'])).toBe('C');
    expect(majorityLetter(['A', 'C', 'C', 'A'])).toBe('A');
    expect(majorityLetter([null, null])).toBeNull();
    expect(majorityLetter([])).toBeNull();
    expect(majorityLetter([null, null, 'D'])).toBe('D');
  });

  it('grades with the paper grader: last <answer> block, letter, "L. text" or text', () => {
    const it = item('q', { A: 'Yes', B: 'No' }, 'B');
    expect(gradeResponse(it, ans('B'))).toMatchObject({ extracted: 'B', pred_letter: 'B', correct: true });
    expect(gradeResponse(it, `${ans('A')} then ${ans('b. no')}`)).toMatchObject({ extracted: 'b. no', pred_letter: 'B', correct: true });
    expect(gradeResponse(it, 'The answer is Yes')).toMatchObject({ extracted: 'Yes', pred_letter: 'A', correct: false });
    expect(gradeResponse(it, 'nothing useful')).toMatchObject({ pred_letter: null, correct: false });
  });

  it('runEval on scripted responses: accuracy, pass@n, majority and sample accuracy per benchmark, unweighted average', async () => {
    const opts = { A: 'Yes', B: 'No', C: 'Maybe' };
    const qs = [item('q1', opts, 'A', 1), item('q2', opts, 'B', 2), item('q3', opts, 'C', 3), item('q4', opts, 'A', 4)];
    const table = new Map([
      // greedy right; samples: 1 of 3 right; majority B (wrong)
      ['q1', { greedy: ans('A'), samples: [ans('B'), ans('A'), ans('B')] }],
      // greedy wrong; samples never right; majority tie A/C -> A (first vote)
      ['q2', { greedy: ans('A'), samples: [ans('A'), ans('C'), 'no answer here'] }],
      // greedy right by text; samples all right in different spellings
      ['q3', { greedy: ans('Maybe'), samples: [ans('C'), ans('c. maybe'), 'Answer: C'] }],
      // greedy unparsable; samples 2 of 3 right -> majority right
      ['q4', { greedy: 'I think so', samples: [ans('A'), ans('B'), ans('Yes')] }],
    ]);
    const calls: SampleOptions[] = [];
    const records: EvalRecord[] = [];
    const { summary } = await runEval(
      fakeModel(),
      tinyTokenizer().tok,
      [
        { name: 'one', items: qs.slice(0, 2) },
        { name: 'two', items: qs.slice(2) },
      ],
      { maxNewTokens: 16, n: 3, temperature: 0.7, topP: 0.9, sampler: scripted(table, calls), onRecord: (r) => records.push(r) },
    );

    expect(records.map((r) => r.correct)).toEqual([true, false, true, false]);
    expect(records.map((r) => r.pass_at_n)).toEqual([true, false, true, true]);
    expect(records.map((r) => r.majority_letter)).toEqual(['B', 'A', 'C', 'A']);
    expect(records.map((r) => r.majority_correct)).toEqual([false, false, true, true]);
    const [one, two] = summary.benchmarks;
    expect(one).toMatchObject({
      name: 'one',
      items: 2,
      correct: 1,
      accuracy: 0.5,
      n: 3,
      pass_at_n: 0.5,
      majority_accuracy: 0,
      skipped: 0,
      unfinished: 0,
      without_images: 0,
    });
    expect(one.sample_accuracy).toBeCloseTo(1 / 6, 12);
    expect(two).toMatchObject({ name: 'two', items: 2, correct: 1, accuracy: 0.5, pass_at_n: 1, majority_accuracy: 1 });
    expect(two.sample_accuracy).toBeCloseTo(5 / 6, 12);
    expect(summary.average).toEqual({ accuracy: 0.5, pass_at_n: 0.75, majority_accuracy: 0.5 });
    // Greedy calls are greedy; sampled calls carry the temperature and top-p; budgets are the full maxNewTokens.
    expect(calls.filter((c) => c.greedy).every((c) => c.n === 1)).toBe(true);
    expect(calls.filter((c) => !c.greedy).every((c) => c.n === 3 && c.temperature === 0.7 && c.topP === 0.9)).toBe(true);
    expect(calls.every((c) => c.maxNewTokens === 16)).toBe(true);
    expect(summary.settings).toMatchObject({ n: 3, max_new_tokens: 16, temperature: 0.7, top_p: 0.9 });
  });

  it('limit takes the first items; budgets shrink to fit the context; bad arguments are InputErrors naming the benchmark', async () => {
    const { tok } = tinyTokenizer();
    const qs = Array.from({ length: 5 }, (_, i) => item(`question number ${i}`, { A: 'x', B: 'y' }, 'A', i));
    const table = new Map(qs.map((q) => [q.question, { greedy: ans('A') }]));
    const calls: SampleOptions[] = [];
    const ctx = 200;
    const { records } = await runEval(fakeModel(ctx), tok, [{ name: 'b', items: qs }], { maxNewTokens: 1000, limit: 3, sampler: scripted(table, calls) });
    expect(records.map((r) => r.dataset_index)).toEqual([0, 1, 2]);
    for (const c of calls) expect(c.maxNewTokens).toBe(ctx - Math.max(...records.map((r) => r.prompt_tokens)));

    const run = (b: { name: string; items: QAItem[] }[], o = {}) => runEval(fakeModel(), tok, b, { maxNewTokens: 4, sampler: scripted(table), ...o });
    await expect(
      run([
        { name: 'b', items: qs },
        { name: 'empty', items: [] },
      ]),
    ).rejects.toThrow(/no usable items in empty/);
    await expect(
      run([
        { name: 'b', items: qs },
        { name: 'b', items: qs },
      ]),
    ).rejects.toThrow(/b is listed twice/);
    await expect(run([{ name: 'b', items: qs }], { n: 0 })).rejects.toBeInstanceOf(InputError);
    await expect(run([{ name: 'b', items: qs }], { limit: 0 })).rejects.toBeInstanceOf(InputError);
  });

  it('records of a long benchmark are handed out slice by slice, in source order, while the run goes on', async () => {
    const { tok } = tinyTokenizer();
    const qs = Array.from({ length: 300 }, (_, i) => item(`q ${i}`, { A: 'x', B: 'y' }, i % 2 ? 'B' : 'A', i));
    const table = new Map(qs.map((q) => [q.question, { greedy: ans('A') }]));
    const calls: SampleOptions[] = [];
    const seenAt: number[] = [];
    const idx: number[] = [];
    const { summary } = await runEval(fakeModel(), tok, [{ name: 'long', items: qs }], {
      maxNewTokens: 4,
      batchSize: 16,
      sampler: scripted(table, calls),
      onRecord: (r) => {
        idx.push(r.dataset_index);
        seenAt.push(calls.length);
      },
    });
    expect(idx).toEqual(qs.map((q) => q.dataset_index));
    // 128 items per slice, 64 per sampler call: each slice's records come after its own calls, before the next slice's.
    expect(calls).toHaveLength(5);
    expect([seenAt[0], seenAt[127], seenAt[128], seenAt[255], seenAt[256], seenAt[299]]).toEqual([2, 2, 4, 4, 5, 5]);
    expect(new Set(calls.map((c) => c.seed)).size).toBe(5);
    expect(summary.benchmarks[0]).toMatchObject({ items: 300, correct: 150, accuracy: 0.5 });
  });

  it('records and summaries count the images a model answered without', async () => {
    const opts = { A: 'Yes', B: 'No' };
    const img = (name: string) => ({ name, load: async () => new Uint8Array(0) });
    const items = [
      { ...item('q1', opts, 'A', 1), images: [img('a.png')] },
      { ...item('q2', opts, 'B', 2), images: [img('b.png'), img('c.png')] },
      item('q3', opts, 'A', 3),
      { ...item('q4', opts, 'B', 4), images: [img('d.png')] },
    ];
    // The sampler reports what the model saw: q1 nothing, q2 one of two, q4 its image.
    const seen = new Map([
      ['q1', 0],
      ['q2', 1],
      ['q3', 0],
      ['q4', 1],
    ]);
    const sampler: Sampler = async (_m, _t, its) =>
      its.map(
        (it): ItemSamples => ({
          item: it,
          prompt: { ids: [1], patches: new Float32Array(0), nImages: seen.get(it.question)! },
          responses: [{ ids: [1], text: ans('A'), logps: [0], finished: true }],
        }),
      );
    const { records, summary } = await runEval(fakeModel(), tinyTokenizer().tok, [{ name: 'vqa', items }], { maxNewTokens: 8, sampler });
    expect(records.map((r) => r.images_unseen)).toEqual([1, 1, undefined, undefined]);
    expect(summary.benchmarks[0]).toMatchObject({ items: 4, without_images: 2, correct: 2 });
    expect(formatEvalTable(summary, 'm', [])).toContain(
      'items answered without (some of) their images (a text-only model sees none, a pretrained VLM only the first): vqa 2/4.',
    );
  });

  it('summaries count skipped and unfinished items, and skipped ones are wrong', () => {
    const base = {
      benchmark: 'b',
      dataset_name: 'd',
      hash: '',
      question: '',
      options: { A: 'x' },
      answer_label: 'A',
      answer: 'x',
      prompt: '',
      prompt_tokens: 1,
      response: '',
      extracted: '',
      pred_letter: null,
      response_tokens: 0,
    };
    const recs: EvalRecord[] = [
      { ...base, dataset_index: 0, correct: true, finished: true },
      { ...base, dataset_index: 1, correct: false, finished: false },
      { ...base, dataset_index: 2, correct: false, finished: false, skipped: 'too long' },
    ];
    expect(summarizeBenchmark('b', recs, 1)).toEqual({ name: 'b', items: 3, correct: 1, accuracy: 1 / 3, skipped: 1, unfinished: 1, without_images: 0 });
  });
});

describe("the paper's rows and the report table", () => {
  it('paper rows are transcribed consistently: each printed Avg. is the mean of its six columns', () => {
    expect(PAPER_ROWS).toHaveLength(14);
    expect(PAPER_BENCHMARKS.reduce((a, b) => a + b.items, 0)).toBe(8216);
    for (const r of PAPER_ROWS) {
      const six = PAPER_BENCHMARKS.map((b) => r.scores[b.key]);
      expect(six.every((x) => x > 0 && x < 100)).toBe(true);
      expect(Math.abs(six.reduce((a, b) => a + b, 0) / 6 - r.avg)).toBeLessThanOrEqual(0.006);
    }
    expect(PAPER_ROWS.find((r) => r.model === '3B RL(m23k)')!.scores['vqa-rad']).toBe(71.08);
    expect(selectPaperRows(['gpt-4o']).map((r) => r.model)).toEqual(['GPT-4o']);
    expect(selectPaperRows(['7b rl']).map((r) => r.model)).toEqual(['7B RL(m23k)', '7B RL(PMC)']);
  });

  it('the table puts the run beside labelled paper rows, averaging the paper over the same benchmarks', () => {
    const summary = {
      benchmarks: [
        { name: 'vqa-rad', items: 4, correct: 1, accuracy: 0.25, skipped: 0, unfinished: 2, without_images: 0 },
        { name: 'slake', items: 4, correct: 3, accuracy: 0.75, skipped: 1, unfinished: 0, without_images: 0 },
        { name: 'medqa', items: 2, correct: 1, accuracy: 0.5, skipped: 0, unfinished: 0, without_images: 1 },
      ],
      average: { accuracy: 0.5 },
      settings: { n: 1, limit: 4, max_new_tokens: 64, temperature: 1, top_p: 1, batch_size: 8, seed: 0, decoding: 'greedy' },
      seconds: 1,
      generated_tokens: 10,
    };
    const rows = selectPaperRows(['Qwen2.5-VL-3B', '3B RL(m23k)']);
    const table = formatEvalTable(summary, 'my-model', rows);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(/VQA-RAD\s+SLAKE\s+medqa\s+Avg\./);
    expect(table).toMatch(/this run: my-model \(greedy\)\s+25\.00\s+75\.00\s+50\.00\s+50\.00/);
    // Qwen2.5-VL-3B: VQA-RAD 62.01, SLAKE 61.30 -> mean 61.66 (rounded); no MedQA number; the paper's six-avg in brackets.
    expect(table).toMatch(/paper: Qwen2\.5-VL-3B-Instruct\s+62\.01\s+61\.30\s+—\s+61\.66 \[49\.14\]/);
    expect(table).toMatch(/paper: 3B RL\(m23k\)\s+71\.08\s+63\.38\s+—\s+67\.23 \[53\.19\]/);
    expect(table).toContain('not measured by this lab');
    expect(table).toContain('slake 1');
    expect(table).toContain('vqa-rad 2/4');
    expect(table).toContain('first 4 items per benchmark');
    expect(table).toContain('without (some of) their images (a text-only model sees none, a pretrained VLM only the first): medqa 1/2.');
    const json = evalReportJson(summary, 'my-model', rows);
    expect(json.paper.rows.map((r) => r.label)).toEqual(['paper: Qwen2.5-VL-3B-Instruct', 'paper: 3B RL(m23k)']);
    expect(json.paper.rows[0].scores).toEqual({ 'vqa-rad': 62.01, slake: 61.3, medqa: null });
    expect(paperComparison([{ name: 'medqa', accuracy: 0.5 }], rows).rows[0].avg_same_benchmarks).toBeNull();
    expect(formatEvalTable(summary, 'm', [])).not.toContain('paper:');
  });
});
