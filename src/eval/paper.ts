// The accuracies the MedVLThinker paper reports (arXiv 2508.02669, recipe.md §7), kept as data so
// a lab run can be printed beside them. These are the PAPER's numbers for Qwen2.5-VL models (and the
// paper's baselines), measured at full scale on the full test sets; nothing here was measured by
// the lab. Values are accuracy in percent; "Avg." is the paper's unweighted mean of its six columns.

/** The six benchmarks of the paper, in its column order, keyed by the lab's benchmark names. */
export const PAPER_BENCHMARKS = [
  { key: 'pmc-vqa', column: 'PMC', items: 2000 },
  { key: 'mmmu', column: 'MMMU', items: 170 },
  { key: 'medxpertqa-mm', column: 'MedX-M', items: 1996 },
  { key: 'pathvqa', column: 'PathVQA', items: 3362 },
  { key: 'slake', column: 'SLAKE', items: 416 },
  { key: 'vqa-rad', column: 'VQA-RAD', items: 272 },
] as const;

export type PaperBenchmark = (typeof PAPER_BENCHMARKS)[number]['key'];

export interface PaperRow {
  /** The row's name as the paper prints it. */
  model: string;
  /** What the row is, for a label that cannot be mistaken for a lab result. */
  description: string;
  /** Accuracy (%) per benchmark. */
  scores: Record<PaperBenchmark, number>;
  /** The paper's "Avg." (mean of the six, as printed). */
  avg: number;
}

const row = (model: string, description: string, s: number[], avg: number): PaperRow => ({
  model,
  description,
  avg,
  scores: Object.fromEntries(PAPER_BENCHMARKS.map((b, i) => [b.key, s[i]])) as Record<PaperBenchmark, number>,
});

// Columns: PMC, MMMU, MedX-M, PathVQA, SLAKE, VQA-RAD.
export const PAPER_ROWS: readonly PaperRow[] = [
  row('Qwen2.5-VL-3B-Instruct', 'Qwen2.5-VL-3B-Instruct, no medical training', [44.77, 44.12, 20.69, 61.96, 61.3, 62.01], 49.14),
  row('3B SFT(m23k)', 'Qwen2.5-VL-3B-Instruct + SFT on m23k reasoning traces', [28.53, 32.55, 16.0, 42.74, 43.91, 33.09], 32.8),
  row('3B SFT(PMC)', 'Qwen2.5-VL-3B-Instruct + SFT on PMC-VQA GPT-4o traces', [54.55, 47.84, 21.46, 52.76, 65.79, 58.58], 50.16),
  row('3B RL(m23k)', 'Qwen2.5-VL-3B-Instruct + GRPO on filtered m23k', [47.32, 52.16, 22.9, 62.28, 63.38, 71.08], 53.19),
  row('3B RL(PMC)', 'Qwen2.5-VL-3B-Instruct + GRPO on filtered PMC-VQA', [54.22, 48.43, 21.51, 51.61, 75.56, 62.38], 52.28),
  row('Qwen2.5-VL-7B-Instruct', 'Qwen2.5-VL-7B-Instruct, no medical training', [49.3, 52.94, 18.89, 65.39, 65.71, 68.75], 53.5),
  row('7B SFT(m23k)', 'Qwen2.5-VL-7B-Instruct + SFT on m23k reasoning traces', [34.58, 46.86, 16.4, 56.35, 54.97, 53.8], 43.83),
  row('7B SFT(PMC)', 'Qwen2.5-VL-7B-Instruct + SFT on PMC-VQA GPT-4o traces', [54.67, 49.8, 21.39, 53.02, 67.71, 57.72], 50.72),
  row('7B RL(m23k)', 'Qwen2.5-VL-7B-Instruct + GRPO on filtered m23k', [50.67, 56.86, 24.43, 66.83, 65.79, 64.71], 54.88),
  row('7B RL(PMC)', 'Qwen2.5-VL-7B-Instruct + GRPO on filtered PMC-VQA', [55.38, 55.29, 24.11, 57.09, 66.59, 63.48], 53.66),
  row('32B RL(m23k)', 'Qwen2.5-VL-32B-Instruct + GRPO on filtered m23k', [54.37, 70.0, 34.6, 68.82, 73.96, 76.96], 63.12),
  row('GPT-4o', "GPT-4o (the paper's baseline)", [58.55, 68.82, 35.95, 72.43, 76.44, 70.22], 63.74),
  row('MedGemma 4B', "MedGemma 4B (the paper's baseline)", [42.73, 32.55, 8.17, 59.64, 83.49, 78.55], 50.86),
  row('HuatuoGPT-Vision-7B', "HuatuoGPT-Vision-7B (the paper's baseline)", [53.39, 50.59, 22.0, 63.53, 75.0, 63.6], 54.69),
];

/** The label a paper row carries wherever it is printed, so it is never read as a lab result. */
export const paperLabel = (r: PaperRow) => `paper: ${r.model}`;

export const isPaperBenchmark = (name: string): name is PaperBenchmark => PAPER_BENCHMARKS.some((b) => b.key === name);

export function paperColumn(name: string): string | undefined {
  return PAPER_BENCHMARKS.find((b) => b.key === name)?.column;
}

/** Rows whose model name contains one of `filters` (case-insensitive); all rows when none is given. */
export function selectPaperRows(filters?: string[]): PaperRow[] {
  if (!filters || filters.length === 0) return [...PAPER_ROWS];
  const f = filters.map((s) => s.toLowerCase());
  return PAPER_ROWS.filter((r) => f.some((x) => r.model.toLowerCase().includes(x)));
}
