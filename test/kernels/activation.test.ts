import { describe, it, expect } from 'vitest';
import { setup, randArray, compare, foldedStream } from '../helpers/gpu';
import { swigluForward, swigluBackward, geluForward, geluBackward } from '../../src/engine/kernels/activation';
import { swigluRef, geluRef, silu, siluGrad, gelu, geluGrad } from './activation.ref';
import { EngineError } from '../../src/engine/errors';

const f32 = 'f32' as const;

/** Seeded inputs over a wide range, with the tails that break naive sigmoid/tanh appended. */
function inputs(n: number, seed: number): Float32Array {
  const a = randArray(n, seed, 6);
  const tails = [-100, -40, -17.5, -9, -1e-4, 0, 1e-4, 9, 17.5, 40, 100];
  a.set(tails, 0);
  return a;
}

describe('activations', () => {
  it('the float64 derivative references agree with central differences', () => {
    const h = 1e-6;
    for (const x of [-7, -2.5, -0.3, 0, 0.4, 1.7, 6]) {
      expect(Math.abs((silu(x + h) - silu(x - h)) / (2 * h) - siluGrad(x))).toBeLessThan(1e-8);
      expect(Math.abs((gelu(x + h) - gelu(x - h)) / (2 * h) - geluGrad(x))).toBeLessThan(1e-8);
    }
  });

  for (const fold of [0, 2])
    it(`swiglu forward and backward match float64 (n = 1001, with extreme gates${fold ? ', grid folded into 2D' : ''})`, async () => {
      const n = 1001;
      const gate = inputs(n, 1),
        up = randArray(n, 2, 2),
        dh = randArray(n, 3);
      const { s, t, read, done } = await setup([
        { name: 'gate', shape: [n], dtype: f32, data: gate },
        { name: 'up', shape: [n], dtype: f32, data: up },
        { name: 'h', shape: [n], dtype: f32 },
        { name: 'dh', shape: [n], dtype: f32, data: dh },
        { name: 'dgate', shape: [n], dtype: f32 },
        { name: 'dup', shape: [n], dtype: f32 },
      ]);
      const ls = fold ? foldedStream(s, fold) : s;
      swigluForward(ls, t('gate'), t('up'), t('h'), n);
      swigluBackward(ls, t('gate'), t('up'), t('dh'), t('dgate'), t('dup'), n);
      const got = { h: await read('h'), dgate: await read('dgate'), dup: await read('dup') };
      done();
      const want = swigluRef(gate, up, dh);
      for (const k of ['h', 'dgate', 'dup'] as const) {
        const c = compare(got[k], want[k], 1e-6, 2e-5);
        expect(c.ok, `${k}: ${c.msg}`).toBe(true);
      }
    });

  for (const fold of [0, 2])
    it(`gelu (tanh) forward and backward match float64 (n = 777, with extreme inputs${fold ? ', grid folded into 2D' : ''})`, async () => {
      const n = 777;
      const x = inputs(n, 4),
        dy = randArray(n, 5);
      const { s, t, read, done } = await setup([
        { name: 'x', shape: [n], dtype: f32, data: x },
        { name: 'y', shape: [n], dtype: f32 },
        { name: 'dy', shape: [n], dtype: f32, data: dy },
        { name: 'dx', shape: [n], dtype: f32 },
      ]);
      const ls = fold ? foldedStream(s, fold) : s;
      geluForward(ls, t('x'), t('y'), n);
      geluBackward(ls, t('x'), t('dy'), t('dx'), n);
      const got = { y: await read('y'), dx: await read('dx') };
      done();
      const want = geluRef(x, dy);
      for (const k of ['y', 'dx'] as const) {
        const c = compare(got[k], want[k], 1e-6, 2e-5);
        expect(c.ok, `${k}: ${c.msg}`).toBe(true);
      }
    });

  it('writes only the first n elements and rejects short or overlapping tensors', async () => {
    const { s, t, read, done } = await setup([
      { name: 'x', shape: [300], dtype: f32, data: randArray(300, 6) },
      { name: 'y', shape: [300], dtype: f32, data: new Float32Array(300).fill(8) },
      { name: 'short', shape: [100], dtype: f32 },
      { name: 'ids', shape: [300], dtype: 'u32' },
    ]);
    geluForward(s, t('x'), t('y'), 257);
    const y = await read('y');
    expect(y[256]).not.toBe(8);
    expect(y[257]).toBe(8);
    expect(() => geluForward(s, t('x'), t('short'), 257)).toThrow(EngineError);
    expect(() => geluForward(s, t('x'), t('x'), 10)).toThrow(/overlap/);
    expect(() => swigluForward(s, t('x'), t('ids'), t('y'), 10)).toThrow(/f32/);
    done();
  });
});
