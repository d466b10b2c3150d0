// What a loader saw, kept next to what it produced: a count that is wrong silently is worse than a
// crash, so every record of a split is either an item, excluded by design (an open question, another
// language), or dropped with its file, line or row and the reason.

import { InputError } from '../engine/errors';
import { itemProblem, type QAItem } from '../task/schema';

export type DropKind =
  /** Malformed input: unparsable line, wrong columns, no options, a gold letter outside them. */
  | 'bad-input'
  /** A closed question the conversion to multiple choice could not handle. */
  | 'not-convertible'
  /** An item whose image files are not there. */
  | 'missing-image';

export interface DroppedItem {
  /** `file:line`, `file#row` or `file[index]`. */
  where: string;
  kind: DropKind;
  reason: string;
  question?: string;
  answer?: string;
}

export interface LoadReport {
  dataset: string;
  split: string;
  /** The folder or files read. */
  source: string;
  /** Records of the split before any selection (e.g. all 451 VQA-RAD test questions). */
  records: number;
  /** Records left out by design, by reason (e.g. { 'open question': 179 }); not errors. */
  excluded: Record<string, number>;
  /** Records that should become items: records minus excluded. */
  in: number;
  /** Items produced. */
  out: number;
  /** Every record of `in` that did not become an item; in = out + dropped.length. */
  dropped: DroppedItem[];
  /** Items whose gold answer matched an extracted option only by its leading words ("T2" -> "T2 weighted"). */
  prefixMatched?: number;
  notes: string[];
}

export interface LoadOptions {
  split?: string;
  /** On malformed input or a missing image: skip it and report it (default), or stop with an error. */
  onBad?: 'skip' | 'stop';
  /** Stop after this many items (quick runs); the report says so. */
  limit?: number;
}

export interface LoadResult {
  items: QAItem[];
  report: LoadReport;
}

/** Collects items and the report as a loader walks its records. */
export class Collector {
  readonly items: QAItem[] = [];
  readonly report: LoadReport;

  constructor(
    dataset: string,
    split: string,
    source: string,
    private readonly opts: LoadOptions = {},
  ) {
    this.report = { dataset, split, source, records: 0, excluded: {}, in: 0, out: 0, dropped: [], notes: [] };
  }

  /** True once `limit` items are collected: the loader should stop reading. */
  get full(): boolean {
    return this.opts.limit !== undefined && this.items.length >= this.opts.limit;
  }

  record(n = 1) {
    this.report.records += n;
  }

  exclude(reason: string) {
    this.report.excluded[reason] = (this.report.excluded[reason] ?? 0) + 1;
  }

  /** A record that should become an item could not; `stop` mode turns input problems into errors. */
  drop(d: DroppedItem) {
    this.report.in++;
    this.report.dropped.push(d);
    if (this.opts.onBad === 'stop' && d.kind !== 'not-convertible') throw new InputError(d.where, d.reason);
  }

  /** Add an item after checking it is gradable; a broken one is dropped as bad input. */
  add(item: QAItem, where: string) {
    const problem = itemProblem(item);
    if (problem) {
      this.drop({ where, kind: 'bad-input', reason: problem, question: item.question, answer: item.answer });
      return;
    }
    this.report.in++;
    this.items.push(item);
  }

  note(text: string) {
    this.report.notes.push(text);
  }

  finish(): LoadResult {
    const r = this.report;
    r.out = this.items.length;
    if (this.full) r.notes.push(`stopped after ${this.opts.limit} items (limit)`);
    if (r.in !== r.out + r.dropped.length)
      throw new Error(`internal: ${r.dataset} counts do not add up (in ${r.in}, out ${r.out}, dropped ${r.dropped.length})`);
    return { items: this.items, report: r };
  }
}

/** Human-readable summary of a report, one fact a line, every dropped item listed. */
export function formatReport(r: LoadReport): string {
  const lines = [`dataset: ${r.dataset}   split: ${r.split}`, `source: ${r.source}`, `records in split: ${r.records}`];
  for (const [why, n] of Object.entries(r.excluded)) lines.push(`excluded (${why}): ${n}`);
  lines.push(`items in: ${r.in}`, `multiple-choice items out: ${r.out}`);
  if (r.prefixMatched) lines.push(`gold matched to an option by its leading words: ${r.prefixMatched}`);
  lines.push(`dropped: ${r.dropped.length}`);
  const byKind = new Map<string, number>();
  for (const d of r.dropped) byKind.set(d.kind, (byKind.get(d.kind) ?? 0) + 1);
  for (const [k, n] of byKind) lines.push(`  ${k}: ${n}`);
  for (const d of r.dropped) {
    const q = d.question !== undefined ? `  question: ${JSON.stringify(d.question)}` : '';
    lines.push(`  - ${d.where} [${d.kind}] ${d.reason}${q}`);
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
