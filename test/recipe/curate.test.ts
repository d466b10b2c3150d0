// Difficulty curation without the GPU: the keep window, both orders and the histogram on fixed pass
// counts; pass counts from scripted responses graded with the reward; the recipe-schema JSONL round
// trip; and the verl RL parquet read back through hyparquet.

import { describe, expect, it } from 'vitest';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { QAItem } from '../../src/task/schema';
import { InputError } from '../../src/engine/errors';
import type { Model } from '../../src/model/model';
import type { ItemSamples, SampleOptions } from '../../src/task/rollout';
import { INSTRUCTION_LITERAL } from '../../src/task/prompt';
import { parquetColumns } from '../../src/data/parquet';
import {
  curate,
  DEFAULT_CURATE,
  formatHistogram,
  passCounts,
  passGrade,
  seededPermutation,
  verlParquet,
  verlRows,
  VERL_COLUMNS,
  type CurateSettings,
} from '../../src/recipe/curate';
import { loadRecipeJsonl, recipeRow } from '../../src/data/loaders/recipe';
import type { Sampler } from '../../src/eval/run';
import { pngFile, tempFolder } from '../data/helpers';
import { tinyTokenizer } from '../eval/run-helpers';

const counts = [0, 3, 16, 1, 7, 8, 2, 3, 0, 5, 1, 7, 12, 3, null, 4, 6, 1, 9, 3];
const entries = counts.map((passCount, id) => ({ id, passCount }));
const settings = (o: Partial<CurateSettings> = {}): CurateSettings => ({ ...DEFAULT_CURATE, ...o });

describe('curate: the keep window, the order and the histogram', () => {
  it("defaults are the recipe's: k 16, keep 1..7, shuffled with seed 42", () => {
    expect(DEFAULT_CURATE).toEqual({ k: 16, lo: 1, hi: 7, order: 'shuffle', seed: 42 });
  });

  it('a seeded permutation is a permutation, the same for the same seed, and another for another seed', () => {
    const p = seededPermutation(50, 42);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(seededPermutation(50, 42)).toEqual(p);
    expect(seededPermutation(50, 43)).not.toEqual(p);
    expect(p).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(seededPermutation(0, 1)).toEqual([]);
  });

  it('keeps exactly the pass counts in [lo, hi]; the histogram counts every scored item once', () => {
    const r = curate(entries, settings());
    const scored = counts.filter((c) => c !== null) as number[];
    expect(r.total).toBe(20);
    expect(r.unscored).toBe(1);
    expect(r.histogram).toHaveLength(17);
    expect(r.histogram.reduce((a, b) => a + b.items, 0)).toBe(scored.length);
    for (const b of r.histogram) {
      expect(b.items).toBe(scored.filter((c) => c === b.pass_count).length);
      expect(b.kept).toBe(b.pass_count >= 1 && b.pass_count <= 7 ? b.items : 0);
    }
    const want = entries
      .filter((e) => e.passCount !== null && e.passCount >= 1 && e.passCount <= 7)
      .map((e) => e.id)
      .sort((a, b) => a - b);
    expect(r.kept.map((e) => e.id).sort((a, b) => a - b)).toEqual(want);
    expect(r.histogram.reduce((a, b) => a + b.kept, 0)).toBe(r.kept.length);
    // 13 items with counts 1..7; the shuffle really moves them.
    expect(r.kept).toHaveLength(13);
    expect(r.kept.map((e) => e.id)).not.toEqual(want);
    expect(curate(entries, settings()).kept).toEqual(r.kept);
    expect(curate(entries, settings({ seed: 7 })).kept.map((e) => e.id)).not.toEqual(r.kept.map((e) => e.id));
  });

  it('easy-to-hard is the shuffled order stably sorted by pass count, highest first', () => {
    const shuffled = curate(entries, settings()).kept;
    const e2h = curate(entries, settings({ order: 'easy-to-hard' })).kept;
    // Independent construction: for each count from high to low, the shuffled items with that count in shuffled order.
    const want = [7, 6, 5, 4, 3, 2, 1].flatMap((c) => shuffled.filter((e) => e.passCount === c));
    expect(e2h.map((e) => e.id)).toEqual(want.map((e) => e.id));
    for (let i = 1; i < e2h.length; i++) expect(e2h[i - 1].passCount!).toBeGreaterThanOrEqual(e2h[i].passCount!);
  });

  it('other windows and k; bad settings and counts are InputErrors', () => {
    const r = curate(entries, settings({ lo: 0, hi: 16 }));
    expect(r.kept).toHaveLength(19);
    expect(curate([{ passCount: 2 }, { passCount: 4 }], settings({ k: 4, lo: 4, hi: 4 })).kept).toEqual([{ passCount: 4 }]);
    expect(() => curate(entries, settings({ lo: 5, hi: 3 }))).toThrow(/lo \(5\) must not exceed hi \(3\)/);
    expect(() => curate(entries, settings({ k: 4, hi: 7 }))).toThrow(/hi \(7\) must not exceed k \(4\)/);
    expect(() => curate(entries, settings({ order: 'hard-to-easy' as never }))).toThrow(InputError);
    expect(() => curate([{ passCount: 17 }], settings())).toThrow(/entry 0 has pass count 17, outside 0..16/);
    expect(() => curate([{ passCount: 1.5 }], settings())).toThrow(InputError);
  });

  it('the printed histogram lists every bin with items and kept counts', () => {
    const r = curate(entries, settings({ order: 'easy-to-hard' }));
    const text = formatHistogram(r, settings({ order: 'easy-to-hard' }));
    expect(text.split('\n')).toHaveLength(1 + 17 + 1);
    expect(text).toMatch(/^\s+3\s+4\s+4\s+#+$/m);
    expect(text).toMatch(/^\s+0\s+2\s+0\s+#+$/m);
    expect(text).toContain('total 20; kept 13 with pass count 1..7, order easy-to-hard');
    expect(text).toContain('1 not sampled');
  });
});

const mcq = (q: string, label: string, i: number, images: QAItem['images'] = []): QAItem => {
  const options = { A: 'Yes', B: 'No' };
  return { images, question: q, options, answer_label: label, answer: options[label as 'A' | 'B'], dataset_name: 'fixture', dataset_index: i, hash: `h${i}` };
};

describe('pass counts graded with the reward', () => {
  it('passGrade: the reward gates on format; the grader does not', () => {
    const it_ = mcq('q', 'A', 0);
    expect(passGrade(it_, '<think>x</think>\n<answer> A </answer>')).toBe(1);
    expect(passGrade(it_, '<answer>A</answer>')).toBe(0);
    expect(passGrade(it_, '<answer>A</answer>', 'grader')).toBe(1);
    expect(passGrade(it_, '<think>x</think><answer>A</answer>\n')).toBe(0);
    expect(passGrade(it_, '<think>x</think><answer>yes</answer>')).toBe(1);
  });

  it('counts the passing responses among k per item; items that do not fit the context have no count', async () => {
    const { tok } = tinyTokenizer();
    const ok = '<think>r</think><answer>A</answer>';
    const bad = '<think>r</think><answer>B</answer>';
    const script: Record<string, string[]> = {
      q0: [ok, ok, bad, ok],
      q1: [bad, bad, bad, bad],
      q2: [ok, '<answer>A</answer>', ok, 'A'],
    };
    const calls: SampleOptions[] = [];
    const sampler: Sampler = async (_m, _t, items, o) => {
      calls.push(o);
      return items.map(
        (it): ItemSamples => ({
          item: it,
          prompt: { ids: [1], patches: new Float32Array(0), nImages: 0 },
          responses: script[it.question].slice(0, o.n).map((text) => ({ ids: [1], text, logps: [0], finished: true })),
        }),
      );
    };
    const items = [mcq('q0', 'A', 0), mcq('q1', 'A', 1), mcq('q2', 'A', 2), mcq(`${'long '.repeat(400)}`, 'A', 3)];
    const model = { cfg: { text: { maxPositionEmbeddings: 256 } } } as unknown as Model;
    const got = await passCounts(model, tok, items, { k: 4, maxNewTokens: 32, seed: 5, sampler });
    expect(got.map((e) => e.passCount)).toEqual([3, 0, 2, null]);
    expect(got[0].grades).toEqual([1, 1, 0, 1]);
    expect(got[3].skipped).toMatch(/leaves no room/);
    expect(calls.every((c) => c.n === 4 && c.greedy === false && c.temperature === 1 && c.topP === 1)).toBe(true);
    const r = curate(got, settings({ k: 4, lo: 1, hi: 3 }));
    expect(r.kept.map((e) => e.item.question).sort()).toEqual(['q0', 'q2']);
    expect(r.unscored).toBe(1);
    await expect(passCounts(model, tok, items, { k: 0, maxNewTokens: 4, sampler })).rejects.toThrow(/k must be an integer >= 1/);
  });
});

describe('curated items out: recipe-schema JSONL and verl parquet', () => {
  const img1 = pngFile(3, 2, new Uint8Array(24).fill(90));
  const img2 = pngFile(2, 2, new Uint8Array(16).fill(10));

  it('JSONL rows in the recipe schema read back as the same items; bad lines are reported with their line', async () => {
    const { dir, source, cleanup } = await tempFolder({ 'imgs/a.png': img1, 'imgs/b.png': img2 });
    try {
      const withImg = {
        ...mcq('Is the lesion visible?', 'B', 12),
        images: [
          { name: 'imgs/a.png', load: async () => img1 },
          { name: 'imgs/b.png', load: async () => img2 },
        ],
        reasoning: 'look',
        split: 'train',
      };
      const text = mcq('Is aspirin an NSAID?', 'A', 3);
      const rows = [recipeRow(withImg, 5), recipeRow(text, 1)];
      expect(Object.keys(rows[0])).toEqual([
        'images',
        'question',
        'options',
        'answer_label',
        'answer',
        'reasoning',
        'dataset_name',
        'dataset_index',
        'hash',
        'split',
        'pass_count',
      ]);
      expect(rows[0].options).toBe('{"A":"Yes","B":"No"}');
      const lines = [
        ...rows.map((r) => JSON.stringify(r)),
        '{not json',
        JSON.stringify({ ...rows[1], answer_label: 'C' }),
        JSON.stringify({ ...rows[0], images: ['imgs/gone.png'] }),
      ];
      const { writeFile } = await import('node:fs/promises');
      await writeFile(`${dir}/items.jsonl`, `${lines.join('\n')}\n`);
      const res = await loadRecipeJsonl(source, 'items.jsonl');
      expect(res.items).toHaveLength(2);
      const [a, b] = res.items;
      expect([a.question, a.options, a.answer_label, a.answer, a.reasoning, a.dataset_name, a.dataset_index, a.hash, a.split]).toEqual([
        withImg.question,
        withImg.options,
        'B',
        'No',
        'look',
        'fixture',
        12,
        'h12',
        'train',
      ]);
      expect(await a.images[1].load()).toEqual(img2);
      expect(b.images).toEqual([]);
      expect(res.report.dropped.map((d) => [d.where, d.kind])).toEqual([
        ['items.jsonl:3', 'bad-input'],
        ['items.jsonl:4', 'bad-input'],
        ['items.jsonl:5', 'missing-image'],
      ]);
      expect(res.report.dropped[1].reason).toMatch(/gold letter "C" is not among the options A, B/);
      await expect(loadRecipeJsonl(source, 'items.jsonl', { onBad: 'stop' })).rejects.toThrow(/items.jsonl:3/);
    } finally {
      await cleanup();
    }
  });

  it('verl parquet: the exact columns, nested fields and values round-trip through hyparquet', async () => {
    const items = [
      {
        ...mcq('Is the lesion visible?', 'B', 12),
        images: [
          { name: 'imgs/a.png', load: async () => img1 },
          { name: 'imgs/b.png', load: async () => img2 },
        ],
      },
      mcq('Is aspirin an NSAID?', 'A', 3),
    ];
    const rows = await verlRows(items, { dataSource: 'lab-curated' });
    const bytes = verlParquet(rows);
    expect(parquetColumns(bytes, 'verl.parquet')).toEqual(['data_source', 'prompt', 'images', 'ability', 'reward_model', 'extra_info']);
    expect([...VERL_COLUMNS]).toEqual(['data_source', 'prompt', 'images', 'ability', 'reward_model', 'extra_info']);
    const file = bytes.slice().buffer as ArrayBuffer;
    const leaves = parquetMetadata(file)
      .schema.filter((s) => !s.num_children)
      .map((s) => s.name);
    expect(leaves).toEqual([
      'data_source',
      'role',
      'content',
      'bytes',
      'path',
      'ability',
      'style',
      'ground_truth',
      'split',
      'index',
      'question',
      'options',
      'answer_label',
      'answer',
      'dataset_name',
      'dataset_index',
    ]);
    // Unannotated binary (the image bytes) must stay binary, as Hugging Face readers see it.
    const back = (await parquetReadObjects({ file, utf8: false })) as Record<string, unknown>[];
    expect(back).toHaveLength(2);
    const [r0, r1] = back as any[];
    expect(r0.data_source).toBe('lab-curated');
    expect(r0.ability).toBe('medical_mcqa');
    expect(r0.prompt).toEqual([
      { role: 'user', content: `<image><image>${INSTRUCTION_LITERAL}\n\nQuestion: Is the lesion visible?\n\nOptions:\n\nA. Yes\n\nB. No` },
    ]);
    expect(r1.prompt[0].content.startsWith(INSTRUCTION_LITERAL)).toBe(true);
    expect(r0.images.map((im: { path: string }) => im.path)).toEqual(['imgs/a.png', 'imgs/b.png']);
    expect(new Uint8Array(r0.images[0].bytes)).toEqual(img1);
    expect(new Uint8Array(r0.images[1].bytes)).toEqual(img2);
    // A text-only row's images are null, not an empty list (hyparquet reads a null list as undefined).
    expect(r1.images ?? null).toBeNull();
    expect(r0.reward_model).toEqual({ style: 'rule', ground_truth: 'No' });
    expect(r0.extra_info).toEqual({
      split: 'train',
      index: 0n,
      question: 'Is the lesion visible?',
      options: '{"A":"Yes","B":"No"}',
      answer_label: 'B',
      answer: 'No',
      dataset_name: 'fixture',
      dataset_index: 12n,
    });
    expect(r1.extra_info.index).toBe(1n);
    expect(() => verlParquet([])).toThrow(/no rows/);
  });
});
