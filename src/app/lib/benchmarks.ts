// The Evaluate page's benchmark choices and the table beside the paper's rows.
import type { DataRef, DatasetInfo } from '../../lab/api';
import type { BenchmarkResult } from '../../eval/run';
import { isPaperBenchmark, PAPER_BENCHMARKS } from '../../eval/paper';

export interface BenchmarkChoice {
  /** The name results carry; a paper benchmark's key when the data is one of the paper's sets. */
  name: string;
  label: string;
  data: DataRef;
  group: 'synth' | 'stored';
}

/** Synth held-out sets: the test split, whose content never occurs in training items. */
export function synthChoices(n: number, seed = 1): BenchmarkChoice[] {
  const out: BenchmarkChoice[] = [];
  for (const kind of ['text', 'image'] as const) {
    for (const level of [1, 2, 3] as const) {
      out.push({
        name: `synth-${kind}-L${level}`, label: `synth ${kind}, level ${level} (held out)`, group: 'synth',
        data: { kind: 'synth', options: { n, kind, level, seed, split: 'test' } },
      });
    }
  }
  return out;
}

/**
 * Every split of every stored dataset. A dataset read by one of the paper's loaders is named by
 * that benchmark's key (its test split) so its score lands in the paper's column.
 */
export function storedChoices(datasets: readonly DatasetInfo[]): BenchmarkChoice[] {
  const out: BenchmarkChoice[] = [];
  const used = new Set<string>();
  for (const d of datasets) {
    for (const s of d.splits) {
      let name = `${d.name}/${s.name}`;
      if (isPaperBenchmark(d.source) && s.name === 'test' && !used.has(d.source)) name = d.source;
      used.add(name);
      out.push({ name, label: `${d.name} · ${s.name} (${s.items.toLocaleString()} items)`, group: 'stored', data: { kind: 'dataset', name: d.name, split: s.name } });
    }
  }
  return out;
}

export interface PaperComparison {
  /** The paper's columns, in its order. */
  columns: { key: string; column: string }[];
  /** The lab's accuracy (%) per column, null where not evaluated. */
  lab: (number | null)[];
  /** Mean over the evaluated paper columns, or null when none was (the paper's Avg. needs all six). */
  labMean: number | null;
  complete: boolean;
}

export function paperComparison(results: readonly BenchmarkResult[]): PaperComparison {
  const columns = PAPER_BENCHMARKS.map((b) => ({ key: b.key as string, column: b.column as string }));
  const lab = columns.map((c) => {
    const r = results.find((x) => x.name === c.key);
    return r ? 100 * r.accuracy : null;
  });
  const got = lab.filter((v): v is number => v !== null);
  return { columns, lab, labMean: got.length ? got.reduce((a, b) => a + b, 0) / got.length : null, complete: got.length === columns.length };
}
