// Closed questions of open-ended VQA sets (VQA-RAD, SLAKE, PathVQA) as multiple-choice items.
// The paper had an LLM pull the options out of each question; here a fixed rule does it, so the
// conversion is reproducible and every item it cannot convert is named with the reason:
//   - a gold answer of yes/no gives options A: Yes, B: No;
//   - an alternative question ("Which organ is abnormal, heart or lung?", "Is this a CT or an MRI?",
//     "Is this a T1 weighted, T2 weighted, or FLAIR image?") gives the alternatives it lists;
//   - otherwise, or when the gold answer is not one of the alternatives, the item is dropped.
// The rule never looks at the gold answer while it extracts options, so a wrong extraction shows up
// as a drop instead of being papered over.

import { lettered } from '../task/schema';

export type ClosedConversion =
  | {
      ok: true;
      kind: 'yes/no' | 'alternatives';
      options: Record<string, string>;
      answer_label: string;
      answer: string;
      /** 'prefix': the gold answer is the leading words of exactly one option ("T2" for "T2 weighted"). */
      match: 'exact' | 'prefix';
    }
  | { ok: false; reason: string; alternatives: string[] | null };

const ARTICLES = new Set(['a', 'an', 'the']);
const WH = new Set(['which', 'what', 'where', 'who', 'whom', 'whose', 'how', 'when', 'why']);

// Words that end the last alternative: what follows them qualifies the whole question ("left or
// right side OF the brain", "CT or MRI USED to take...", "smaller or larger THAN ...").
const TAIL_START = new Set([
  'of',
  'in',
  'on',
  'at',
  'to',
  'for',
  'from',
  'with',
  'than',
  'by',
  'as',
  'into',
  'within',
  'inside',
  'under',
  'over',
  'near',
  'between',
  'about',
  'compared',
  'relative',
  'respectively',
  'used',
  'seen',
  'shown',
  'taken',
  'located',
  'present',
  'visible',
  'noted',
  'observed',
  'found',
  'that',
  'which',
  'when',
  'where',
  'if',
  'while',
  'is',
  'are',
  'was',
  'were',
  'be',
]);

// Words that cannot be inside the first alternative when it is read backwards out of the question
// stem ("Is THIS A | CT or ...", "Are THERE | multiple or ...").
const STEM_BOUNDARY = new Set([
  ...ARTICLES,
  ...WH,
  'is',
  'are',
  'was',
  'were',
  'be',
  'do',
  'does',
  'did',
  'has',
  'have',
  'had',
  'can',
  'could',
  'will',
  'would',
  'should',
  'this',
  'that',
  'these',
  'those',
  'there',
  'it',
  'its',
  'of',
  'in',
  'on',
  'at',
  'to',
  'for',
  'from',
  'with',
  'by',
  'as',
  'into',
  'within',
  'than',
  'between',
  'about',
  'seen',
  'shown',
  'located',
  'whether',
]);

// Nouns that name what all alternatives are ("a CT or an MRI SCAN", "axial or sagittal VIEW",
// "left or right SIDE"): shared by the options, so not part of the last one.
const SHARED_NOUN = new Set([
  'image',
  'images',
  'scan',
  'scans',
  'scanner',
  'view',
  'views',
  'plane',
  'planes',
  'film',
  'radiograph',
  'picture',
  'side',
  'sides',
  'sequence',
  'study',
  'mri',
  'ct',
]);

const MAX_OPTION_WORDS = 6;

const words = (s: string) => s.split(/\s+/).filter((w) => w !== '');
const bare = (w: string) => w.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');

function dropLeadingArticles(ws: string[]): string[] {
  let i = 0;
  while (i < ws.length - 1 && ARTICLES.has(bare(ws[i]))) i++;
  return ws.slice(i);
}

/** Strip trailing shared nouns while more than one word remains; returns the removed ones. */
function stripSharedNouns(ws: string[]): { kept: string[]; removed: string[] } {
  const kept = [...ws];
  const removed: string[] = [];
  while (kept.length > 1 && SHARED_NOUN.has(bare(kept[kept.length - 1]))) removed.unshift(bare(kept.pop()!));
  return { kept, removed };
}

/** The last `n` words of a question stem, stopping early at a word that cannot be in an option. */
function stemTail(stem: string[], n: number): string[] {
  const out: string[] = [];
  for (let i = stem.length - 1; i >= 0 && out.length < n; i--) {
    if (STEM_BOUNDARY.has(bare(stem[i]))) break;
    // A possessive is a determiner ("the patient's | left or right"), not part of the option.
    if (out.length > 0 && /['’]s$/i.test(stem[i])) break;
    out.unshift(stem[i]);
  }
  return out;
}

function cleanOption(ws: string[]): string {
  const s = ws
    .join(' ')
    .replace(/^[\s"'“‘(]+|[\s"'”’).,;:!?]+$/g, '')
    .trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * The alternatives an "X or Y" question offers, in the question's order, or null when the question
 * is not recognisably one (no "or", an empty or over-long alternative, fewer than two distinct ones).
 */
export function extractAlternatives(question: string): string[] | null {
  const q = question.trim().replace(/[\s?.!]+$/, '');
  // "with or without contrast": both alternatives share the noun that follows.
  const ww = /(?:^|\s)with\s+or\s+without\s+(.+)$/i.exec(q);
  if (ww) {
    const noun = words(ww[1]);
    const cut = noun.findIndex((w, i) => i > 0 && TAIL_START.has(bare(w)));
    const n = (cut > 0 ? noun.slice(0, cut) : noun).join(' ');
    if (words(n).length > MAX_OPTION_WORDS - 1) return null;
    return [cleanOption(['with', n]), cleanOption(['without', n])];
  }
  const ors = [...q.matchAll(/(^|[\s,])(or|vs\.?|versus)(?=\s)/gi)];
  if (ors.length === 0) return null;
  const m = ors[ors.length - 1];
  const orStart = m.index! + m[1].length;
  const left = q.slice(0, orStart).replace(/[\s,]+$/, '');
  const right = q.slice(orStart + m[2].length).trim();

  // The last alternative: up to a clause break or a word that starts a qualifier.
  let rw = dropLeadingArticles(words(right.split(/[,;:]/)[0]));
  const cut = rw.findIndex((w, i) => i > 0 && TAIL_START.has(bare(w)));
  if (cut > 0) rw = rw.slice(0, cut);

  const segs = left.split(',').map((s) => s.trim());
  const listed = segs
    .slice(1)
    .filter((s) => s !== '')
    .map((s) => dropLeadingArticles(words(s)));
  const alts: string[][] = [];
  if (listed.length > 0) {
    // "stem, X, Y or Z": X and Y are delimited by commas. The stem holds a first alternative too
    // unless it is a complete wh-question ("Which organ is abnormal, heart or lung?").
    const lastListed = listed[listed.length - 1];
    const { kept, removed } = stripSharedNouns(rw);
    const lastListedWord = bare(lastListed[lastListed.length - 1] ?? '');
    if (removed.length > 0 && !removed.includes(lastListedWord)) rw = kept;
    const stem = words(segs[0]);
    if (!WH.has(bare(stem[0] ?? ''))) alts.push(stemTail(stem, lastListed.length));
    alts.push(...listed);
  } else {
    // "stem X or Y": X is read backwards out of the stem with as many words as Y has.
    const { kept, removed } = stripSharedNouns(rw);
    rw = kept;
    let stem = words(left);
    // "a T1 weighted image or a T2 weighted image": the shared noun closes both alternatives.
    for (const r of [...removed].reverse()) if (stem.length > 1 && bare(stem[stem.length - 1]) === r) stem = stem.slice(0, -1);
    alts.push(stemTail(stem, rw.length));
  }
  alts.push(rw);

  const out = alts.map(cleanOption);
  if (out.some((o) => o === '' || words(o).length > MAX_OPTION_WORDS)) return null;
  const distinct = new Set(out.map((o) => o.toLowerCase()));
  if (distinct.size !== out.length || out.length < 2) return null;
  return out;
}

/** Comparison form of an answer or option: case, articles, end punctuation and shared nouns ignored. */
export function normalizeAnswer(s: string): string {
  const ws = dropLeadingArticles(
    words(
      s
        .toLowerCase()
        .replace(/[.,;:!?]+$/g, '')
        .replace(/-/g, ' ')
        .trim(),
    ),
  );
  return stripSharedNouns(ws).kept.join(' ');
}

// "hypo dense" and "hypodense", "non enhanced" and "non-enhanced" are the same answer.
const squash = (s: string) => s.replace(/[\s-]+/g, '');

const YES_NO: Record<string, 'A' | 'B'> = { yes: 'A', no: 'B' };

/** Turn a closed question and its gold answer into a multiple-choice item's options and gold. */
export function convertClosed(question: string, goldAnswer: string | number): ClosedConversion {
  const gold = String(goldAnswer ?? '').trim();
  if (gold === '') return { ok: false, reason: 'empty gold answer', alternatives: null };
  const yn = YES_NO[gold.toLowerCase().replace(/[.!]+$/, '')];
  if (yn) {
    const options = { A: 'Yes', B: 'No' };
    return { ok: true, kind: 'yes/no', options, answer_label: yn, answer: options[yn], match: 'exact' };
  }
  const alts = extractAlternatives(question);
  if (!alts) {
    return { ok: false, reason: `gold answer "${gold}" is not yes/no and no "X or Y" alternatives could be read from the question`, alternatives: null };
  }
  const g = normalizeAnswer(gold);
  const norm = alts.map(normalizeAnswer);
  let idx = norm.indexOf(g);
  if (idx < 0) {
    const sq = norm.map(squash);
    if (sq.filter((o) => o === squash(g)).length === 1) idx = sq.indexOf(squash(g));
  }
  let match: 'exact' | 'prefix' = 'exact';
  if (idx < 0) {
    const gw = words(g);
    const hits = norm.map((o, i) => ({ ow: words(o), i })).filter(({ ow }) => gw.length < ow.length && gw.every((w, k) => ow[k] === w));
    if (hits.length === 1) {
      idx = hits[0].i;
      match = 'prefix';
    }
  }
  if (idx < 0) {
    return { ok: false, reason: `gold answer "${gold}" is not among the options [${alts.join(' | ')}]`, alternatives: alts };
  }
  const options = lettered(alts);
  const label = Object.keys(options)[idx];
  return { ok: true, kind: 'alternatives', options, answer_label: label, answer: options[label], match };
}
