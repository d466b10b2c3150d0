import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { setup, randArray, compare, rng } from '../helpers/gpu';
import { rope, ropeInvFreq } from '../../src/engine/kernels/rope';
import { ropeRef, invFreqRef } from './rope.ref';
import { EngineError } from '../../src/engine/errors';

// Environment workaround (see attention.test.ts): Dawn on SwiftShader crashes when its event pump
// polls continuously while a submission runs; blocking the JS thread per timer tick keeps polls rare.
let throttle: ReturnType<typeof setInterval> | undefined;
beforeAll(() => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  throttle = setInterval(() => Atomics.wait(cell, 0, 0, 5), 0);
});
afterAll(() => clearInterval(throttle));

function positions(N: number, seed: number, max: number): Uint32Array {
  const r = rng(seed);
  const p = Uint32Array.from({ length: N }, () => r.int(max));
  p[0] = 0; // the identity rotation
  p[N - 1] = max - 1;
  return p;
}

async function run(N: number, nHeads: number, hd: number, pos: Uint32Array, theta: number, passes: boolean[]) {
  const x = randArray(N * nHeads * hd, N + hd);
  const inv = ropeInvFreq(theta, hd);
  const { s, t, read, done } = await setup([
    { name: 'x', shape: [N, nHeads, hd], dtype: 'f32', data: x },
    { name: 'pos', shape: [N], dtype: 'u32', data: pos },
    { name: 'inv', shape: [hd / 2], dtype: 'f32', data: inv },
  ]);
  for (const inverse of passes) rope(s, t('x'), t('pos'), t('inv'), N, nHeads, hd, inverse);
  const got = await read('x');
  done();
  return { x, inv, got };
}

describe('ropeInvFreq', () => {
  it('is theta^(-2i/hd) rounded to f32', () => {
    for (const [theta, hd] of [
      [10000, 64],
      [500000, 128],
      [1e6, 12],
    ]) {
      const got = ropeInvFreq(theta, hd);
      const want = invFreqRef(theta, hd);
      expect(got.length).toBe(hd / 2);
      for (let i = 0; i < hd / 2; i++) expect(got[i]).toBe(Math.fround(want[i]));
    }
    expect(() => ropeInvFreq(10000, 7)).toThrow(EngineError);
  });
});

describe('rope', () => {
  it('matches the rotate_half reference (hd = 12, 3 heads, pair count not a multiple of the workgroup)', async () => {
    const N = 29,
      nHeads = 3,
      hd = 12;
    const pos = positions(N, 1, 4096);
    const { x, inv, got } = await run(N, nHeads, hd, pos, 10000, [false]);
    const c = compare(got, ropeRef(x, pos, inv, N, nHeads, hd), 2e-6, 1e-5);
    expect(c.ok, c.msg).toBe(true);
    // Position 0 leaves the first token untouched.
    expect(Array.from(got.subarray(0, nHeads * hd))).toEqual(Array.from(x.subarray(0, nHeads * hd)));
  });

  it('handles large angles (positions up to 100k with theta = 1e6, hd = 64)', async () => {
    const N = 9,
      nHeads = 2,
      hd = 64;
    const pos = positions(N, 2, 100_000);
    const { x, inv, got } = await run(N, nHeads, hd, pos, 1e6, [false]);
    const c = compare(got, ropeRef(x, pos, inv, N, nHeads, hd), 2e-6, 1e-5);
    expect(c.ok, c.msg).toBe(true);
  });

  it('inverse rotates back: inverse(forward(x)) == x, and inverse alone matches the -angle reference', async () => {
    const N = 17,
      nHeads = 4,
      hd = 8;
    const pos = positions(N, 3, 2048);
    const round = await run(N, nHeads, hd, pos, 10000, [false, true]);
    const c1 = compare(round.got, round.x, 2e-6, 1e-5);
    expect(c1.ok, c1.msg).toBe(true);
    const inv = await run(N, nHeads, hd, pos, 10000, [true]);
    const c2 = compare(inv.got, ropeRef(inv.x, pos, inv.inv, N, nHeads, hd, true), 2e-6, 1e-5);
    expect(c2.ok, c2.msg).toBe(true);
  });

  it('rejects odd head dims and short tensors', async () => {
    const { s, t, done } = await setup([
      { name: 'x', shape: [64], dtype: 'f32' },
      { name: 'pos', shape: [4], dtype: 'u32' },
      { name: 'inv', shape: [4], dtype: 'f32' },
    ]);
    expect(() => rope(s, t('x'), t('pos'), t('inv'), 4, 2, 7)).toThrow(/rope: head dim 7/);
    expect(() => rope(s, t('x'), t('pos'), t('inv'), 4, 4, 8)).toThrow(/rope: x \(x\)/);
    expect(() => rope(s, t('x'), t('inv'), t('inv'), 4, 2, 8)).toThrow(/positions/);
    done();
  });
});
