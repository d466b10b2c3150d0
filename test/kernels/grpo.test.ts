import { describe, it, expect } from 'vitest';
import { setup, compare, rng, foldedStream } from '../helpers/gpu';
import { grpoPolicyLoss, lossWeights, STAT, type LossAggregation, type PolicyLossOptions } from '../../src/engine/kernels/grpo';
import { EngineError } from '../../src/engine/errors';
import { policyLossRef, totalLossRef } from './grpo.ref';

const f32 = 'f32' as const;

/**
 * Rows of tokens with a mask, and values chosen to visit every branch: ratios inside and outside
 * the clip range on both sides, beyond the dual-clip bound, past the ±20 ratio clamp; reference
 * log-probs giving tiny KLs (k ~ 1e-3), large ones clamped at 10 and k past ±20. Nothing lands
 * within 1e-3 of a kink, so float32 and float64 agree on every branch.
 */
function makeCase(B: number, T: number, seed: number, o: PolicyLossOptions) {
  const r = rng(seed);
  const N = B * T;
  const logp = new Float32Array(N),
    old = new Float32Array(N),
    ref = new Float32Array(N),
    adv = new Float32Array(N);
  const mask = new Int32Array(N);
  const near = (x: number, y: number) => Math.abs(x - y) < 1e-3;
  for (let b = 0; b < B; b++) {
    // Each row: a prompt part (no loss), a response, padding.
    const start = 2 + r.int(4),
      len = 3 + r.int(T - 8);
    const a = [-1.5, -0.4, 0, 0.6, 1.9][r.int(5)];
    for (let t = 0; t < T; t++) {
      const n = b * T + t;
      mask[n] = t >= start && t < start + len ? 1 : 0;
      adv[n] = b === 0 ? [-1.5, 0.7][t % 2] : a;
      logp[n] = -r.next() * 4 - 0.01;
      let d: number;
      const kind = r.int(10);
      for (;;) {
        d = kind === 0 ? r.uniform(1.2, 2.5) : kind === 1 ? (r.next() < 0.5 ? 21 + r.next() : -21 - r.next()) : r.uniform(-0.7, 0.6);
        const ratio = Math.exp(Math.max(-20, Math.min(20, d)));
        if (!(near(ratio, 1 - o.clipLow) || near(ratio, 1 + o.clipHigh) || (o.clipC > 0 && near(ratio, o.clipC)))) break;
      }
      old[n] = logp[n] - d;
      let k: number;
      const kk = r.int(10);
      for (;;) {
        k = kk === 0 ? r.uniform(-2e-3, 2e-3) : kk === 1 ? r.uniform(2.6, 4) : kk === 2 ? (r.next() < 0.5 ? 20.5 : -20.5) : r.uniform(-2, 2);
        if (!near(Math.exp(k) - k - 1, 10)) break;
      }
      ref[n] = logp[n] + k;
    }
  }
  // Snap to what the GPU sees, so the reference works on identical float32 inputs.
  return { logp, old: Float32Array.from(old), ref: Float32Array.from(ref), adv, mask };
}

async function runCase(B: number, T: number, mode: LossAggregation, o: PolicyLossOptions, seed: number, fold = 0) {
  const N = B * T;
  const c = makeCase(B, T, seed, o);
  const targets = Int32Array.from(c.mask, (m) => (m ? 1 : -1));
  const tokens = c.mask.reduce((a, m) => a + m, 0);
  const seqs = Array.from({ length: B }, (_, b) => c.mask.subarray(b * T, (b + 1) * T).some((m) => m)).filter(Boolean).length;
  const rows = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => b * T + t).filter((n) => targets[n] >= 0));
  const weight = lossWeights(N, rows, mode, { tokens, seqs });
  const { s, t, read, done } = await setup([
    { name: 'logp', shape: [N], dtype: f32, data: c.logp },
    { name: 'old', shape: [N], dtype: f32, data: c.old },
    { name: 'ref', shape: [N], dtype: f32, data: c.ref },
    { name: 'adv', shape: [N], dtype: f32, data: c.adv },
    { name: 'weight', shape: [N], dtype: f32, data: weight },
    { name: 'coef', shape: [N], dtype: f32, data: new Float32Array(N).fill(7) },
    { name: 'stats', shape: [N, 4], dtype: f32, data: new Float32Array(4 * N).fill(7) },
  ]);
  grpoPolicyLoss(
    fold ? foldedStream(s, fold) : s,
    { logp: t('logp'), oldLogp: t('old'), refLogp: t('ref'), adv: t('adv'), weight: t('weight'), coef: t('coef'), stats: t('stats') },
    N,
    o,
  );
  const coef = await read('coef');
  const stats = await read('stats');
  done();
  const want = policyLossRef(c, B, T, mode, o);
  const col = (j: number) => Float32Array.from({ length: N }, (_, n) => stats[n * 4 + j]);
  expect(compare(weight, want.weight, 1e-12, 1e-6).ok, 'loss weights').toBe(true);
  for (const [name, got, w, atol, rtol] of [
    ['coef', coef, want.coef, 1e-9, 2e-5],
    ['loss', col(STAT.loss), want.loss, 1e-6, 2e-5],
    ['kl', col(STAT.kl), want.kl, 1e-9, 1e-4],
    ['flag', col(STAT.clip), want.flag, 1e-9, 0],
    ['ratio', col(STAT.ratio), want.ratio, 1e-12, 2e-6],
  ] as const) {
    const r = compare(got, w, atol, rtol);
    expect(r.ok, `${name} (${mode}): ${r.msg}`).toBe(true);
  }
  let total = 0;
  for (let n = 0; n < N; n++) total += weight[n] * stats[n * 4 + STAT.loss];
  expect(Math.abs(total - want.total)).toBeLessThan(1e-6 * (1 + Math.abs(want.total)));
  return { c, want };
}

const DEFAULTS: PolicyLossOptions = { clipLow: 0.2, clipHigh: 0.2, clipC: 3, klCoef: 0.01, hasRef: true };

describe('GRPO policy loss kernel', () => {
  it('the reference coefficients are the central differences of the aggregated loss', () => {
    for (const mode of ['token-mean', 'seq-mean-token-mean'] as const) {
      const o = { ...DEFAULTS, clipHigh: 0.28, klCoef: 0.3 };
      const c = makeCase(3, 16, 5, o);
      const { coef } = policyLossRef(c, 3, 16, mode, o);
      const x = Array.from(c.logp, Number);
      const h = 1e-6;
      let visited = 0;
      for (let n = 0; n < x.length; n++) {
        const xp = x.slice(),
          xm = x.slice();
        xp[n] += h;
        xm[n] -= h;
        const fd = (totalLossRef(xp, c, 3, 16, mode, o) - totalLossRef(xm, c, 3, 16, mode, o)) / (2 * h);
        expect(
          Math.abs(fd - coef[n]),
          `token ${n} (${mode}) fd ${fd} coef ${coef[n]} d ${c.logp[n] - c.old[n]} k ${c.ref[n] - c.logp[n]} a ${c.adv[n]} m ${c.mask[n]}`,
        ).toBeLessThan(1e-7 + 1e-6 * Math.abs(fd));
        if (coef[n] !== 0) visited++;
      }
      expect(visited).toBeGreaterThan(10);
    }
  });

  it('matches float64 with the recipe settings (clip 0.2, dual clip 3, KL 0.01), token-mean', async () => {
    const { want } = await runCase(5, 48, 'token-mean', DEFAULTS, 11);
    // Every branch is exercised: unclipped, clipped, dual-clipped, zero-gradient KL clamp.
    const flags = new Set(Array.from(want.flag));
    expect(flags).toEqual(new Set([0, 1, 2]));
    expect(Array.from(want.kl).some((k) => k === 10)).toBe(true);
    expect(Array.from(want.kl).some((k) => k > 0 && k < 1e-5)).toBe(true);
  });

  it('matches float64 with asymmetric clipping, seq-mean-token-mean aggregation', async () => {
    await runCase(4, 40, 'seq-mean-token-mean', { ...DEFAULTS, clipLow: 0.2, clipHigh: 0.28 }, 12);
  });

  it('matches float64 with KL off and dual clip off; masked rows give exact zeros', async () => {
    const o = { clipLow: 0.2, clipHigh: 0.2, clipC: 0, klCoef: 0, hasRef: false };
    const { c, want } = await runCase(3, 300, 'token-mean', o, 13);
    expect(Array.from(want.kl).every((k) => k === 0)).toBe(true);
    expect(Array.from(want.flag).some((f) => f === 2)).toBe(false);
    expect(c.mask.some((m) => m === 0)).toBe(true);
  });

  it('folds the grid into 2D when it exceeds the per-dimension workgroup limit', async () => {
    // 7 x 150 tokens = 5 workgroups of 256, at most 3 per dimension: a 3 x 2 grid with one spare.
    await runCase(7, 150, 'token-mean', DEFAULTS, 14, 3);
  });

  it('rejects bad options, short tensors and overlapping outputs', async () => {
    const N = 8;
    const { s, t, done } = await setup([
      { name: 'a', shape: [N], dtype: f32 },
      { name: 'b', shape: [N], dtype: f32 },
      { name: 'c', shape: [N], dtype: f32 },
      { name: 'd', shape: [N], dtype: f32 },
      { name: 'e', shape: [N], dtype: f32 },
      { name: 'f', shape: [N], dtype: f32 },
      { name: 'g', shape: [N, 4], dtype: f32 },
      { name: 'u', shape: [N], dtype: 'u32' },
    ]);
    const ts = { logp: t('a'), oldLogp: t('b'), refLogp: t('c'), adv: t('d'), weight: t('e'), coef: t('f'), stats: t('g') };
    expect(() => grpoPolicyLoss(s, ts, N, { ...DEFAULTS, clipLow: 1 })).toThrow(/clipLow/);
    expect(() => grpoPolicyLoss(s, ts, N, { ...DEFAULTS, clipC: 0.5 })).toThrow(/clipC/);
    expect(() => grpoPolicyLoss(s, ts, N, { ...DEFAULTS, klCoef: -1 })).toThrow(/klCoef/);
    expect(() => grpoPolicyLoss(s, ts, N, { ...DEFAULTS, hasRef: false })).toThrow(/reference/);
    expect(() => grpoPolicyLoss(s, { ...ts, stats: t('f') }, N, DEFAULTS)).toThrow(EngineError);
    expect(() => grpoPolicyLoss(s, { ...ts, weight: t('u') }, N, DEFAULTS)).toThrow(/f32/);
    expect(() => grpoPolicyLoss(s, { ...ts, coef: t('a') }, N, DEFAULTS)).toThrow(/overlap/);
    expect(() => lossWeights(6, [[0, 6]], 'token-mean', { tokens: 1, seqs: 1 })).toThrow(/lossWeights: position 6 is outside the 6 positions/);
    done();
  });
});
