// The run charts' data. A run's history comes from metrics.jsonl (runMetrics: snake_case rows with
// "type": "step" or "eval") and, while it runs, from RunEvents; both are turned into the same rows
// so a chart reads one list whether the run is live or was reloaded.
import type { RunEvent, RunKind } from '../../lab/api';

export type MetricRow = { type: string; step: number } & Record<string, unknown>;

/** The metrics.jsonl row a live event stands for, or null for events that are not metrics. */
export function rowFromEvent(e: RunEvent): MetricRow | null {
  switch (e.type) {
    case 'sft-step': {
      const s = e.metrics;
      return {
        type: 'step',
        step: s.step,
        epoch: s.epoch,
        loss: s.loss,
        lr: s.lr,
        grad_norm: s.gradNorm,
        examples: s.examples,
        target_tokens: s.targetTokens,
        tokens: s.tokens,
        tokens_per_s: s.tokensPerSecond,
        seconds: s.seconds,
      };
    }
    case 'grpo-step':
      return { type: 'step', ...e.metrics };
    case 'eval': {
      const row: MetricRow = { type: 'eval', step: e.step, format_rate: e.formatRate, accuracy: e.accuracy, reward_mean: e.rewardMean };
      if (e.evalLoss !== undefined) row.eval_loss = e.evalLoss;
      // The metrics.jsonl names, so a live run and one read back from disk chart the same.
      row.mean_response_tokens = e.meanResponseTokens;
      row.finished_rate = e.finishedRate;
      row.items = e.items;
      if (e.seconds !== undefined) row.seconds = e.seconds;
      return row;
    }
    default:
      return null;
  }
}

/** Rows as read from runMetrics: anything without a numeric step or a type is left out. */
export function normalizeRows(raw: readonly Record<string, unknown>[]): MetricRow[] {
  const out: MetricRow[] = [];
  for (const r of raw) {
    if (!r || typeof r !== 'object' || typeof r.step !== 'number' || !Number.isFinite(r.step)) continue;
    const type = typeof r.type === 'string' ? r.type : 'step';
    out.push({ ...r, type, step: r.step });
  }
  return out;
}

/**
 * Add a row. A resumed run redoes the steps after its checkpoint, so a row replaces every row of
 * its type at its step or later: the list always reads as one run.
 */
export function appendRow(rows: readonly MetricRow[], row: MetricRow): MetricRow[] {
  if (!rows.some((r) => r.type === row.type && r.step >= row.step)) return [...rows, row];
  return [...rows.filter((r) => r.type !== row.type || r.step < row.step), row];
}

export interface SeriesSpec {
  label: string;
  /** Which rows carry it. */
  type: 'step' | 'eval';
  key: string;
  colour: string;
  /** Run kinds that log it, when not every kind does (held-out loss: SFT only). */
  kinds?: RunKind[];
}

export interface ChartSpec {
  id: string;
  title: string;
  /** One line: what the curve means and which way is good. */
  caption: string;
  series: SeriesSpec[];
  /** Run kinds whose rows can carry it. */
  kinds: RunKind[];
  /** Shares (rates, accuracies) are drawn on 0..1 so a flat curve is not blown up to fill the plot. */
  share?: boolean;
}

const TRAIN = '#2563eb';
const HELD_OUT = '#d97706';
const EXTRA = '#7c3aed';

export const RUN_CHARTS: ChartSpec[] = [
  {
    id: 'loss',
    title: 'Loss',
    kinds: ['sft', 'grpo'],
    caption: 'SFT: mean negative log-likelihood per answer token (down is good). GRPO: clipped policy loss plus the KL term; read its trend, not its sign.',
    series: [
      { label: 'train', type: 'step', key: 'loss', colour: TRAIN },
      { label: 'held-out', type: 'eval', key: 'eval_loss', colour: HELD_OUT, kinds: ['sft'] },
    ],
  },
  {
    id: 'reward',
    title: 'Reward mean',
    share: true,
    kinds: ['sft', 'grpo'],
    caption: 'Reward is 1 when a response has the <think>…</think><answer>…</answer> format and the right answer, else 0; GRPO pushes this up.',
    series: [
      { label: 'rollouts', type: 'step', key: 'reward_mean', colour: TRAIN },
      { label: 'held-out (greedy)', type: 'eval', key: 'reward_mean', colour: HELD_OUT },
    ],
  },
  {
    id: 'accuracy',
    title: 'Accuracy',
    share: true,
    kinds: ['sft', 'grpo'],
    caption: "Share of answers the paper's grader marks correct, format or not: sampled rollouts, and greedy answers to held-out questions.",
    series: [
      { label: 'rollouts', type: 'step', key: 'accuracy', colour: TRAIN },
      { label: 'held-out (greedy)', type: 'eval', key: 'accuracy', colour: HELD_OUT },
    ],
  },
  {
    id: 'format',
    title: 'Format rate',
    share: true,
    kinds: ['sft', 'grpo'],
    caption: 'Share of responses whose whole text has the think/answer shape, the gate of the reward. SFT teaches it first.',
    series: [
      { label: 'rollouts', type: 'step', key: 'format_rate', colour: TRAIN },
      { label: 'held-out (greedy)', type: 'eval', key: 'format_rate', colour: HELD_OUT },
    ],
  },
  {
    id: 'kl',
    title: 'KL to the start model',
    kinds: ['grpo'],
    caption: 'Mean k3 KL between the policy and the frozen start model over response tokens: how far training has moved the model.',
    series: [{ label: 'KL', type: 'step', key: 'kl', colour: TRAIN }],
  },
  {
    id: 'clip',
    title: 'Clip fraction',
    share: true,
    kinds: ['grpo'],
    caption: 'Share of response tokens whose probability ratio left the clip range, so their gradient was cut off; large values mean updates that are too big.',
    series: [
      { label: 'clipped', type: 'step', key: 'clip_frac', colour: TRAIN },
      { label: 'dual-clipped', type: 'step', key: 'clip_frac_dual', colour: EXTRA },
    ],
  },
  {
    id: 'entropy',
    title: 'Entropy',
    kinds: ['grpo'],
    caption:
      "Mean entropy of the policy's next-token distribution on response tokens: high means exploring; a fall toward 0 means the G answers become the same.",
    series: [{ label: 'entropy', type: 'step', key: 'entropy', colour: TRAIN }],
  },
  {
    id: 'length',
    title: 'Response length',
    kinds: ['sft', 'grpo'],
    caption: 'Mean response length in tokens (end-of-turn included); responses cut at the token budget fail the format check.',
    series: [
      { label: 'rollouts', type: 'step', key: 'response_length', colour: TRAIN },
      { label: 'held-out (greedy)', type: 'eval', key: 'mean_response_tokens', colour: HELD_OUT },
    ],
  },
];

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export interface ChartData {
  /** Steps, ascending, where at least one series has a value. */
  x: number[];
  /** Per series, the value at each step or null. */
  ys: (number | null)[][];
}

/** One chart's columns, aligned on the union of steps (uPlot's data layout). */
export function chartData(rows: readonly MetricRow[], spec: Pick<ChartSpec, 'series'>): ChartData {
  const at = spec.series.map(() => new Map<number, number>());
  const steps = new Set<number>();
  for (const r of rows) {
    spec.series.forEach((s, i) => {
      if (r.type !== s.type) return;
      const v = num(r[s.key]);
      if (v === null) return;
      at[i].set(r.step, v);
      steps.add(r.step);
    });
  }
  const x = [...steps].sort((a, b) => a - b);
  return { x, ys: at.map((m) => x.map((s) => m.get(s) ?? null)) };
}

/** The newest value of a key in rows of a type, for the summary line under the charts. */
export function latest(rows: readonly MetricRow[], type: string, key: string): number | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    if (rows[i].type !== type) continue;
    const v = num(rows[i][key]);
    if (v !== null) return v;
  }
  return null;
}

/** The series of a chart that a run of this kind draws: SFT logs only its held-out evaluations beside the loss. */
export function seriesFor(spec: Pick<ChartSpec, 'id' | 'series'>, kind: RunKind): SeriesSpec[] {
  return spec.series.filter((s) => (!s.kinds || s.kinds.includes(kind)) && (kind === 'grpo' || s.type === 'eval' || spec.id === 'loss'));
}
