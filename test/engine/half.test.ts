// The host's f32 <-> f16 conversion that frozen f16 weights are uploaded through: every binary16
// value round-trips, and every f32 goes to its nearest half with ties to even, checked against the
// neighbours (not against another implementation of the same bit tricks).
import { describe, expect, it } from 'vitest';
import { fromHalfBits, packHalves, toHalfBits, unpackHalves } from '../../src/engine/tensor';
import { rng } from '../helpers/gpu';

describe('f16 on the host', () => {
  it('every finite half round-trips exactly, and the special values are right', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = fromHalfBits(h);
      if (Number.isNaN(v)) continue;
      // -0 and +0 are distinct bit patterns; the conversion keeps the sign.
      expect(toHalfBits(v)).toBe(h);
    }
    expect(fromHalfBits(0x3c00)).toBe(1);
    expect(fromHalfBits(0x7bff)).toBe(65504);
    expect(fromHalfBits(0x0001)).toBe(2 ** -24);
    expect(fromHalfBits(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(Number.isNaN(fromHalfBits(toHalfBits(Number.NaN)))).toBe(true);
  });

  it('an f32 goes to the nearest half, ties to even, overflow to infinity, underflow through subnormals', () => {
    const r = rng(5);
    for (let i = 0; i < 20000; i++) {
      // Magnitudes from 2^-26 (below the smallest subnormal) to 2^17 (beyond 65504).
      const x = Math.fround((r.uniform() < 0.5 ? -1 : 1) * 2 ** (r.uniform() * 43 - 26));
      const h = toHalfBits(x);
      const v = fromHalfBits(h);
      if (Math.abs(x) > 65520) {
        expect(Math.abs(v)).toBe(Number.POSITIVE_INFINITY);
        continue;
      }
      // No neighbouring half is closer.
      for (const n of [h - 1, h + 1]) {
        if ((n & 0x7fff) > 0x7bff || n < 0 || (n ^ h) & 0x8000) continue;
        expect(Math.abs(fromHalfBits(n) - x)).toBeGreaterThanOrEqual(Math.abs(v - x));
      }
    }
    // Ties: 1 + 2^-11 is halfway between 1 and 1 + 2^-10, and goes to the even mantissa (1).
    expect(fromHalfBits(toHalfBits(1 + 2 ** -11))).toBe(1);
    expect(fromHalfBits(toHalfBits(1 + 3 * 2 ** -11))).toBe(1 + 2 * 2 ** -10);
    expect(toHalfBits(65519)).toBe(0x7bff);
    expect(toHalfBits(65520)).toBe(0x7c00);
  });

  it('packs two halves to a word, the even element low, and refuses a finite value beyond the range', () => {
    const data = Float32Array.from([1, -2, 0.5]);
    const words = packHalves(data);
    expect(Array.from(words)).toEqual([0x3c00 | (0xc000 << 16), 0x3800].map((w) => w >>> 0));
    expect(Array.from(unpackHalves(words, 3))).toEqual([1, -2, 0.5]);
    expect(() => packHalves(Float32Array.from([1e6]), 'w')).toThrow(/w: element 0 is 1000000, beyond the f16 range/);
  });
});
