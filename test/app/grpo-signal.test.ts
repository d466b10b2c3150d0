// The Train page's "no learning signal" warnings and its live time left, from metric rows.
import { describe, it, expect } from 'vitest';
import { lastEvalAt, liveSignalWarning, startModelWarning, EQUAL_STEPS } from '../../src/app/lib/grpo-signal';
import { runEta } from '../../src/app/stores/runs';
import { GRPO_DEFAULTS } from '../../src/recipe/grpo-config';
import type { MetricRow } from '../../src/app/lib/metrics';

const step = (n: number, o: Record<string, number>): MetricRow => ({ type: 'step', step: n, format_rate: 1, groups_equal: 0, reward_mean: 0.5, ...o });
const ev = (n: number, format: number, seconds = 4): MetricRow => ({ type: 'eval', step: n, format_rate: format, accuracy: 0, seconds });

describe('GRPO learning-signal warnings', () => {
  it("before Start: the start checkpoint's own last evaluation decides", () => {
    const sft = [ev(0, 0), ev(50, 0.02), ev(100, 0.97)];
    expect(lastEvalAt(sft, 60)?.step).toBe(50);
    expect(startModelWarning(lastEvalAt(sft, 60))?.title).toMatch(/format on 2% of its held-out questions \(step 50\)/);
    expect(startModelWarning(lastEvalAt(sft, 100))).toBeNull();
    expect(startModelWarning(lastEvalAt(sft))).toBeNull();
    expect(startModelWarning(null)).toBeNull();
  });

  it('during a run: only after EQUAL_STEPS steps in a row without format or without any group spread', () => {
    const P = 4;
    const noFormat = Array.from({ length: EQUAL_STEPS }, (_, i) => step(i + 1, { format_rate: 0, reward_mean: 0, groups_equal: P }));
    expect(liveSignalWarning(noFormat.slice(1), P)).toBeNull();
    expect(liveSignalWarning(noFormat, P)?.title).toMatch(/no sampled answer had the format/);
    const allWrong = Array.from({ length: EQUAL_STEPS }, (_, i) => step(i + 1, { groups_equal: P, reward_mean: 0 }));
    expect(liveSignalWarning(allWrong, P)?.advice).toMatch(/train SFT longer/);
    const allRight = Array.from({ length: EQUAL_STEPS }, (_, i) => step(i + 1, { groups_equal: P, reward_mean: 1 }));
    expect(liveSignalWarning(allRight, P)?.advice).toMatch(/too easy/);
    // One group with a spread in the window is a signal.
    expect(liveSignalWarning([...allWrong.slice(0, -1), step(EQUAL_STEPS, { groups_equal: P - 1, reward_mean: 0.1 })], P)).toBeNull();
    // Evaluation rows in between do not count as steps.
    expect(liveSignalWarning([allWrong[0], ev(1, 0.9), allWrong[1], allWrong[2]], P)).not.toBeNull();
  });

  it('time left: mean step time after the first, plus the evaluations still to come', () => {
    const cfg = { ...GRPO_DEFAULTS, eval: { ...GRPO_DEFAULTS.eval, every: 5, atStart: true, items: 8 } };
    const rows: MetricRow[] = [
      ev(0, 1, 6),
      { type: 'step', step: 1, seconds: 20 },
      { type: 'step', step: 2, seconds: 10 },
      { type: 'step', step: 3, seconds: 12 },
    ];
    // 10 steps: evals at 0, 5, end = 3; one done. 7 steps left x 11 s + 2 evals x 6 s.
    expect(runEta(cfg, rows, 3, 10)).toBeCloseTo(7 * 11 + 2 * 6, 9);
    expect(runEta(cfg, [ev(0, 1)], 0, 10)).toBeUndefined();
  });
});
