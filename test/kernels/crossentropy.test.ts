import { describe, it, expect } from 'vitest';
import { setup, randArray, compare, rng, foldedStream, KERNEL_PATHS, useKernelPath } from '../helpers/gpu';
import { logprobForward, logprobBackward } from '../../src/engine/kernels/crossentropy';
import { logprobRef, logprobGradRef } from './crossentropy.ref';
import { EngineError } from '../../src/engine/errors';

const f32 = 'f32' as const,
  i32 = 'i32' as const;

/** Logits with a spread of shapes: flat, peaked, and a row shifted so far that exp(z) overflows f32. */
function makeCase(N: number, V: number, seed: number) {
  const logits = randArray(N * V, seed, 3);
  const r = rng(seed + 1);
  for (let j = 0; j < V; j++) logits[1 * V + j] += 70; // z = logit / 0.7 > 88: naive exp overflows
  if (N > 2) logits[2 * V + r.int(V)] = 25; // one dominant token: entropy near 0
  const targets = Int32Array.from({ length: N }, () => r.int(V));
  if (N > 3) targets[3] = -100;
  if (N > 5) targets[5] = -1;
  if (N > 6) targets[6] = V; // out of range: treated as ignored
  const coef = Float32Array.from({ length: N }, () => r.uniform(-2, 2));
  if (N > 4) coef[4] = 0;
  return { logits, targets, coef };
}

async function runCase(N: number, V: number, temperature: number, seed: number, fold = 0) {
  const invTemp = 1 / temperature;
  const { logits, targets, coef } = makeCase(N, V, seed);
  const { gpu, s, t, read, done } = await setup([
    { name: 'logits', shape: [N, V], dtype: f32, data: logits },
    { name: 'targets', shape: [N], dtype: i32, data: targets },
    { name: 'coef', shape: [N], dtype: f32, data: coef },
    { name: 'logp', shape: [N], dtype: f32, data: new Float32Array(N).fill(9) },
    { name: 'entropy', shape: [N], dtype: f32, data: new Float32Array(N).fill(9) },
    { name: 'dlogits', shape: [N, V], dtype: f32, data: new Float32Array(N * V).fill(9) },
    { name: 'inplace', shape: [N, V], dtype: f32, data: logits },
  ]);
  const ls = fold ? foldedStream(s, fold) : s;
  logprobForward(ls, t('logits'), t('targets'), t('logp'), t('entropy'), N, V, invTemp);
  logprobBackward(ls, t('logits'), t('targets'), t('coef'), t('dlogits'), N, V, invTemp);
  logprobBackward(ls, t('inplace'), t('targets'), t('coef'), t('inplace'), N, V, invTemp);
  for (const label of s.kernelsSeen) expect(label.endsWith('.rows'), label).toBe(gpu.rowKernels);
  const got = { logp: await read('logp'), entropy: await read('entropy'), dlogits: await read('dlogits'), inplace: await read('inplace') };
  done();
  const f = logprobRef(logits, targets, N, V, invTemp);
  const g = logprobGradRef(logits, targets, coef, N, V, invTemp);
  const checks = {
    logp: compare(got.logp, f.logp, 3e-5, 1e-5),
    entropy: compare(got.entropy, f.entropy, 3e-5, 1e-5),
    dlogits: compare(got.dlogits, g, 1e-6, 1e-4),
    inplace: compare(got.inplace, g, 1e-6, 1e-4),
  };
  for (const [k, c] of Object.entries(checks)) expect(c.ok, `${k} (N ${N}, V ${V}): ${c.msg}`).toBe(true);
  return { got, targets };
}

describe.each(KERNEL_PATHS)('logprob / cross-entropy ($path)', ({ rowKernels }) => {
  useKernelPath(rowKernels);

  it('the float64 gradient reference agrees with central differences of Σ coef·logp', () => {
    const N = 3,
      V = 11,
      invTemp = 1 / 0.7;
    const logits = Array.from(randArray(N * V, 9, 2), Number);
    const targets = [4, -1, 10];
    const coef = [0.5, 3, -1.5];
    const objective = (l: number[]) => {
      const { logp } = logprobRef(l, targets, N, V, invTemp);
      return logp.reduce((a, v, n) => a + coef[n] * v, 0);
    };
    const g = logprobGradRef(logits, targets, coef, N, V, invTemp);
    const h = 1e-6;
    for (let i = 0; i < N * V; i++) {
      const lp = logits.slice(),
        lm = logits.slice();
      lp[i] += h;
      lm[i] -= h;
      expect(Math.abs((objective(lp) - objective(lm)) / (2 * h) - g[i])).toBeLessThan(1e-7);
    }
  });

  it('matches float64 on N 7, V 1000, temperature 0.7, with ignored targets and an overflow-sized row', async () => {
    const { got, targets } = await runCase(7, 1000, 0.7, 21);
    for (const n of [3, 5, 6]) {
      expect(targets[n] < 0 || targets[n] >= 1000).toBe(true);
      expect(got.logp[n]).toBe(0);
      expect(got.entropy[n]).toBe(0);
      expect(got.dlogits.slice(n * 1000, (n + 1) * 1000).every((v) => v === 0)).toBe(true);
    }
    // coef 0 clears the row too
    expect(got.dlogits.slice(4 * 1000, 5 * 1000).every((v) => v === 0)).toBe(true);
    expect(got.entropy[2]).toBeLessThan(0.01);
  });

  it('matches float64 when V is smaller than a workgroup (N 6, V 37, temperature 1)', async () => {
    await runCase(6, 37, 1, 31);
  });

  it('matches float64 on V 2083 at temperature 1.3 (several strides, uneven tail)', async () => {
    await runCase(5, 2083, 1.3, 41);
  });

  it('folds the row grid into 2D when rows exceed the per-dimension workgroup limit', async () => {
    await runCase(7, 300, 0.7, 51, 3);
    // The row kernels put 64 rows in a workgroup: 200 rows are 4 workgroups, folded 2 x 2.
    if (rowKernels) await runCase(200, 30, 0.7, 52, 2);
  });

  it('rejects bad dtypes, short tensors, partial overlaps and bad temperatures', async () => {
    const N = 4,
      V = 100;
    const { s, t, done } = await setup([
      { name: 'logits', shape: [N, V], dtype: f32 },
      { name: 'targets', shape: [N], dtype: i32 },
      { name: 'targetsU', shape: [N], dtype: 'u32' },
      { name: 'out', shape: [N], dtype: f32 },
      { name: 'out2', shape: [N], dtype: f32 },
    ]);
    expect(() => logprobForward(s, t('logits'), t('targetsU'), t('out'), t('out2'), N, V, 1)).toThrow(/i32/);
    expect(() => logprobForward(s, t('logits'), t('targets'), t('out'), t('out2'), N, V + 1, 1)).toThrow(EngineError);
    expect(() => logprobForward(s, t('logits'), t('targets'), t('out'), t('out'), N, V, 1)).toThrow(/overlap/);
    expect(() => logprobForward(s, t('logits'), t('targets'), t('out'), t('out2'), N, V, 0)).toThrow(/temperature/);
    expect(() => logprobBackward(s, t('logits'), t('targets'), t('out'), t('out2'), N, V, 1)).toThrow(/dlogits/);
    done();
  });
});
