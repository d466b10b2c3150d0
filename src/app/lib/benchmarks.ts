// The Evaluate page's benchmark choices (the table beside the paper's rows is eval/report.ts paperComparison).
import type { DataRef, DatasetInfo } from '../../lab/api';
import { isPaperBenchmark } from '../../eval/paper';

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
        name: `synth-${kind}-L${level}`,
        label: `synth ${kind}, level ${level} (held out)`,
        group: 'synth',
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
      out.push({
        name,
        label: `${d.name} · ${s.name} (${s.items.toLocaleString()} items)`,
        group: 'stored',
        data: { kind: 'dataset', name: d.name, split: s.name },
      });
    }
  }
  return out;
}
