import { describe, expect, it } from 'vitest';
import type { ResponseRecord } from '../../src/recipe/grpo';
import { clipFlag, hasTokenKl, readablePrompt, tokenViews, visibleToken } from '../../src/app/lib/tokens';

const S = { clipLow: 0.2, clipHigh: 0.28, clipC: 3 };

/**
 * Independent reference: the per-token surrogate loss of verl's compute_policy_loss as a function
 * of the ratio; a token is clipped exactly where that function is flat (no gradient).
 */
function surrogate(r: number, a: number, s: typeof S): number {
  const clamped = Math.min(Math.max(r, 1 - s.clipLow), 1 + s.clipHigh);
  let pg = Math.max(-a * r, -a * clamped);
  if (s.clipC > 0 && a < 0) pg = Math.min(pg, -a * s.clipC);
  return pg;
}

describe('clip flags', () => {
  it('mark the cases of the PPO clip and the dual clip', () => {
    expect(clipFlag(1.0, 1, S)).toBe(0);
    expect(clipFlag(1.3, 1, S)).toBe(1); // pushed up past 1 + clipHigh: no further push
    expect(clipFlag(0.5, 1, S)).toBe(0); // positive advantage below 1 - clipLow still gets its gradient
    expect(clipFlag(0.7, -1, S)).toBe(1); // pushed down past 1 - clipLow
    expect(clipFlag(1.5, -1, S)).toBe(0);
    expect(clipFlag(4, -1, S)).toBe(2); // dual clip: negative advantage, ratio beyond c
    expect(clipFlag(4, -1, { ...S, clipC: 0 })).toBe(0);
    expect(clipFlag(1.5, 0, S)).toBe(0);
  });

  it('agree with where the surrogate loss has no slope in the ratio', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let clipped = 0;
    for (let i = 0; i < 2000; i++) {
      const r = Math.exp((rand() - 0.5) * 3);
      const a = (rand() - 0.5) * 4;
      const h = 1e-6;
      const slope = (surrogate(r + h, a, S) - surrogate(r - h, a, S)) / (2 * h);
      // Stay off the kinks, where the slope is one-sided.
      if ([1 - S.clipLow, 1 + S.clipHigh, S.clipC].some((k) => Math.abs(r - k) < 1e-4)) continue;
      const flat = Math.abs(slope) < 1e-9;
      expect(clipFlag(r, a, S) > 0, `r=${r} a=${a}`).toBe(flat);
      if (flat) clipped++;
    }
    expect(clipped).toBeGreaterThan(100);
  });
});

const rec = (over: Partial<ResponseRecord> = {}): ResponseRecord => ({
  text: 'ab c',
  tokens: ['a', 'b', ' c'],
  reward: 1,
  correct: true,
  format: true,
  advantage: 0.5,
  finished: true,
  ratios: [1, 1.5, 0.9],
  ...over,
});

describe('token views', () => {
  it('derive clip flags from ratios and the advantage', () => {
    const v = tokenViews(rec(), S);
    expect(v.map((t) => t.clip)).toEqual([0, 1, 0]);
    expect(v.map((t) => t.kl)).toEqual([null, null, null]);
    expect(hasTokenKl(rec())).toBe(false);
  });

  it("use the kernel's own flags and KL when a record carries them", () => {
    const r = { ...rec(), clip: [2, 0, 1], kl: [0.01, 0.02, 0.03] } as ResponseRecord;
    const v = tokenViews(r, S);
    expect(v.map((t) => t.clip)).toEqual([2, 0, 1]);
    expect(v.map((t) => t.kl)).toEqual([0.01, 0.02, 0.03]);
    expect(hasTokenKl(r)).toBe(true);
  });

  it('leave untrained responses (dropped groups) unflagged', () => {
    const v = tokenViews(rec({ ratios: null, advantage: 0 }), S);
    expect(v.every((t) => t.ratio === null && t.clip === 0)).toBe(true);
  });

  it('make newlines, tabs and control characters visible', () => {
    expect(visibleToken('a\nb\t')).toBe('a↵\nb→');
    expect(visibleToken('x\u0001y\u0085z\u007f')).toBe('x<U+0001>y<U+0085>z<U+007F>');
    expect(visibleToken('é → \uFFFD')).toBe('é → \uFFFD');
  });

  it('show a run of image placeholders once, with its count', () => {
    expect(readablePrompt(`<|im_start|>user\n${'<image>'.repeat(16)}You will solve<image>`)).toBe('<|im_start|>user\n<image>×16You will solve<image>');
    expect(readablePrompt('no images')).toBe('no images');
  });
});
