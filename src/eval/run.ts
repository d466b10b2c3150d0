// Benchmark evaluation runs (recipe.md §6): the recipe prompt, greedy decoding, the paper's grader,
// accuracy per benchmark and the unweighted mean over benchmarks; optionally n sampled responses per
// item for pass@n and majority vote. Every item leaves a record (prompt, response, extracted answer,
// grade) so a number can always be traced back to the responses behind it.
//
// The bookkeeping (grading, pass@n, majority, summaries) is pure and separate from sampling, so it is
// tested on fixed responses; `sampleFitted` is the one place that talks to the GPU, and curation
// (src/recipe/curate.ts) samples through it too.

import type { QAItem } from '../task/schema';
import { InputError } from '../engine/errors';
import type { TextTokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import type { Decoding } from '../model/generate';
import { chatFormat, largestImageText, usableImages } from '../task/encode';
import { promptText, type PromptOptions } from '../task/prompt';
import { expandImages } from '../io/chat';
import { sampleResponses, type ItemSamples, type SampleOptions } from '../task/rollout';
import { gradeAnswer } from '../task/grader';

export interface BenchmarkInput {
  name: string;
  items: QAItem[];
}

export interface EvalProgress {
  benchmark: string;
  /** Sequences decoded so far in the whole run, and in all. */
  done: number;
  total: number;
}

/** Decoding's temperature and top-p are for the n samples (the greedy response ignores them); default 1.0 and 1.0, as in the recipe. */
export interface EvalOptions extends Omit<Decoding, 'greedy'> {
  /** Evaluate only the first `limit` items of each benchmark. */
  limit?: number;
  /** Sampled responses per item besides the greedy one; 1 (default) is the greedy run alone. */
  n?: number;
  /** Sequences decoded together. */
  batchSize?: number;
  prompt?: PromptOptions;
  signal?: AbortSignal;
  onProgress?: (p: EvalProgress) => void;
  /** Each record as soon as its item is graded (a long run leaves its results behind as it goes). */
  onRecord?: (r: EvalRecord) => void;
  /** Injected sampler (tests); default sampleResponses on the GPU. */
  sampler?: Sampler;
}

export type Sampler = (model: Model, tok: TextTokenizer, items: QAItem[], o: SampleOptions) => Promise<ItemSamples[]>;

/** One graded response. */
export interface SampleGrade {
  response: string;
  extracted: string;
  pred_letter: string | null;
  correct: boolean;
  /** Ended with the end-of-turn token (false: cut at the token budget). */
  finished: boolean;
  tokens: number;
}

export interface EvalRecord {
  benchmark: string;
  dataset_name: string;
  dataset_index: number;
  hash: string;
  question: string;
  options: Record<string, string>;
  answer_label: string;
  answer: string;
  /** The user turn's text (recipe §3). */
  prompt: string;
  prompt_tokens: number;
  /** The greedy response and its grade. */
  response: string;
  extracted: string;
  pred_letter: string | null;
  correct: boolean;
  finished: boolean;
  response_tokens: number;
  /** Set when the item could not be run (its prompt does not fit the model's context); it counts as wrong. */
  skipped?: string;
  /**
   * How many of the item's images the model answered without (a text-only model sees none, a
   * pretrained VLM only the first); absent when it saw them all.
   */
  images_unseen?: number;
  /** With n > 1: the sampled responses, whether any is correct, and the majority vote. */
  samples?: SampleGrade[];
  pass_at_n?: boolean;
  majority_letter?: string | null;
  majority_correct?: boolean;
}

export interface BenchmarkResult {
  name: string;
  items: number;
  correct: number;
  /** Greedy accuracy in [0, 1]: correct / items (skipped items count as wrong, as in the paper every item is graded). */
  accuracy: number;
  /** Items whose prompt did not fit the context. */
  skipped: number;
  /** Greedy responses cut at the token budget. */
  unfinished: number;
  /** Items answered without (some of) their images: their answers come from the text alone. */
  without_images: number;
  n?: number;
  pass_at_n?: number;
  majority_accuracy?: number;
  /** Mean accuracy of single sampled responses. */
  sample_accuracy?: number;
}

export interface EvalSummary {
  benchmarks: BenchmarkResult[];
  /** Unweighted means over the benchmarks (recipe §6 "Avg."). */
  average: { accuracy: number; pass_at_n?: number; majority_accuracy?: number };
  settings: { n: number; limit: number | null; max_new_tokens: number; temperature: number; top_p: number; batch_size: number; seed: number; decoding: string };
  seconds: number;
  generated_tokens: number;
}

export interface EvalResult {
  summary: EvalSummary;
  records: EvalRecord[];
}

/** Grade one response with the paper's grader (recipe §6). */
export function gradeResponse(item: Pick<QAItem, 'options' | 'answer_label' | 'answer'>, response: string, finished = true, tokens = 0): SampleGrade {
  const g = gradeAnswer(response, item.options, item.answer_label, item.answer);
  return { response, extracted: g.extracted, pred_letter: g.predLetter, correct: g.correct, finished, tokens };
}

/**
 * The majority vote over predicted letters: the letter most responses name; responses naming no
 * option do not vote; a tie goes to the letter whose first vote came first. Null when none voted.
 */
export function majorityLetter(predLetters: (string | null)[]): string | null {
  const counts = new Map<string, number>();
  for (const l of predLetters) if (l !== null) counts.set(l, (counts.get(l) ?? 0) + 1);
  let best: string | null = null;
  let bestCount = 0;
  // Map iteration follows first insertion, so a strict > keeps the earliest letter among equals.
  for (const [l, c] of counts)
    if (c > bestCount) {
      best = l;
      bestCount = c;
    }
  return best;
}

/** Fill a record's n-sample fields from its graded samples. */
export function scoreSamples(rec: EvalRecord, samples: SampleGrade[]): EvalRecord {
  const majority = majorityLetter(samples.map((s) => s.pred_letter));
  rec.samples = samples;
  rec.pass_at_n = samples.some((s) => s.correct);
  rec.majority_letter = majority;
  rec.majority_correct = majority !== null && majority === rec.answer_label;
  return rec;
}

/** A benchmark's numbers from its records. */
export function summarizeBenchmark(name: string, records: EvalRecord[], n: number): BenchmarkResult {
  const items = records.length;
  const correct = records.filter((r) => r.correct).length;
  const frac = (k: number) => (items === 0 ? 0 : k / items);
  const out: BenchmarkResult = {
    name,
    items,
    correct,
    accuracy: frac(correct),
    skipped: records.filter((r) => r.skipped).length,
    unfinished: records.filter((r) => !r.skipped && !r.finished).length,
    without_images: records.filter((r) => r.images_unseen).length,
  };
  if (n > 1) {
    out.n = n;
    out.pass_at_n = frac(records.filter((r) => r.pass_at_n).length);
    out.majority_accuracy = frac(records.filter((r) => r.majority_correct).length);
    const all = records.reduce((a, r) => a + (r.samples?.length ?? n), 0);
    const good = records.reduce((a, r) => a + (r.samples?.filter((s) => s.correct).length ?? 0), 0);
    out.sample_accuracy = all === 0 ? 0 : good / all;
  }
  return out;
}

export function averageOf(results: BenchmarkResult[]): EvalSummary['average'] {
  const mean = (f: (r: BenchmarkResult) => number | undefined) => {
    const v = results.map(f).filter((x): x is number => x !== undefined);
    return v.length === 0 ? undefined : v.reduce((a, b) => a + b, 0) / v.length;
  };
  const avg: EvalSummary['average'] = { accuracy: mean((r) => r.accuracy) ?? 0 };
  const p = mean((r) => r.pass_at_n);
  if (p !== undefined) avg.pass_at_n = p;
  const m = mean((r) => r.majority_accuracy);
  if (m !== undefined) avg.majority_accuracy = m;
  return avg;
}

// ---------------------------------------------------------------------------------------------
// Sampling within the model's context.

/** Prompt length in tokens, images' placeholder runs included, without decoding any image (the text encodePrompt builds). */
export function promptTokens(item: QAItem, tok: TextTokenizer, model: Pick<Model, 'cfg'>, o?: PromptOptions): number {
  const cfg = model.cfg;
  const n = usableImages(item, cfg);
  const text = chatFormat(tok, cfg).prompt(promptText(item, o), n);
  return tok.encode(expandImages(text, Array(n).fill(largestImageText(tok, cfg))), { addSpecialTokens: false }).length;
}

export interface FittedOptions extends Omit<SampleOptions, 'onProgress'> {
  /** Items decoded per call of the sampler (bounds the decoded images held at once). */
  chunkItems?: number;
  /** Called with sequences done and in all. */
  onProgress?: (done: number, total: number) => void;
  /** Each chunk's samples as soon as they are decoded, with the items' indices. */
  onChunk?: (indices: number[], samples: ItemSamples[]) => void;
  sampler?: Sampler;
  /** Prompt lengths when the caller has them already (promptTokens of each item). */
  promptTokens?: number[];
}

export interface FittedResult {
  /** Per input item, its samples, or null when its prompt leaves no room to answer. */
  samples: (ItemSamples | null)[];
  promptTokens: number[];
  /** Items whose response budget was clipped below maxNewTokens by the context. */
  clipped: number;
}

/** FNV-1a of a name: seeds that depend on a benchmark's name, not its place in the list. */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A seed for one part of a run, reproducible from the run's seed. */
export const subSeed = (seed: number, ...parts: number[]) => parts.reduce((a, p) => Math.imul(a ^ (p + 0x9e3779b9), 0x85ebca6b) >>> 0, seed >>> 0);

/**
 * Sample n responses per item, in chunks of items of similar prompt length (less padding, and a
 * long prompt only shortens the budget of prompts about as long). Each chunk's budget is
 * maxNewTokens, clipped so its longest prompt plus the response fits the context; items whose
 * prompt alone fills the context are not run.
 */
export async function sampleFitted(model: Model, tok: TextTokenizer, items: QAItem[], o: FittedOptions): Promise<FittedResult> {
  const ctx = model.cfg.text.maxPositionEmbeddings;
  const lens = o.promptTokens ?? items.map((it) => promptTokens(it, tok, model, o.prompt));
  const order = items
    .map((_, i) => i)
    .filter((i) => lens[i] < ctx)
    .sort((a, b) => lens[a] - lens[b] || a - b);
  const perBatch = Math.max(1, Math.floor((o.batchSize ?? Math.max(o.n, 8)) / o.n));
  const chunkItems = Math.max(1, o.chunkItems ?? perBatch * 4);
  const total = order.length * o.n;
  const samples: (ItemSamples | null)[] = items.map(() => null);
  const sampler = o.sampler ?? sampleResponses;
  let done = 0;
  let clipped = 0;
  for (let c = 0, chunk = 0; c < order.length; c += chunkItems, chunk++) {
    if (o.signal?.aborted) throw new Error('sampling cancelled');
    const idx = order.slice(c, c + chunkItems);
    const longest = lens[idx[idx.length - 1]];
    const budget = Math.min(o.maxNewTokens, ctx - longest);
    if (budget < o.maxNewTokens) clipped += idx.length;
    const base = done;
    const res = await sampler(
      model,
      tok,
      idx.map((i) => items[i]),
      {
        ...o,
        maxNewTokens: budget,
        seed: subSeed(o.seed ?? 0, chunk),
        onProgress: (d) => o.onProgress?.(base + d, total),
      },
    );
    done = base + idx.length * o.n;
    o.onProgress?.(done, total);
    idx.forEach((i, k) => {
      samples[i] = res[k];
    });
    o.onChunk?.(idx, res);
  }
  return { samples, promptTokens: lens, clipped };
}

// ---------------------------------------------------------------------------------------------

/** Items per slice of a benchmark: records are handed out after each slice. */
const RECORD_SLICE = 128;

function baseRecord(benchmark: string, item: QAItem, prompt: string, promptLen: number): EvalRecord {
  return {
    benchmark,
    dataset_name: item.dataset_name,
    dataset_index: item.dataset_index,
    hash: item.hash,
    question: item.question,
    options: item.options,
    answer_label: item.answer_label,
    answer: item.answer,
    prompt,
    prompt_tokens: promptLen,
    response: '',
    extracted: '',
    pred_letter: null,
    correct: false,
    finished: false,
    response_tokens: 0,
  };
}

/**
 * Evaluate a model on benchmarks: greedy accuracy per benchmark and the unweighted mean; with
 * n > 1 also pass@n, majority-vote accuracy and single-sample accuracy over n sampled responses.
 */
export async function runEval(model: Model, tok: TextTokenizer, benchmarks: BenchmarkInput[], opts: EvalOptions): Promise<EvalResult> {
  const n = opts.n ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new InputError('eval', `n must be an integer >= 1, got ${n}`);
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1)
    throw new InputError('eval', `maxNewTokens must be an integer >= 1, got ${opts.maxNewTokens}`);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1))
    throw new InputError('eval', `limit must be an integer >= 1, got ${opts.limit}`);
  const seen = new Set<string>();
  for (const b of benchmarks) {
    if (seen.has(b.name)) throw new InputError('eval', `benchmark ${b.name} is listed twice`);
    seen.add(b.name);
  }
  const empty = benchmarks.filter((b) => b.items.length === 0).map((b) => b.name);
  if (benchmarks.length === 0) throw new InputError('eval', 'no benchmarks to evaluate');
  if (empty.length) throw new InputError('eval', `no usable items in ${empty.join(', ')}`);

  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  const batchSize = opts.batchSize ?? 16;
  const seed = opts.seed ?? 0;
  const sets = benchmarks.map((b) => ({ name: b.name, items: opts.limit ? b.items.slice(0, opts.limit) : b.items }));
  const ctx = model.cfg.text.maxPositionEmbeddings;
  const lens = sets.map((s) => s.items.map((it) => promptTokens(it, tok, model, opts.prompt)));
  const perSeq = 1 + (n > 1 ? n : 0);
  const total = lens.reduce((a, l) => a + l.filter((x) => x < ctx).length * perSeq, 0);
  // Counts and total at once: the first batch of a slow adapter can take a minute.
  opts.onProgress?.({ benchmark: sets[0].name, done: 0, total });
  let doneBefore = 0;
  let generated = 0;
  const t0 = performance.now();
  const allRecords: EvalRecord[] = [];
  const results: BenchmarkResult[] = [];

  for (let b = 0; b < sets.length; b++) {
    const { name, items } = sets[b];
    const records = items.map((it, i) => baseRecord(name, it, promptText(it, opts.prompt), lens[b][i]));
    // Slices of the benchmark in source order, so records reach onRecord while a long run goes on.
    for (let c0 = 0, slice = 0; c0 < items.length; c0 += RECORD_SLICE, slice++) {
      const part = items.slice(c0, c0 + RECORD_SLICE);
      const partLens = lens[b].slice(c0, c0 + RECORD_SLICE);
      const progress = (d: number) => opts.onProgress?.({ benchmark: name, done: doneBefore + d, total });
      const common = { batchSize, prompt: opts.prompt, signal: opts.signal, sampler: opts.sampler, maxNewTokens: opts.maxNewTokens, promptTokens: partLens };
      const greedy = await sampleFitted(model, tok, part, {
        ...common,
        n: 1,
        greedy: true,
        seed: subSeed(seed, nameHash(name), 0, slice),
        onProgress: progress,
      });
      const fitted = greedy.samples.filter((x) => x !== null).length;
      doneBefore += fitted;
      let sampled: FittedResult | null = null;
      if (n > 1) {
        sampled = await sampleFitted(model, tok, part, {
          ...common,
          n,
          greedy: false,
          temperature,
          topP,
          seed: subSeed(seed, nameHash(name), 1, slice),
          onProgress: progress,
        });
        doneBefore += fitted * n;
      }
      part.forEach((item, k) => {
        const rec = records[c0 + k];
        const g = greedy.samples[k];
        if (!g) {
          rec.skipped = `prompt of ${partLens[k]} tokens leaves no room for an answer in the model's context of ${ctx} tokens`;
          if (n > 1) scoreSamples(rec, []);
        } else {
          const r = g.responses[0];
          Object.assign(rec, pickGrade(gradeResponse(item, r.text, r.finished, r.ids.length)));
          const unseen = item.images.length - g.prompt.nImages;
          if (unseen > 0) rec.images_unseen = unseen;
          generated += r.ids.length;
          const smp = sampled?.samples[k];
          if (smp) {
            scoreSamples(
              rec,
              smp.responses.map((x) => gradeResponse(item, x.text, x.finished, x.ids.length)),
            );
            generated += smp.responses.reduce((a, x) => a + x.ids.length, 0);
          }
        }
        opts.onRecord?.(rec);
      });
    }
    allRecords.push(...records);
    results.push(summarizeBenchmark(name, records, n));
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    records: allRecords,
    summary: {
      benchmarks: results,
      average: averageOf(results),
      settings: {
        n,
        limit: opts.limit ?? null,
        max_new_tokens: opts.maxNewTokens,
        temperature,
        top_p: topP,
        batch_size: batchSize,
        seed,
        decoding: n > 1 ? `greedy + ${n} samples (temperature ${temperature}, top-p ${topP})` : 'greedy',
      },
      seconds,
      generated_tokens: generated,
    },
  };
}

function pickGrade(g: SampleGrade) {
  return { response: g.response, extracted: g.extracted, pred_letter: g.pred_letter, correct: g.correct, finished: g.finished, response_tokens: g.tokens };
}
