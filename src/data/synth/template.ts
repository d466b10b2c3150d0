// What a question template is, and the programmatic teacher that writes a reasoning trace for it.
//
// A template draws the facts of one case (a scene, or the numbers of a clinical vignette) and
// says how a careful reader gets from facts to answer (`explain`). The gold answer is explain's
// answer on the true facts, and the clean trace is its steps. A noisy teacher misreads the facts
// (`perturb`: miscounts, swaps image sides, misreads a number) and reasons correctly from the
// misreading, so its trace is fluent and self-consistent but ends at a wrong option, which is the
// kind of error a distilled trace carries.

import type { Rng } from './rng';
import type { Scene } from './scene';

export type Level = 1 | 2 | 3;
export type SynthKind = 'image' | 'text';

export interface Explained {
  /** Reasoning steps, one sentence each. */
  steps: string[];
  /** The option text the steps arrive at. */
  answer: string;
}

/** Numbers that show how hard an item is; the level tests compare their means. */
export interface DraftStats {
  /** Objects drawn in the scan: lesions, nodules, cysts, fluid levels. */
  objects?: number;
  /** Nodule area ratio or fluid-height gap of a comparison; lab distance to a limit over the range width. */
  closeness?: number;
  /** Facts the question gives (vital signs, labs, arithmetic steps). */
  facts?: number;
}

export interface Draft<F = unknown> {
  question: string;
  /** Every option text, gold among them, in no particular order (the generator shuffles). */
  answers: string[];
  facts: F;
  explain(f: F): Explained;
  /** A plausible misreading of the facts; it may happen to leave the answer unchanged. */
  perturb(f: F, rng: Rng): F;
  scene?: Scene;
  /** Text items: the content a held-out split must not share with training (see splitOf). */
  key?: string;
  stats: DraftStats;
}

export interface TemplateContext {
  level: Level;
  size: number;
  /** Seeds the scan's pixel noise. */
  seed: number;
}

export interface Template {
  name: string;
  kind: SynthKind;
  /** One line for the template list. */
  about: string;
  /** Smallest image size the template's objects fit in. */
  minSize?: number;
  /**
   * Only when named in `templates`, never in the default pool: its held-out items repeat training
   * questions (a small closed set of texts), which the default sets promise never to do.
   */
  onlyWhenNamed?: boolean;
  draft(rng: Rng, ctx: TemplateContext): Draft;
}

/** Erase a draft's fact type so drafts of different templates fit one list. */
export const erase = <F>(d: Draft<F>): Draft => d as unknown as Draft;

export type TraceMode = 'clean' | 'wrong' | 'unfaithful' | 'sloppy';

/** The trace's last sentence; traceConclusion reads it back. */
export const conclusionSentence = (letter: string) => `So the answer is ${letter}.`;

const CONCLUSION = /So the answer is ([A-Z])\.\s*$/;

/** The letter a trace concludes with (its last sentence), or null when it has none. */
export function traceConclusion(reasoning: string | undefined): string | null {
  const m = CONCLUSION.exec(reasoning ?? '');
  return m ? m[1] : null;
}

export interface Trace {
  text: string;
  /** The letter the trace concludes with. */
  letter: string;
  /** The option text it concludes with. */
  answer: string;
}

/**
 * The teacher's trace for a draft whose options are `letterOf` (option text -> letter).
 * clean: every step, correct conclusion. sloppy: intermediate steps dropped (only the last step
 * before the conclusion is kept; a one-step trace keeps none), correct conclusion. wrong: the steps
 * of a misreading whose answer is another option, and that option's letter.
 */
export function writeTrace(d: Draft, letterOf: Map<string, string>, mode: TraceMode, rng: Rng): Trace {
  const truth = d.explain(d.facts);
  let e = truth;
  if (mode === 'wrong' || mode === 'unfaithful') {
    let found: Explained | null = null;
    for (let t = 0; t < 200 && !found; t++) {
      // One or two misreadings in a row: some single slips cannot move the answer.
      let f = d.perturb(d.facts, rng);
      if (t % 2 === 1) f = d.perturb(f, rng);
      const x = d.explain(f);
      if (x.answer !== truth.answer && letterOf.has(x.answer)) found = x;
    }
    if (!found) throw new Error(`synth teacher: no misreading of "${d.question}" reaches another option`);
    e = mode === 'wrong' ? found : { steps: truth.steps, answer: found.answer };
  }
  let steps = e.steps;
  if (mode === 'sloppy') steps = steps.length >= 2 ? steps.slice(-1) : [];
  const letter = letterOf.get(e.answer);
  if (!letter) throw new Error(`synth teacher: answer "${e.answer}" of "${d.question}" is not an option`);
  return { text: [...steps, conclusionSentence(letter)].join(' '), letter, answer: e.answer };
}

// Small text helpers shared by the templates.

export const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** "no nodules", "1 nodule", "3 nodules". */
export function count(n: number, noun: string): string {
  if (n === 0) return `no ${noun}s`;
  return n === 1 ? `1 ${noun}` : `${n} ${noun}s`;
}

/**
 * Options for a count: `n` consecutive integers from 0 up that hold `gold`, the gold's place
 * among them drawn uniformly where 0 allows, so that "the middle one" is no shortcut.
 */
export function countOptions(rng: Rng, gold: number, n: number): string[] {
  const start = Math.max(0, gold - rng.int(0, n - 1));
  return Array.from({ length: n }, (_, i) => String(start + i));
}

/**
 * Pick `n - 1` distractor values around `gold` from candidates, with the gold's rank among the
 * sorted options uniform over the ranks the candidates allow.
 */
export function rankedDistractors(rng: Rng, gold: number, candidates: number[], n: number): number[] | null {
  const uniq = [...new Set(candidates.filter((c) => c !== gold))];
  const lower = rng.shuffle(uniq.filter((c) => c < gold));
  const higher = rng.shuffle(uniq.filter((c) => c > gold));
  const ranks: number[] = [];
  for (let r = 0; r < n; r++) if (lower.length >= r && higher.length >= n - 1 - r) ranks.push(r);
  if (ranks.length === 0) return null;
  const r = rng.pick(ranks);
  return [...lower.slice(0, r), ...higher.slice(0, n - 1 - r)];
}
