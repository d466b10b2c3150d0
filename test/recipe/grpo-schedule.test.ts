// The GRPO learning rate by step: the recipe's constant rate, or warmup + cosine to a floor for
// small models, a function of the step alone (so a resumed run continues exactly).
import { describe, it, expect } from 'vitest';
import { grpoLr } from '../../src/recipe/grpo';
import { GRPO_DEFAULTS, grpoOptions, grpoConfigFrom } from '../../src/recipe/grpo-config';
import { InputError } from '../../src/engine/errors';

describe('GRPO learning-rate schedule', () => {
  it('constant by default (the recipe); cosine warms up, decays to the floor at the last step, and matches the closed form', () => {
    const flat = grpoOptions(GRPO_DEFAULTS, 10);
    expect([0, 5, 9].map((s) => grpoLr(flat, s))).toEqual([1e-4, 1e-4, 1e-4]);

    const c = grpoConfigFrom({ lr: 1e-3, schedule: 'cosine', warmupRatio: 0.2, minLrRatio: 0.1 });
    const o = grpoOptions(c, 10);
    expect(o.schedule).toEqual({ kind: 'cosine', warmup: 2, total: 10, minRatio: 0.1 });
    const lrs = Array.from({ length: 11 }, (_, s) => grpoLr(o, s));
    expect(lrs[0]).toBeCloseTo(5e-4, 12);
    expect(lrs[1]).toBeCloseTo(1e-3, 12);
    // Step 6 of 10 after 2 warmup steps: progress 0.5, so halfway between peak and floor.
    expect(lrs[6]).toBeCloseTo(1e-4 + 0.5 * (1e-3 - 1e-4), 12);
    expect(lrs[10]).toBeCloseTo(1e-4, 12);
    for (let s = 2; s < 10; s++) expect(lrs[s + 1]).toBeLessThan(lrs[s]);
    expect(() => grpoConfigFrom({ schedule: 'linear' })).toThrow(InputError);
  });
});
