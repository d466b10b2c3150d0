import { describe, expect, it } from 'vitest';
import { diverging, groupScale, NEGATIVE, POSITIVE, ratioColour, RATIO_DOWN, RATIO_UP } from '../../src/app/lib/colors';

const rgba = (css: string) => {
  const m = /^rgba\((\d+), (\d+), (\d+), ([\d.]+)\)$/.exec(css);
  if (!m) throw new Error(`not rgba: ${css}`);
  return { rgb: [Number(m[1]), Number(m[2]), Number(m[3])], a: Number(m[4]) };
};

describe('diverging scale', () => {
  it('is untinted at zero and for unusable input', () => {
    expect(diverging(0, 1).css).toBe('transparent');
    expect(diverging(Number.NaN, 1).css).toBe('transparent');
    expect(diverging(1, 0).css).toBe('transparent');
  });

  it('takes its hue from the sign and its strength from |value| / scale, clamped', () => {
    expect(rgba(diverging(0.5, 1).css).rgb).toEqual([...POSITIVE]);
    expect(rgba(diverging(-0.5, 1).css).rgb).toEqual([...NEGATIVE]);
    const alphas = [0.1, 0.3, 0.6, 1].map((v) => rgba(diverging(v, 1).css).a);
    for (let i = 1; i < alphas.length; i++) expect(alphas[i]).toBeGreaterThan(alphas[i - 1]);
    expect(diverging(5, 1).t).toBe(1);
    expect(diverging(-5, 1).t).toBe(-1);
    expect(rgba(diverging(5, 1).css).a).toBe(rgba(diverging(1, 1).css).a);
    expect(diverging(-0.25, 0.5).t).toBeCloseTo(-0.5);
  });

  it('scales a group by its strongest push, with a floor', () => {
    expect(groupScale([0.1, -0.7, 0.3])).toBeCloseTo(0.7);
    expect(groupScale([0, 0])).toBe(1e-3);
    expect(groupScale([Number.NaN, 0.2])).toBeCloseTo(0.2);
  });
});

describe('ratio colours', () => {
  it('are white at 1 and full at the clip bounds, blue above and orange below', () => {
    expect(ratioColour(1, 0.2, 0.28).css).toBe('transparent');
    expect(ratioColour(1.28, 0.2, 0.28).t).toBeCloseTo(1);
    expect(ratioColour(0.8, 0.2, 0.28).t).toBeCloseTo(-1);
    expect(rgba(ratioColour(1.1, 0.2, 0.2).css).rgb).toEqual([...RATIO_UP]);
    expect(rgba(ratioColour(0.9, 0.2, 0.2).css).rgb).toEqual([...RATIO_DOWN]);
    // On a log scale: ratio r and 1/r are equally far from 1 when the bounds are symmetric in log space.
    expect(ratioColour(1.1, 1 - 1 / 1.2, 0.2).t).toBeCloseTo(-ratioColour(1 / 1.1, 1 - 1 / 1.2, 0.2).t);
    expect(ratioColour(0, 0.2, 0.2).css).toBe('transparent');
  });
});
