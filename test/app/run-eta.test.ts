// The Train page's live time left of a GRPO run, from its metric rows.
import { describe, it, expect } from 'vitest';
import { runEta } from '../../src/app/stores/runs';
import { GRPO_DEFAULTS } from '../../src/recipe/grpo-config';
import type { MetricRow } from '../../src/app/lib/metrics';

const ev = (n: number, format: number, seconds = 4): MetricRow => ({ type: 'eval', step: n, format_rate: format, accuracy: 0, seconds });

describe('run time left', () => {
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
