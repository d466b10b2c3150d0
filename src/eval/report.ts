// An evaluation summary as a table beside the paper's rows for the same benchmarks, and as JSON.
// The paper's rows are labelled "paper: ..." everywhere and their averages are recomputed over the
// columns shown, so a lab run on three benchmarks is compared with the paper on those three.

import type { EvalSummary } from './run';
import { isPaperBenchmark, paperColumn, paperLabel, PAPER_BENCHMARKS, PAPER_ROWS, type PaperRow } from './paper';

export const PAPER_NOTE =
  'paper rows: accuracies (%) reported by MedVLThinker (arXiv 2508.02669) for Qwen2.5-VL models and its baselines, ' +
  'full-size models on the full test sets, mean of 3 greedy runs with up to 4096 new tokens; not measured by this lab. ' +
  "Their Avg. here is over the columns shown; the paper's own six-benchmark Avg. is in brackets.";

/** One of the paper's rows beside a run: its scores on the run's benchmarks, averaged over the same ones. */
export interface PaperRowComparison {
  label: string;
  model: string;
  description: string;
  /** Accuracy (%) per benchmark of the run, or null where the paper has none. */
  scores: Record<string, number | null>;
  /** Mean over the run's benchmarks that the paper reports (null if none): the columns labMean covers. */
  avg_same_benchmarks: number | null;
  paper_avg_six: number;
}

/**
 * A run beside the paper: the one comparison the CLI's table, its JSON and the Evaluate page show,
 * so they cannot average differently. Every mean covers the same columns: the paper's benchmarks
 * the run evaluated.
 */
export interface PaperComparison {
  /** The paper's columns, in its order. */
  columns: { key: string; column: string }[];
  /** The run's accuracy (%) per column, null where not evaluated. */
  lab: (number | null)[];
  /** The run's mean over the evaluated paper columns, or null when none was (the paper's Avg. needs all six). */
  labMean: number | null;
  /** All six evaluated. */
  complete: boolean;
  rows: PaperRowComparison[];
}

const pct = (x: number) => Math.round(x * 10000) / 100;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

export function paperComparison(results: readonly { name: string; accuracy: number }[], rows: readonly PaperRow[] = PAPER_ROWS): PaperComparison {
  const columns = PAPER_BENCHMARKS.map((b) => ({ key: b.key as string, column: b.column as string }));
  const lab = columns.map((c) => {
    const r = results.find((x) => x.name === c.key);
    return r ? 100 * r.accuracy : null;
  });
  const got = lab.filter((v): v is number => v !== null);
  const compared = rows.map((r) => {
    const scores: Record<string, number | null> = {};
    const have: number[] = [];
    for (const { name } of results) {
      const v = isPaperBenchmark(name) ? r.scores[name] : null;
      scores[name] = v;
      if (v !== null) have.push(v);
    }
    const avg = mean(have);
    return {
      label: paperLabel(r),
      model: r.model,
      description: r.description,
      scores,
      avg_same_benchmarks: avg === null ? null : Math.round(avg * 100) / 100,
      paper_avg_six: r.avg,
    };
  });
  return { columns, lab, labMean: mean(got), complete: got.length === columns.length, rows: compared };
}

export interface EvalReportJson {
  run: EvalSummary & { label: string };
  paper: { note: string; rows: PaperRowComparison[] };
}

export function evalReportJson(summary: EvalSummary, label: string, rows: readonly PaperRow[]): EvalReportJson {
  return {
    run: { label, ...summary },
    paper: { note: PAPER_NOTE, rows: paperComparison(summary.benchmarks, rows).rows },
  };
}

function pad(cells: string[][]): string {
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  return cells
    .map((r) =>
      r
        .map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A second model evaluated on the same items (`thinker eval --baseline`): its label and per-benchmark accuracy. */
export interface EvalBaseline {
  label: string;
  summary: Pick<EvalSummary, 'benchmarks' | 'average'>;
}

/**
 * The table printed after a run: the run's rows (with a baseline: its row and the difference, in
 * points, on the benchmarks both have), a rule, the paper's rows, then notes.
 */
export function formatEvalTable(summary: EvalSummary, label: string, rows: readonly PaperRow[], baseline?: EvalBaseline): string {
  const names = summary.benchmarks.map((b) => b.name);
  const fmt = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x.toFixed(2));
  const header = ['', ...names.map((n) => paperColumn(n) ?? n), 'Avg.'];
  const body: string[][] = [];
  body.push(['items', ...summary.benchmarks.map((b) => String(b.items)), '']);
  body.push([`this run: ${label} (greedy)`, ...summary.benchmarks.map((b) => fmt(pct(b.accuracy))), fmt(pct(summary.average.accuracy))]);
  if (baseline) {
    const base = new Map(baseline.summary.benchmarks.map((b) => [b.name, b.accuracy]));
    const signed = (x: number | null) => (x === null ? '—' : `${x >= 0 ? '+' : ''}${x.toFixed(2)}`);
    const delta = (name: string, acc: number) => (base.has(name) ? pct(acc) - pct(base.get(name)!) : null);
    body.push([
      `baseline: ${baseline.label} (greedy)`,
      ...summary.benchmarks.map((b) => fmt(base.has(b.name) ? pct(base.get(b.name)!) : null)),
      fmt(pct(baseline.summary.average.accuracy)),
    ]);
    body.push([
      'difference (points)',
      ...summary.benchmarks.map((b) => signed(delta(b.name, b.accuracy))),
      signed(pct(summary.average.accuracy) - pct(baseline.summary.average.accuracy)),
    ]);
  }
  const n = summary.settings.n;
  if (n > 1) {
    body.push([
      `this run: pass@${n}`,
      ...summary.benchmarks.map((b) => fmt(b.pass_at_n === undefined ? null : pct(b.pass_at_n))),
      fmt(summary.average.pass_at_n === undefined ? null : pct(summary.average.pass_at_n)),
    ]);
    body.push([
      `this run: majority of ${n}`,
      ...summary.benchmarks.map((b) => fmt(b.majority_accuracy === undefined ? null : pct(b.majority_accuracy))),
      fmt(summary.average.majority_accuracy === undefined ? null : pct(summary.average.majority_accuracy)),
    ]);
  }
  const cmp = paperComparison(summary.benchmarks, rows).rows;
  const paperRows = cmp.map((r) => [r.label, ...names.map((b) => fmt(r.scores[b])), `${fmt(r.avg_same_benchmarks)} [${r.paper_avg_six.toFixed(2)}]`]);
  const all = [header, ...body, ...paperRows];
  const table = pad(all).split('\n');
  const rule = '-'.repeat(Math.max(...table.map((l) => l.length)));
  const lines = [...table.slice(0, 1 + body.length), ...(paperRows.length ? [rule, ...table.slice(1 + body.length)] : [])];

  const notes: string[] = [];
  const s = summary.settings;
  notes.push(
    `this run: accuracy (%) with the paper's grader, ${s.decoding}, up to ${s.max_new_tokens} new tokens${s.limit ? `, first ${s.limit} items per benchmark` : ''}; Avg. is the unweighted mean over the ${names.length} benchmark(s) shown.`,
  );
  const skipped = summary.benchmarks.filter((b) => b.skipped > 0);
  if (skipped.length)
    notes.push(`items whose prompt does not fit the model's context count as wrong: ${skipped.map((b) => `${b.name} ${b.skipped}`).join(', ')}.`);
  const cut = summary.benchmarks.filter((b) => b.unfinished > 0);
  if (cut.length) notes.push(`greedy responses cut at the token budget: ${cut.map((b) => `${b.name} ${b.unfinished}/${b.items}`).join(', ')}.`);
  const blind = summary.benchmarks.filter((b) => b.without_images > 0);
  if (blind.length)
    notes.push(
      `items answered without (some of) their images (a text-only model sees none, a pretrained VLM only the first): ${blind.map((b) => `${b.name} ${b.without_images}/${b.items}`).join(', ')}.`,
    );
  const partial = summary.benchmarks.filter((b) => {
    const pb = PAPER_BENCHMARKS.find((x) => x.key === b.name);
    return pb && b.items < pb.items;
  });
  if (paperRows.length && partial.length)
    notes.push(
      `fewer items than the paper's sets (${partial.map((b) => `${b.name} ${b.items} of ${PAPER_BENCHMARKS.find((x) => x.key === b.name)!.items}`).join(', ')}): the comparison is indicative only.`,
    );
  if (paperRows.length) notes.push(PAPER_NOTE);
  return `${lines.join('\n')}\n\n${notes.map((x) => `* ${x}`).join('\n')}`;
}
