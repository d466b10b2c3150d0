// Difficulty curation (recipe.md §2): k sampled answers per training question, the pass count
// (how many the training reward §5 grades correct), a keep window [lo, hi] that drops questions the
// model never solves and ones it already solves too often, and the order training sees them in.
// Selection and ordering are a pure function of the pass counts (`curate`), separate from the GPU
// sampling that produces them (`passCounts`). Also the two ways a curated set leaves the lab: JSONL
// in the recipe's item schema, and verl's RL parquet (§8) for training at scale on a cluster.

import { parquetWriteBuffer } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';
import { InputError } from '../engine/errors';
import type { TextTokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import { seededRandom } from '../util/random';
import { optionsJson, type QAItem } from '../task/schema';
import { gradeAnswer } from '../task/grader';
import { sampleFitted, type Sampler } from '../eval/run';
import { computeReward } from '../task/reward';
import { promptText, type PromptOptions } from '../task/prompt';
import { CHAT } from '../io/chat';

export type CurateOrder = 'shuffle' | 'easy-to-hard';

export interface CurateSettings {
  /** Samples per question (recipe: 16). */
  k: number;
  /** Keep pass counts in [lo, hi] (recipe: 1..7 of 16). */
  lo: number;
  hi: number;
  order: CurateOrder;
  /** Shuffle seed (recipe: 42). */
  seed: number;
}

export const DEFAULT_CURATE: CurateSettings = { k: 16, lo: 1, hi: 7, order: 'shuffle', seed: 42 };

export function checkCurateSettings(s: CurateSettings, where = 'curate'): CurateSettings {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new InputError(where, `${name} must be an integer >= ${min}, got ${v}`);
  };
  int('k', s.k, 1);
  int('lo', s.lo, 0);
  int('hi', s.hi, 0);
  int('seed', s.seed, 0);
  if (s.lo > s.hi) throw new InputError(where, `lo (${s.lo}) must not exceed hi (${s.hi})`);
  if (s.hi > s.k) throw new InputError(where, `hi (${s.hi}) must not exceed k (${s.k}): a pass count is at most k`);
  if (s.order !== 'shuffle' && s.order !== 'easy-to-hard') throw new InputError(where, `order must be shuffle or easy-to-hard, got "${s.order}"`);
  return s;
}

/** What curation needs of an entry: its pass count, or null when it could not be sampled. */
export interface Counted {
  passCount: number | null;
}

export interface HistogramBin {
  pass_count: number;
  items: number;
  kept: number;
}

export interface CurateResult<T> {
  kept: T[];
  /** One bin per pass count 0..k: items with that count and how many were kept. */
  histogram: HistogramBin[];
  /** Entries with no pass count (not sampled), never kept. */
  unscored: number;
  total: number;
}

// Orders are reproducible from their seed in every host (util/random).

/**
 * A seeded permutation of 0..n-1 (Fisher-Yates). Reproducible in the lab, but not the same order as
 * the Python code's `datasets.shuffle(seed=42)`, which draws from NumPy's generator.
 */
export function seededPermutation(n: number, seed: number): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  const r = seededRandom(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/**
 * Keep the entries whose pass count is in [lo, hi], shuffle them with the seed, and for
 * easy-to-hard sort them stably by pass count, highest first (so equal counts keep the shuffled
 * order, as a stable sort after a shuffle does in the recipe).
 */
export function curate<T extends Counted>(entries: T[], s: CurateSettings): CurateResult<T> {
  checkCurateSettings(s);
  const histogram: HistogramBin[] = Array.from({ length: s.k + 1 }, (_, c) => ({ pass_count: c, items: 0, kept: 0 }));
  let unscored = 0;
  const keep: T[] = [];
  entries.forEach((e, i) => {
    const c = e.passCount;
    if (c === null) {
      unscored++;
      return;
    }
    if (!Number.isInteger(c) || c < 0 || c > s.k) throw new InputError('curate', `entry ${i} has pass count ${c}, outside 0..${s.k}`);
    histogram[c].items++;
    if (c >= s.lo && c <= s.hi) {
      histogram[c].kept++;
      keep.push(e);
    }
  });
  const perm = seededPermutation(keep.length, s.seed);
  let kept = perm.map((i) => keep[i]);
  if (s.order === 'easy-to-hard')
    kept = kept
      .map((e, i) => ({ e, i }))
      .sort((a, b) => b.e.passCount! - a.e.passCount! || a.i - b.i)
      .map((x) => x.e);
  return { kept, histogram, unscored, total: entries.length };
}

export function formatHistogram(r: CurateResult<unknown>, s: CurateSettings): string {
  const w = Math.max(5, ...r.histogram.map((b) => String(b.items).length));
  const maxItems = Math.max(1, ...r.histogram.map((b) => b.items));
  const lines = [`pass count (of ${s.k})  ${'items'.padStart(w)}  ${'kept'.padStart(w)}`];
  for (const b of r.histogram) {
    const bar = '#'.repeat(Math.round((b.items / maxItems) * 30));
    lines.push(`${String(b.pass_count).padStart(18)}  ${String(b.items).padStart(w)}  ${String(b.kept).padStart(w)}  ${bar}`);
  }
  const kept = r.kept.length;
  lines.push(
    `total ${r.total}; kept ${kept} with pass count ${s.lo}..${s.hi}, order ${s.order} (shuffle seed ${s.seed})${r.unscored ? `; ${r.unscored} not sampled (prompt does not fit the context)` : ''}`,
  );
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Pass counts on the GPU.

export interface PassCountOptions {
  k: number;
  temperature?: number;
  topP?: number;
  maxNewTokens: number;
  batchSize?: number;
  seed?: number;
  prompt?: PromptOptions;
  /** 'reward' (default): the training reward §5, as the recipe counts passes; 'grader': the evaluation grader §6. */
  grade?: 'reward' | 'grader';
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  sampler?: Sampler;
}

export interface PassCountEntry extends Counted {
  item: QAItem;
  /** The k responses and their grades (1 = pass). Empty when the item was not sampled. */
  responses: string[];
  grades: number[];
  /** Why the item was not sampled. */
  skipped?: string;
}

/** Grade one response for a pass count. */
export function passGrade(item: QAItem, response: string, grade: 'reward' | 'grader' = 'reward'): 0 | 1 {
  if (grade === 'grader') return gradeAnswer(response, item.options, item.answer_label, item.answer).correct ? 1 : 0;
  return computeReward(response, item.options, item.answer_label, item.answer);
}

/** k samples per item (temperature 1.0, top-p 1.0 by default), each graded; the pass count is their sum. */
export async function passCounts(model: Model, tok: TextTokenizer, items: QAItem[], o: PassCountOptions): Promise<PassCountEntry[]> {
  if (!Number.isInteger(o.k) || o.k < 1) throw new InputError('curate', `k must be an integer >= 1, got ${o.k}`);
  const res = await sampleFitted(model, tok, items, {
    n: o.k,
    greedy: false,
    temperature: o.temperature ?? 1,
    topP: o.topP ?? 1,
    maxNewTokens: o.maxNewTokens,
    batchSize: o.batchSize,
    seed: o.seed,
    prompt: o.prompt,
    signal: o.signal,
    onProgress: o.onProgress,
    sampler: o.sampler,
  });
  const ctx = model.cfg.text.maxPositionEmbeddings;
  return items.map((item, i) => {
    const s = res.samples[i];
    if (!s) {
      return {
        item,
        passCount: null,
        responses: [],
        grades: [],
        skipped: `prompt of ${res.promptTokens[i]} tokens leaves no room for an answer in the context of ${ctx}`,
      };
    }
    const responses = s.responses.map((r) => r.text);
    const grades = responses.map((r) => passGrade(item, r, o.grade));
    return { item, passCount: grades.reduce<number>((a, g) => a + g, 0), responses, grades };
  });
}

// ---------------------------------------------------------------------------------------------
// verl's RL parquet (recipe §8).

export interface VerlOptions {
  /** verl picks the reward function by data_source. */
  dataSource: string;
  split?: string;
  ability?: string;
  prompt?: PromptOptions;
}

export interface VerlRow {
  data_source: string;
  prompt: { role: string; content: string }[];
  images: { bytes: Uint8Array; path: string }[] | null;
  ability: string;
  reward_model: { style: string; ground_truth: string };
  extra_info: {
    split: string;
    index: bigint;
    question: string;
    options: string;
    answer_label: string;
    answer: string;
    dataset_name: string;
    dataset_index: bigint;
  };
}

/** The column names of a verl RL parquet, in order. */
export const VERL_COLUMNS = ['data_source', 'prompt', 'images', 'ability', 'reward_model', 'extra_info'] as const;

/**
 * Items as verl rows: the recipe prompt as the one user message, with one `<image>` placeholder per
 * image in front (verl splits the content at those placeholders and pairs them with `images` in
 * order); text-only items get null images; ground_truth is the gold option text, and extra_info
 * carries what a reward function needs to accept the letter too.
 */
export async function verlRows(items: QAItem[], o: VerlOptions): Promise<VerlRow[]> {
  const rows: VerlRow[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    const images: { bytes: Uint8Array; path: string }[] = [];
    for (const im of it.images) images.push({ bytes: await im.load(), path: im.name });
    rows.push({
      data_source: o.dataSource,
      prompt: [{ role: 'user', content: CHAT.image.repeat(images.length) + promptText(it, o.prompt) }],
      images: images.length ? images : null,
      ability: o.ability ?? 'medical_mcqa',
      reward_model: { style: 'rule', ground_truth: it.answer },
      extra_info: {
        split: o.split ?? 'train',
        index: BigInt(i),
        question: it.question,
        options: optionsJson(it.options),
        answer_label: it.answer_label,
        answer: it.answer,
        dataset_name: it.dataset_name,
        dataset_index: BigInt(it.dataset_index),
      },
    });
  }
  return rows;
}

const str = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
const i64 = (name: string): SchemaElement => ({ name, type: 'INT64', repetition_type: 'OPTIONAL' });
const struct = (name: string, n: number): SchemaElement => ({ name, repetition_type: 'OPTIONAL', num_children: n });
const list = (name: string): SchemaElement[] => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
];

/** The parquet schema pandas / datasets write for these columns (lists as LIST of element structs). */
export const VERL_SCHEMA: SchemaElement[] = [
  { name: 'schema', num_children: VERL_COLUMNS.length },
  str('data_source'),
  ...list('prompt'),
  struct('element', 2),
  str('role'),
  str('content'),
  ...list('images'),
  struct('element', 2),
  { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
  str('path'),
  str('ability'),
  struct('reward_model', 2),
  str('style'),
  str('ground_truth'),
  struct('extra_info', 8),
  str('split'),
  i64('index'),
  str('question'),
  str('options'),
  str('answer_label'),
  str('answer'),
  str('dataset_name'),
  i64('dataset_index'),
];

export function verlParquet(rows: VerlRow[]): Uint8Array {
  if (rows.length === 0) throw new InputError('verl export', 'no rows to write: the curated set is empty');
  const buf = parquetWriteBuffer({
    schema: VERL_SCHEMA,
    columnData: VERL_COLUMNS.map((c) => ({ name: c, data: rows.map((r) => r[c]) as never })),
  });
  return new Uint8Array(buf);
}
