import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/lab/api';
import type { GrpoStepMetrics } from '../../src/recipe/grpo';
import { appendRow, chartData, latest, normalizeRows, rowFromEvent, RUN_CHARTS, seriesFor, type MetricRow } from '../../src/app/lib/metrics';

const sftStep = (step: number, loss: number): RunEvent => ({
  type: 'sft-step',
  totalSteps: 10,
  metrics: { step, epoch: step / 10, loss, lr: 1e-3, gradNorm: 0.5, examples: 8, targetTokens: 100, tokens: 300, tokensPerSecond: 1000, seconds: 0.3 },
});

describe('metric rows', () => {
  it("turn live events into metrics.jsonl's rows", () => {
    expect(rowFromEvent(sftStep(3, 2.5))).toEqual({
      type: 'step',
      step: 3,
      epoch: 0.3,
      loss: 2.5,
      lr: 1e-3,
      grad_norm: 0.5,
      examples: 8,
      target_tokens: 100,
      tokens: 300,
      tokens_per_s: 1000,
      seconds: 0.3,
    });
    expect(
      rowFromEvent({ type: 'eval', step: 0, items: 4, formatRate: 0.25, accuracy: 0.5, rewardMean: 0.2, finishedRate: 0.75, meanResponseTokens: 12 }),
    ).toEqual({ type: 'eval', step: 0, format_rate: 0.25, accuracy: 0.5, reward_mean: 0.2, finished_rate: 0.75, mean_response_tokens: 12, items: 4 });
    const g = { step: 2, reward_mean: 0.4, kl: 0.01 } as unknown as GrpoStepMetrics;
    expect(rowFromEvent({ type: 'grpo-step', metrics: g, groups: [], totalSteps: 4 })).toEqual({ type: 'step', step: 2, reward_mean: 0.4, kl: 0.01 });
    expect(rowFromEvent({ type: 'log', line: 'x' })).toBeNull();
    expect(rowFromEvent({ type: 'checkpoint', step: 5, reason: 'periodic' })).toBeNull();
  });

  it('keep only rows with a numeric step; untyped rows are steps', () => {
    const rows = normalizeRows([
      { step: 1, loss: 2 },
      { type: 'eval', step: 0, accuracy: 0.1 },
      { loss: 3 },
      { step: 'x' } as unknown as Record<string, unknown>,
    ]);
    expect(rows.map((r) => [r.type, r.step])).toEqual([
      ['step', 1],
      ['eval', 0],
    ]);
  });

  it('read as one run after a resume redoes steps', () => {
    let rows: MetricRow[] = [];
    for (let s = 1; s <= 5; s++) rows = appendRow(rows, { type: 'step', step: s, loss: 10 - s });
    rows = appendRow(rows, { type: 'eval', step: 4, accuracy: 0.3 });
    // Resumed from the checkpoint at step 2: steps 3.. come again.
    rows = appendRow(rows, { type: 'step', step: 3, loss: 6.5 });
    expect(rows.filter((r) => r.type === 'step').map((r) => [r.step, r.loss])).toEqual([
      [1, 9],
      [2, 8],
      [3, 6.5],
    ]);
    // An eval row is only replaced by another eval row.
    expect(rows.filter((r) => r.type === 'eval').map((r) => r.step)).toEqual([4]);
  });
});

describe('chart data', () => {
  it('aligns step and eval series on the union of steps, with gaps as null', () => {
    const rows: MetricRow[] = [
      { type: 'eval', step: 0, accuracy: 0.1 },
      { type: 'step', step: 1, accuracy: 0.2 },
      { type: 'step', step: 2, accuracy: 0.3 },
      { type: 'step', step: 3, accuracy: Number.NaN },
      { type: 'eval', step: 2, accuracy: 0.5 },
    ];
    const spec = RUN_CHARTS.find((c) => c.id === 'accuracy')!;
    const d = chartData(rows, spec);
    expect(d.x).toEqual([0, 1, 2]);
    expect(d.ys).toEqual([
      [null, 0.2, 0.3],
      [0.1, null, 0.5],
    ]);
    expect(latest(rows, 'step', 'accuracy')).toBe(0.3);
    expect(latest(rows, 'eval', 'loss')).toBeNull();
  });

  it('has the charts the Train page promises, each with a caption', () => {
    const ids = RUN_CHARTS.map((c) => c.id);
    expect(ids).toEqual(['loss', 'reward', 'accuracy', 'format', 'kl', 'clip', 'entropy', 'length']);
    for (const c of RUN_CHARTS) expect(c.caption.length).toBeGreaterThan(30);
    // Every GRPO series reads a key of GrpoStepMetrics or of the eval rows.
    const grpoKeys = ['loss', 'reward_mean', 'accuracy', 'format_rate', 'kl', 'clip_frac', 'clip_frac_dual', 'entropy', 'response_length'];
    const evalKeys = ['eval_loss', 'reward_mean', 'accuracy', 'format_rate', 'mean_response_tokens'];
    for (const c of RUN_CHARTS) for (const s of c.series) expect(s.type === 'step' ? grpoKeys : evalKeys).toContain(s.key);
  });

  it('draw for each run kind only the series its runs log', () => {
    const labels = (id: string, kind: 'sft' | 'grpo') => seriesFor(RUN_CHARTS.find((c) => c.id === id)!, kind).map((s) => s.key);
    // SFT: its loss and held-out loss; elsewhere only held-out evaluations (its steps log no rollouts).
    expect(labels('loss', 'sft')).toEqual(['loss', 'eval_loss']);
    expect(labels('reward', 'sft')).toEqual(['reward_mean']);
    // GRPO evaluations carry no held-out loss: no empty "held-out" entry in its loss legend.
    expect(labels('loss', 'grpo')).toEqual(['loss']);
    expect(labels('reward', 'grpo')).toEqual(['reward_mean', 'reward_mean']);
  });
});
