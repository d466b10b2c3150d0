import { describe, it, expect } from 'vitest';
import { setup, randArray, compare, rng, testGpu, REDUCTION_PATHS, useKernelPath } from '../helpers/gpu';
import { GradNorm, adamw, type AdamWHyper } from '../../src/engine/kernels/optimizer';
import { download, upload, slice } from '../../src/engine/tensor';
import { EngineError } from '../../src/engine/errors';
import { adamwRef, clipRef } from './optimizer.ref';

const normals = (n: number, seed: number, scale: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * scale);
};

/** Lower the per-dimension workgroup limit for one test so grid folding runs on tiny tensors. */
async function withMaxWorkgroups<T>(maxWg: number, f: () => Promise<T>): Promise<T> {
  const limits = (await testGpu()).limits as Record<string, number>;
  const old = limits.maxComputeWorkgroupsPerDimension;
  limits.maxComputeWorkgroupsPerDimension = maxWg;
  try {
    return await f();
  } finally {
    limits.maxComputeWorkgroupsPerDimension = old;
  }
}

// Sizes: smaller than one workgroup, not a multiple of it, and large enough for several
// sum-of-squares workgroups (2048 elements each).
const SIZES = [77, 1000, 5000];

async function trainSteps(maxNorm: number, gradScale: number) {
  const h0 = { lr: 0.02, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
  const p0 = SIZES.map((n, k) => randArray(n, 10 + k));
  const entries = SIZES.flatMap((n, k) =>
    ['p', 'g', 'm', 'v'].map((w) => ({
      name: `${w}${k}`,
      shape: [n],
      dtype: 'f32' as const,
      data: w === 'p' ? p0[k] : w === 'g' ? undefined : new Float32Array(n),
    })),
  );
  const { gpu, s, t, read, done } = await setup(entries);
  const gn = new GradNorm(gpu, 8);
  const P = p0.map((a) => Float64Array.from(a));
  const M = SIZES.map((n) => new Float64Array(n));
  const V = SIZES.map((n) => new Float64Array(n));
  const states: { got: Float32Array; want: { norm: number; scale: number } }[] = [];
  try {
    for (let step = 1; step <= 3; step++) {
      const grads = SIZES.map((n, k) => normals(n, 100 * step + k, gradScale));
      SIZES.forEach((_, k) => upload(gpu, t(`g${k}`), grads[k]));
      gn.reset(s);
      SIZES.forEach((_, k) => gn.accumulate(s, t(`g${k}`)));
      gn.finalize(s, maxNorm);
      const h: AdamWHyper = { ...h0, step };
      SIZES.forEach((_, k) => adamw(s, t(`p${k}`), t(`g${k}`), t(`m${k}`), t(`v${k}`), h, gn.state));
      await s.sync();
      const want = clipRef(grads, maxNorm);
      states.push({ got: await download(gpu, gn.state), want });
      SIZES.forEach((_, k) => adamwRef(P[k], grads[k], M[k], V[k], h, want.scale));
      // The next step's upload of g must not race this step's kernels reading it.
      await s.sync();
    }
    for (let k = 0; k < SIZES.length; k++) {
      for (const [w, ref] of [
        ['p', P[k]],
        ['m', M[k]],
        ['v', V[k]],
      ] as const) {
        const c = compare(await read(`${w}${k}`), ref, 1e-6, 2e-5);
        expect(c.ok, `${w}${k} (n=${SIZES[k]}, maxNorm=${maxNorm}): ${c.msg}`).toBe(true);
      }
    }
    return states;
  } finally {
    gn.destroy();
    done();
  }
}

describe.each(REDUCTION_PATHS)('GradNorm + AdamW ($path)', ({ rowKernels, subgroups }) => {
  useKernelPath(rowKernels, subgroups);

  it('sums squares on the path it names', async () => {
    const n = 40_003;
    const g = normals(n, 5, 2);
    const { gpu, s, t, done } = await setup([{ name: 'g', shape: [n], dtype: 'f32', data: g }]);
    const gn = new GradNorm(gpu, 2);
    try {
      gn.reset(s);
      gn.accumulate(s, t('g'));
      gn.accumulate(s, t('g'), 5); // fewer elements than threads: most chunks are empty
      gn.finalize(s, 0);
      expect(s.kernelsSeen.has(rowKernels ? 'gradnorm.sumsq.rows' : 'gradnorm.sumsq')).toBe(true);
      expect(s.kernelsSeen.has(rowKernels ? 'gradnorm.sumsq' : 'gradnorm.sumsq.rows')).toBe(false);
      await s.sync();
      const got = await download(gpu, gn.state);
      const want = clipRef([g, g.subarray(0, 5)], 0).norm;
      expect(Math.abs(got[0] - want) / want).toBeLessThan(1e-5);
    } finally {
      gn.destroy();
      done();
    }
  });

  it('matches torch AdamW with clip_grad_norm_ over 3 steps when clipping is active', async () => {
    const states = await trainSteps(1.0, 0.5);
    for (const { got, want } of states) {
      expect(want.scale).toBeLessThan(0.1); // the test really clips
      expect(Math.abs(got[0] - want.norm) / want.norm).toBeLessThan(1e-5);
      expect(Math.abs(got[1] - want.scale) / want.scale).toBeLessThan(1e-5);
    }
  });

  it('leaves the gradient unscaled (scale exactly 1) under the limit and with clipping off', async () => {
    for (const maxNorm of [1e4, 0]) {
      const states = await trainSteps(maxNorm, 0.01);
      for (const { got, want } of states) {
        expect(got[1]).toBe(1);
        expect(Math.abs(got[0] - want.norm) / want.norm).toBeLessThan(1e-5);
      }
    }
  });

  it('is deterministic, honours n, and folds its slots in a fixed order', async () => {
    const n = 40_000;
    const g = normals(n, 7, 3);
    const { gpu, s, t, done } = await setup([{ name: 'g', shape: [n], dtype: 'f32', data: g }]);
    const gn = new GradNorm(gpu, 4);
    try {
      const run = async () => {
        gn.reset(s);
        gn.accumulate(s, t('g'));
        gn.accumulate(s, t('g'), 700); // a prefix: only g[0..700) counts
        gn.finalize(s, 5);
        await s.sync();
        return download(gpu, gn.state);
      };
      const a = await run();
      const b = await run();
      expect(Array.from(b)).toEqual(Array.from(a));
      const want = clipRef([g, g.subarray(0, 700)], 5);
      expect(Math.abs(a[0] - want.norm) / want.norm).toBeLessThan(1e-5);
      expect(Math.abs(a[1] - want.scale) / want.scale).toBeLessThan(1e-5);
      // A reset forgets earlier slots even though their partials are still in memory.
      gn.reset(s);
      gn.accumulate(s, t('g'), 300);
      gn.finalize(s, 0);
      await s.sync();
      const c = await download(gpu, gn.state);
      expect(Math.abs(c[0] - clipRef([g.subarray(0, 300)], 0).norm) / c[0]).toBeLessThan(1e-5);
      expect(c[1]).toBe(1);
      // Empty sum: norm 0, nothing to clip.
      gn.reset(s);
      gn.finalize(s, 1);
      await s.sync();
      expect(Array.from(await download(gpu, gn.state))).toEqual([0, 1]);
    } finally {
      gn.destroy();
      done();
    }
  });

  it('folds large grids into 2D (tested with a lowered per-dimension limit)', async () => {
    await withMaxWorkgroups(3, async () => {
      // adamw: 1800 elements = 8 workgroups -> a 3x3 grid with one idle workgroup;
      // 1000 = 4 -> 2x2. GradNorm: 10000 elements wants 5 workgroups, gets 3 with a longer stride.
      for (const n of [1800, 1000]) {
        const p = randArray(n, 1),
          g = randArray(n, 2),
          m = randArray(n, 3, 0.1);
        const v = Float32Array.from(randArray(n, 4), (x) => x * x * 0.01);
        const { s, t, read, done } = await setup([
          { name: 'p', shape: [n + 50], dtype: 'f32', data: p },
          { name: 'g', shape: [n], dtype: 'f32', data: g },
          { name: 'm', shape: [n], dtype: 'f32', data: m },
          { name: 'v', shape: [n], dtype: 'f32', data: v },
          { name: 'clip', shape: [2], dtype: 'f32', data: new Float32Array([0, 0.5]) },
        ]);
        try {
          const h: AdamWHyper = { lr: 1e-3, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.01, step: 7 };
          adamw(s, t('p'), t('g'), t('m'), t('v'), h, t('clip'), n);
          const P = Float64Array.from(p),
            M = Float64Array.from(m),
            V = Float64Array.from(v);
          adamwRef(P, g, M, V, h, 0.5);
          const got = await read('p');
          const c = compare(got.subarray(0, n), P, 1e-6, 1e-5);
          expect(c.ok, `p n=${n}: ${c.msg}`).toBe(true);
          expect(got[n]).toBe(0); // past n untouched
          const cv = compare(await read('v'), V, 1e-9, 1e-5);
          expect(cv.ok, `v n=${n}: ${cv.msg}`).toBe(true);
        } finally {
          done();
        }
      }
      const n = 10_000;
      const g = normals(n, 9, 1);
      const { gpu, s, t, done } = await setup([{ name: 'g', shape: [n], dtype: 'f32', data: g }]);
      const gn = new GradNorm(gpu, 1);
      try {
        gn.reset(s);
        gn.accumulate(s, t('g'));
        gn.finalize(s, 0);
        await s.sync();
        const got = await download(gpu, gn.state);
        expect(Math.abs(got[0] - clipRef([g], 0).norm) / got[0]).toBeLessThan(1e-5);
      } finally {
        gn.destroy();
        done();
      }
    });
  });

  it('rejects bad shapes, overlapping tensors and too many ranges with EngineError', async () => {
    const { gpu, s, t, done } = await setup([
      { name: 'p', shape: [128], dtype: 'f32' },
      { name: 'g', shape: [100], dtype: 'f32' },
      { name: 'm', shape: [128], dtype: 'f32' },
      { name: 'v', shape: [128], dtype: 'f32' },
      { name: 'clip', shape: [2], dtype: 'f32' },
    ]);
    const gn = new GradNorm(gpu, 1);
    try {
      const h: AdamWHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1 };
      expect(() => adamw(s, t('p'), t('g'), t('m'), t('v'), h, t('clip'))).toThrow(/adamw: g \(g\) has 100 elements/);
      expect(() => adamw(s, t('p'), t('g'), t('m'), t('v'), { ...h, step: 0 }, t('clip'), 100)).toThrow(EngineError);
      const half = slice(t('p'), 64, [64]);
      expect(() => adamw(s, t('p'), t('g'), half, t('v'), h, t('clip'), 64)).toThrow(/overlap/);
      expect(() => gn.accumulate(s, t('g'), 101)).toThrow(EngineError);
      gn.accumulate(s, t('g'));
      expect(() => gn.accumulate(s, t('g'))).toThrow(/more than 1 ranges/);
      await s.sync();
    } finally {
      gn.destroy();
      done();
    }
  });
});
