// The synthetic curriculum ("synth"): verifiable medical-flavoured multiple-choice items that a
// model of a few million parameters can learn, generated in the browser or in Node from a seed.
// README.md beside this file lists the templates and the choices behind them.

import { InputError } from '../../engine/errors';
import { promptText, sftTarget } from '../../task/prompt';
import { CHAT, chatPrompt } from '../../io/chat';
import { LETTERS, lettered, makeItem, type ImageRef, type QAItem } from '../../task/schema';
import { IMAGE_TEMPLATES } from './image-templates';
import { encodeGrayPng } from './png';
import { hashInts, hashString, Rng, seedWords } from './rng';
import { renderScene, type Scene } from './scene';
import { writeTrace, type Draft, type DraftStats, type Level, type SynthKind, type Template, type TraceMode } from './template';
import { TEXT_TEMPLATES } from './text-templates';

export { traceConclusion, type Level, type SynthKind, type TraceMode, type DraftStats } from './template';
export { renderScene, type Scene } from './scene';
export { encodeGrayPng } from './png';

export interface SynthOptions {
  /** Number of items. */
  n: number;
  /** 'mixed' alternates image and text items (even indices image). */
  kind: 'image' | 'text' | 'mixed';
  level: Level;
  seed: number;
  /** Side of the square scans in pixels, 16..128 (default 32). */
  imageSize?: number;
  split: 'train' | 'test';
  /** Fraction of items whose trace concludes with a wrong letter (how: noisyKind). */
  noisyFraction?: number;
  /**
   * The teacher's blind spot: when set, `noisyFraction` is the share of the items whose correct
   * answer is one of these option texts (e.g. ["Yellow"]) that get wrong traces, and no other item
   * does. A random slip averages out under greedy decoding; a systematic one is what a student
   * copies and what a verifiable reward can correct.
   */
  noisyAnswers?: string[];
  /**
   * Narrows the blind spot to the items whose question contains one of these phrases (e.g.
   * ["left lung"]): with noisyAnswers ["Yes"], a teacher that misses nodules in the left lung only.
   * A blind spot on a whole answer of a Yes/No question flips that answer's majority, so a student
   * that reads every scan perfectly still answers "No" to all of them; one tied to what the input
   * shows leaves the rest of the scans to be read, and the misreading to be copied and corrected.
   */
  noisyQuestions?: string[];
  /**
   * How a noisy trace is wrong. 'misreading' (default): the steps of a misread input and their
   * conclusion, so a student copies the misreading. 'conclusion': every step right, then another
   * option's letter, a teacher whose answer does not follow from its own reasoning; a student
   * learns to read the input from the steps and copies only the final mapping.
   */
  noisyKind?: 'misreading' | 'conclusion';
  /** Fraction of items whose trace skips its intermediate steps (the conclusion stays right). */
  sloppyFraction?: number;
  /** Restrict to these templates (names from SYNTH_TEMPLATES). */
  templates?: string[];
  /**
   * Keep each template's own option order (Red / Yellow / Green, Low / Normal / High, Left / Right /
   * Both, counts ascending) instead of shuffling: the letter then follows from the answer alone,
   * one lookup less, which a micro model trained from scratch learns in minutes. Default false.
   */
  fixedOptionOrder?: boolean;
  /** Index of the first item: a later call with offset = n continues a set without repeating it. */
  offset?: number;
}

export interface SynthCase {
  item: QAItem;
  template: string;
  kind: SynthKind;
  level: Level;
  /** The teacher's trace (also `item.reasoning`): how it was written and where it concludes. */
  trace: { mode: TraceMode; letter: string; answer: string };
  /** The drawn scan (image items), from which the image is rendered. */
  scene?: Scene;
  stats: DraftStats;
  /** Text items: the content that decides the split (see splitOf). */
  key?: string;
}

export const DATASET_NAMES: Record<SynthKind, string> = { image: 'synth_image', text: 'synth_text' };
export const DEFAULT_IMAGE_SIZE = 32;
export const MIN_IMAGE_SIZE = 16;
export const MAX_IMAGE_SIZE = 128;

const ALL_TEMPLATES: readonly Template[] = [...IMAGE_TEMPLATES, ...TEXT_TEMPLATES];

/** The documented list of question templates (README.md has it with examples). */
export const SYNTH_TEMPLATES: readonly { name: string; kind: SynthKind; about: string; minSize?: number; onlyWhenNamed?: boolean }[] = ALL_TEMPLATES.map(
  ({ name, kind, about, minSize, onlyWhenNamed }) => ({ name, kind, about, ...(minSize ? { minSize } : {}), ...(onlyWhenNamed ? { onlyWhenNamed } : {}) }),
);

/** Share of the text-item content space held out for the test split. */
export const HELD_OUT_SHARE = 0.2;

/**
 * The split a text item's content belongs to, whatever the seed: a test-split dose, lab value or
 * set of vital signs never occurs in training, so held-out accuracy measures the rule, not recall
 * (templates without a key, named explicitly, are the exception: see Template.onlyWhenNamed).
 */
export function splitOf(key: string): 'train' | 'test' {
  return hashString(key) / 2 ** 32 < HELD_OUT_SHARE ? 'test' : 'train';
}

/**
 * The case number that opens every question: odd in train, even in test, and distinct per level.
 * The item hash is sha256(question + answer), and a scan question's text alone ("How many nodules
 * are in the left lung?" / "2") repeats across items, so the number keeps hashes unique across the
 * levels of one seed and disjoint between the splits. Sets of different seeds combined into one
 * should use disjoint `offset` ranges.
 */
export const caseNumber = (split: 'train' | 'test', level: Level, index: number) => 6 * index + 2 * (level - 1) + (split === 'train' ? 1 : 2);

const KNOWN_KEYS = [
  'n',
  'kind',
  'level',
  'seed',
  'imageSize',
  'split',
  'noisyFraction',
  'sloppyFraction',
  'templates',
  'offset',
  'fixedOptionOrder',
  'noisyAnswers',
  'noisyQuestions',
  'noisyKind',
];

export interface ResolvedSynthOptions {
  o: SynthOptions;
  size: number;
  noisy: number;
  /** The trace mode of a noisy item: 'wrong' (misreading) or 'unfaithful' (conclusion). */
  noisyMode: 'wrong' | 'unfaithful';
  sloppy: number;
  offset: number;
  fixedOptionOrder: boolean;
  pools: Record<SynthKind, Template[]>;
}

/** Check options (they may come from a JSON config) before anything is generated. */
export function validateSynthOptions(opts: unknown, where = 'synth options'): ResolvedSynthOptions {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) throw new InputError(where, 'must be an object');
  const o = opts as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN_KEYS.includes(k)) throw new InputError(`${where}.${k}`, `unknown option (known: ${KNOWN_KEYS.join(', ')})`);
  }
  const int = (k: string, lo: number, hi: number, dflt?: number): number => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < lo || v > hi) {
      throw new InputError(`${where}.${k}`, `must be an integer from ${lo} to ${hi}, got ${JSON.stringify(o[k])}`);
    }
    return v;
  };
  const frac = (k: string): number => {
    const v = o[k] ?? 0;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new InputError(`${where}.${k}`, `must be a number from 0 to 1, got ${JSON.stringify(o[k])}`);
    return v;
  };
  const oneOf = <T extends string>(k: string, allowed: readonly T[]): T => {
    if (!allowed.includes(o[k] as T)) throw new InputError(`${where}.${k}`, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(o[k])}`);
    return o[k] as T;
  };
  int('n', 1, 10_000_000);
  oneOf('kind', ['image', 'text', 'mixed'] as const);
  if (![1, 2, 3].includes(o.level as number)) throw new InputError(`${where}.level`, `must be 1, 2 or 3, got ${JSON.stringify(o.level)}`);
  int('seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  oneOf('split', ['train', 'test'] as const);
  const size = int('imageSize', MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, DEFAULT_IMAGE_SIZE);
  const noisy = frac('noisyFraction');
  const sloppy = frac('sloppyFraction');
  if (noisy + sloppy > 1) throw new InputError(`${where}.sloppyFraction`, `noisyFraction + sloppyFraction must not exceed 1, got ${noisy} + ${sloppy}`);
  const offset = int('offset', 0, Number.MAX_SAFE_INTEGER - 10_000_000, 0);
  if (o.fixedOptionOrder !== undefined && typeof o.fixedOptionOrder !== 'boolean') {
    throw new InputError(`${where}.fixedOptionOrder`, `must be true or false, got ${JSON.stringify(o.fixedOptionOrder)}`);
  }
  const fixedOptionOrder = o.fixedOptionOrder === true;
  const noisyMode = o.noisyKind === undefined || oneOf('noisyKind', ['misreading', 'conclusion'] as const) === 'misreading' ? 'wrong' : 'unfaithful';
  for (const [k, what] of [
    ['noisyAnswers', 'option texts'],
    ['noisyQuestions', 'phrases'],
  ] as const) {
    const v = o[k];
    if (v !== undefined && (!Array.isArray(v) || v.length === 0 || !v.every((a) => typeof a === 'string' && a !== ''))) {
      throw new InputError(`${where}.${k}`, `must be a non-empty list of ${what}, got ${JSON.stringify(v)}`);
    }
  }

  const kinds: SynthKind[] = o.kind === 'mixed' ? ['image', 'text'] : [o.kind as SynthKind];
  const pools: Record<SynthKind, Template[]> = { image: [], text: [] };
  if (o.templates !== undefined) {
    const names = o.templates;
    if (!Array.isArray(names) || names.length === 0) throw new InputError(`${where}.templates`, 'must be a non-empty list of template names');
    for (const name of names) {
      const t = ALL_TEMPLATES.find((x) => x.name === name);
      if (!t) throw new InputError(`${where}.templates`, `unknown template ${JSON.stringify(name)} (known: ${ALL_TEMPLATES.map((x) => x.name).join(', ')})`);
      if (!kinds.includes(t.kind)) throw new InputError(`${where}.templates`, `${name} is a ${t.kind} template but kind is ${o.kind}`);
      if (t.minSize && size < t.minSize) throw new InputError(`${where}.templates`, `${name} needs imageSize >= ${t.minSize}, got ${size}`);
      if (!pools[t.kind].includes(t)) pools[t.kind].push(t);
    }
  } else {
    for (const t of ALL_TEMPLATES) if ((!t.minSize || size >= t.minSize) && !t.onlyWhenNamed) pools[t.kind].push(t);
  }
  for (const k of kinds) {
    if (pools[k].length === 0) throw new InputError(`${where}.templates`, `kind ${o.kind} needs at least one ${k} template`);
  }
  return { o: o as unknown as SynthOptions, size, noisy, noisyMode, sloppy, offset, fixedOptionOrder, pools };
}

const SPLIT_CODE = { train: 1, test: 2 } as const;
const KIND_CODE = { image: 1, text: 2 } as const;
const BATCH_KIND_CODE = { image: 1, text: 2, mixed: 3 } as const;

/**
 * Which items get wrong or sloppy traces: exact counts, seeded positions. `eligible` (the blind
 * spot, when noisyAnswers or noisyQuestions is set) limits the wrong ones to those indices.
 */
function traceModes(r: ResolvedSynthOptions, eligible?: boolean[]): TraceMode[] {
  const { n, seed, split, level, kind } = r.o;
  const order = new Rng(hashInts(...seedWords(seed), SPLIT_CODE[split], level, BATCH_KIND_CODE[kind], r.offset, n, 0x40153)).shuffle(
    Array.from({ length: n }, (_, i) => i),
  );
  const modes: TraceMode[] = new Array(n).fill('clean');
  const pool = eligible ? order.filter((i) => eligible[i]) : order;
  const nWrong = Math.round(r.noisy * pool.length);
  pool.slice(0, nWrong).forEach((i) => {
    modes[i] = r.noisyMode;
  });
  const rest = order.filter((i) => modes[i] === 'clean');
  rest.slice(0, Math.min(rest.length, Math.round(r.sloppy * n))).forEach((i) => {
    modes[i] = 'sloppy';
  });
  return modes;
}

function sceneImage(scene: Scene, name: string): ImageRef {
  return { name, load: async () => encodeGrayPng(renderScene(scene), scene.size, scene.size) };
}

interface Drafted {
  index: number;
  kind: SynthKind;
  itemSeed: number;
  template: Template;
  d: Draft;
  gold: string;
  order: string[];
}

/** An item's draft: template, facts, options in their final order. It does not depend on the trace mode. */
function draftOne(r: ResolvedSynthOptions, index: number): Drafted {
  const { seed, split, level } = r.o;
  const kind: SynthKind = r.o.kind === 'mixed' ? (index % 2 === 0 ? 'image' : 'text') : r.o.kind;
  const itemSeed = hashInts(...seedWords(seed), SPLIT_CODE[split], level, KIND_CODE[kind], index);
  const rng = new Rng(itemSeed);
  const template = rng.pick(r.pools[kind]);
  let d: Draft | null = null;
  for (let t = 0; t < 1000 && !d; t++) {
    const x = template.draft(rng, { level, size: r.size, seed: itemSeed });
    if (x.key === undefined || splitOf(x.key) === split) d = x;
  }
  if (!d) throw new Error(`synth: ${template.name} drew no ${split} content in 1000 tries`);

  const gold = d.explain(d.facts).answer;
  if (new Set(d.answers).size !== d.answers.length || !d.answers.includes(gold)) {
    throw new Error(`synth: ${template.name} made options ${JSON.stringify(d.answers)} for gold "${gold}"`);
  }
  // Drawn either way, so that every other draw of the item is the same with fixed options.
  const shuffled = rng.shuffle(d.answers);
  return { index, kind, itemSeed, template, d, gold, order: r.fixedOptionOrder ? d.answers : shuffled };
}

async function finishOne(r: ResolvedSynthOptions, x: Drafted, mode: TraceMode): Promise<SynthCase> {
  const { seed, split, level } = r.o;
  const { index, kind, itemSeed, template, d, gold, order } = x;
  const letterOf = new Map(order.map((a, i) => [a, LETTERS[i]] as [string, string]));
  const trace = writeTrace(d, letterOf, mode, new Rng(hashInts(itemSeed, 0x7eac)));
  const name = `${DATASET_NAMES[kind]}/${split}/seed${seed}-level${level}-${index}.png`;
  const item = await makeItem({
    images: d.scene ? [sceneImage(d.scene, name)] : [],
    question: `Case ${caseNumber(split, level, index)}. ${d.question}`,
    options: lettered(order),
    answer_label: letterOf.get(gold)!,
    reasoning: trace.text,
    dataset_name: DATASET_NAMES[kind],
    dataset_index: index,
    split,
    source: `synth(seed ${seed}, level ${level}, ${split})#${index}`,
  });
  return {
    item,
    template: template.name,
    kind,
    level,
    trace: { mode, letter: trace.letter, answer: trace.answer },
    scene: d.scene,
    stats: d.stats,
    key: d.key,
  };
}

/** Items with what made them: template, scene, the teacher's trace mode and conclusion. */
export async function generateSynthCases(opts: SynthOptions): Promise<SynthCase[]> {
  const r = validateSynthOptions(opts);
  const { noisyAnswers: blindAnswers, noisyQuestions: blindQuestions } = r.o;
  // The blind spot needs every item's gold and question before the positions are drawn: one cheap extra draft pass.
  let eligible: boolean[] | undefined;
  if (blindAnswers || blindQuestions) {
    const drafts = Array.from({ length: r.o.n }, (_, i) => draftOne(r, r.offset + i));
    eligible = drafts.map((x) => (!blindAnswers || blindAnswers.includes(x.gold)) && (!blindQuestions || blindQuestions.some((q) => x.d.question.includes(q))));
    if (r.noisy > 0 && !eligible.some(Boolean)) {
      const golds = [...new Set(drafts.map((x) => x.gold))]
        .slice(0, 12)
        .map((g) => JSON.stringify(g))
        .join(', ');
      const questions = [...new Set(drafts.map((x) => x.d.question))]
        .slice(0, 4)
        .map((q) => JSON.stringify(q))
        .join(', ');
      throw new InputError(
        `synth options.${blindQuestions ? 'noisyQuestions' : 'noisyAnswers'}`,
        blindQuestions
          ? `no item's question contains one of ${JSON.stringify(blindQuestions)}${blindAnswers ? ` with a correct answer in ${JSON.stringify(blindAnswers)}` : ''} (questions here: ${questions}; answers: ${golds})`
          : `no item's correct answer is one of ${JSON.stringify(blindAnswers)} (answers here: ${golds})`,
      );
    }
  }
  const modes = traceModes(r, eligible);
  const out: SynthCase[] = [];
  for (let i = 0; i < r.o.n; i++) out.push(await finishOne(r, draftOne(r, r.offset + i), modes[i]));
  return out;
}

/**
 * Seeded synthetic items (recipe §1 schema). The same options give byte-identical items and
 * images; the test split shares no item hash and no text-item content with the train split.
 * Noisy items keep the gold `answer_label`; their `reasoning` concludes with another letter,
 * which `traceConclusion(item.reasoning)` reads back.
 */
export async function generateSynth(opts: SynthOptions): Promise<QAItem[]> {
  return (await generateSynthCases(opts)).map((c) => c.item);
}

/**
 * Text for training a tokenizer on the curriculum: `n` chat-formatted SFT examples (prompt with
 * the instruction, question and options, then the teacher's trace and answer), mixed image and text
 * items from all three levels of the train split; one in four uses the real-newline instruction.
 */
export async function synthCorpus(seed: number, n: number): Promise<string[]> {
  if (!Number.isSafeInteger(n) || n < 1) throw new InputError('synth corpus', `n must be a positive integer, got ${n}`);
  const per = Math.ceil(n / 3);
  const byLevel = await Promise.all(([1, 2, 3] as Level[]).map((level) => generateSynth({ n: per, kind: 'mixed', level, seed, split: 'train' })));
  const docs: string[] = [];
  for (let i = 0; docs.length < n; i++) {
    const item = byLevel[i % 3][Math.floor(i / 3)];
    const user = promptText(item, { newline: i % 4 === 3 ? 'real' : 'literal' });
    docs.push(chatPrompt(user, item.images.length, 1) + sftTarget(item) + CHAT.end);
  }
  return docs;
}
