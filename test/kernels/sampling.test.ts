import { describe, it, expect } from 'vitest';
import { setup, rng, compare, testGpu, KERNEL_PATHS, useKernelPath } from '../helpers/gpu';
import { bannedMask, bannedWords, sample, type SampleOpts } from '../../src/engine/kernels/sampling';
import { download, downloadU32 } from '../../src/engine/tensor';
import { EngineError } from '../../src/engine/errors';
import { argmaxRef, chiSquare, logSoftmaxRef, nucleusRef } from './sampling.ref';

const normals = (n: number, seed: number, scale: number) => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => r.normal() * scale);
};

/** Sample `steps` times from B copies of one row of logits; returns every draw and its logp. */
async function drawMany(row: Float32Array, B: number, steps: number, o: Omit<SampleOpts, 'step'>, banned: number[] = []) {
  const V = row.length;
  const logits = new Float32Array(B * V);
  for (let b = 0; b < B; b++) logits.set(row, b * V);
  const { gpu, s, t, done } = await setup([
    { name: 'logits', shape: [B, V], dtype: 'f32', data: logits },
    { name: 'tok', shape: [steps, B], dtype: 'u32' },
    { name: 'logp', shape: [steps, B], dtype: 'f32' },
    { name: 'banned', shape: [bannedWords(V)], dtype: 'u32', data: bannedMask(V, banned) },
  ]);
  try {
    // Each step writes its own slice of the outputs (rows of B = 64-element aligned views).
    const view = (name: string, k: number) => ({ ...t(name), byteOffset: t(name).byteOffset + k * B * 4, shape: [B], size: B });
    for (let k = 0; k < steps; k++) sample(s, t('logits'), view('tok', k), view('logp', k), t('banned'), B, V, { ...o, step: k });
    expect([...s.kernelsSeen]).toEqual([gpu.rowKernels ? 'sample.thread' : 'sample']);
    await s.sync();
    return { tokens: await downloadU32(gpu, t('tok')), logp: await download(gpu, t('logp')) };
  } finally {
    done();
  }
}

function histogram(tokens: ArrayLike<number>, V: number) {
  const c = new Float64Array(V);
  for (let i = 0; i < tokens.length; i++) {
    expect(tokens[i]).toBeLessThan(V);
    c[tokens[i]]++;
  }
  return c;
}

function expectLogp(tokens: ArrayLike<number>, logp: ArrayLike<number>, row: Float32Array, T: number) {
  const ref = logSoftmaxRef(row, T);
  const c = compare(
    logp,
    Array.from(tokens, (k) => ref[k]),
    2e-5,
    1e-5,
  );
  expect(c.ok, `logp: ${c.msg}`).toBe(true);
}

describe.each(KERNEL_PATHS)('sample ($path)', ({ rowKernels }) => {
  useKernelPath(rowKernels);

  it('greedy: argmax with the lowest index on ties, logp at T = 1', async () => {
    const V = 2100; // 8.2 strides of the 256-thread workgroup
    const rows: Float32Array[] = [];
    rows.push(normals(V, 1, 3));
    // Equal maxima on one thread's stride (5, 261, 517, 2053) and on another thread (300).
    const r1 = normals(V, 2, 1);
    for (const i of [300, 2053, 517, 5, 261]) r1[i] = 9;
    rows.push(r1);
    // Equal maxima on two threads, the later thread holding the lower index.
    const r2 = normals(V, 3, 1);
    r2[2099] = 7;
    r2[300] = 7;
    rows.push(r2);
    const r3 = normals(V, 4, 1);
    r3[2099] = 5;
    rows.push(r3);
    rows.push(new Float32Array(V).fill(0.25)); // all equal -> 0
    const r5 = new Float32Array(V).fill(-Infinity);
    r5[450] = -3;
    r5[451] = -3.5;
    rows.push(r5);
    const B = rows.length;
    const logits = new Float32Array(B * V);
    rows.forEach((r, b) => logits.set(r, b * V));
    const { gpu, s, t, done } = await setup([
      { name: 'logits', shape: [B, V], dtype: 'f32', data: logits },
      { name: 'tok', shape: [B], dtype: 'u32' },
      { name: 'logp', shape: [B], dtype: 'f32' },
      { name: 'banned', shape: [bannedWords(V)], dtype: 'u32' },
    ]);
    try {
      // The temperature is ignored by greedy decoding (logp is from T = 1).
      sample(s, t('logits'), t('tok'), t('logp'), t('banned'), B, V, { greedy: true, temperature: 0.3, topP: 0.5, seed: 1, step: 0 });
      await s.sync();
      const tok = Array.from(await downloadU32(gpu, t('tok')));
      expect(tok).toEqual(rows.map(argmaxRef));
      expect(tok.slice(1, 6)).toEqual([5, 300, 2099, 0, 450]);
      const lp = await download(gpu, t('logp'));
      const c = compare(
        lp,
        rows.map((r, b) => logSoftmaxRef(r, 1)[tok[b]]),
        1e-5,
        1e-5,
      );
      expect(c.ok, c.msg).toBe(true);
    } finally {
      done();
    }
  });

  it('greedy on rows shorter than a workgroup and on a folded grid of rows', async () => {
    const limits = (await testGpu()).limits as Record<string, number>;
    const old = limits.maxComputeWorkgroupsPerDimension;
    limits.maxComputeWorkgroupsPerDimension = 3;
    try {
      // Workgroup kernels: 5 rows -> a 3x2 grid with one idle workgroup. Row kernels (64 rows a
      // workgroup): 200 rows -> 4 workgroups, a 2x2 grid with an idle tail.
      const B = rowKernels ? 200 : 5,
        V = 3;
      const logits = normals(B * V, 5, 2);
      const { gpu, s, t, done } = await setup([
        { name: 'logits', shape: [B, V], dtype: 'f32', data: logits },
        { name: 'tok', shape: [B + 1], dtype: 'u32', data: new Uint32Array(B + 1).fill(77) },
        { name: 'logp', shape: [B], dtype: 'f32' },
        { name: 'banned', shape: [bannedWords(V)], dtype: 'u32' },
      ]);
      try {
        sample(s, t('logits'), t('tok'), t('logp'), t('banned'), B, V, { greedy: true, temperature: 1, topP: 1, seed: 0, step: 0 });
        await s.sync();
        const tok = Array.from(await downloadU32(gpu, t('tok')));
        const rows = Array.from({ length: B }, (_, b) => logits.subarray(b * V, (b + 1) * V));
        expect(tok).toEqual([...rows.map(argmaxRef), 77]);
      } finally {
        done();
      }
    } finally {
      limits.maxComputeWorkgroupsPerDimension = old;
    }
  });

  it('T = 1, topP = 1 draws follow softmax(logits), reproducibly per seed', async () => {
    const row = normals(10, 6, 0.8);
    const o = { greedy: false, temperature: 1, topP: 1, seed: 1234 };
    const { tokens, logp } = await drawMany(row, 128, 16, o);
    const probs = logSoftmaxRef(row).map(Math.exp);
    const chi = chiSquare(histogram(tokens, 10), probs);
    expect(chi.ok, `chi2 ${chi.stat.toFixed(1)} > ${chi.critical.toFixed(1)} (dof ${chi.dof})`).toBe(true);
    expectLogp(tokens, logp, row, 1);
    // Same seed and steps: the same tokens. Another seed: different ones.
    const again = await drawMany(row, 128, 2, o);
    expect(Array.from(again.tokens)).toEqual(Array.from(tokens.subarray(0, 256)));
    const other = await drawMany(row, 128, 2, { ...o, seed: 99 });
    let differ = 0;
    for (let i = 0; i < 256; i++) if (other.tokens[i] !== tokens[i]) differ++;
    expect(differ).toBeGreaterThan(64);
  });

  it('temperature reshapes the distribution over a row longer than a workgroup', async () => {
    const V = 450;
    const row = normals(V, 7, 2.5);
    const T = 0.7;
    const { tokens, logp } = await drawMany(row, 128, 8, { greedy: false, temperature: T, topP: 1, seed: 5 });
    const chi = chiSquare(histogram(tokens, V), logSoftmaxRef(row, T).map(Math.exp));
    expect(chi.ok, `chi2 ${chi.stat.toFixed(1)} > ${chi.critical.toFixed(1)} (dof ${chi.dof})`).toBe(true);
    expect(chi.dof).toBeGreaterThanOrEqual(8); // the test has teeth: many tokens are checked one by one
    expectLogp(tokens, logp, row, T);
  });

  it('top-p never leaves the nucleus and samples it in proportion', async () => {
    const V = 300;
    const row = normals(V, 8, 2);
    const T = 0.9;
    // A topP halfway between two prefix masses, so the nucleus (about 12 tokens) is unambiguous.
    const lp = logSoftmaxRef(row, T);
    const sorted = Array.from(lp, Math.exp).sort((a, b) => b - a);
    let cum = 0;
    const prefix = sorted.map((p) => (cum += p));
    const topP = (prefix[10] + prefix[11]) / 2;
    const nuc = nucleusRef(row, T, topP);
    expect(nuc.keep.size).toBe(12);
    expect(nuc.slack).toBeGreaterThan(1e-3);
    const { tokens, logp } = await drawMany(row, 128, 8, { greedy: false, temperature: T, topP, seed: 77 });
    const outside = Array.from(tokens).filter((k) => !nuc.keep.has(k));
    expect(outside, 'tokens outside the nucleus').toEqual([]);
    const counts = histogram(tokens, V);
    const chi = chiSquare(counts, nuc.probs);
    expect(chi.ok, `chi2 ${chi.stat.toFixed(1)} > ${chi.critical.toFixed(1)} (dof ${chi.dof})`).toBe(true);
    for (const k of nuc.keep) expect(counts[k], `nucleus token ${k} never drawn`).toBeGreaterThan(0);
    // logp is of the full tempered distribution, not the renormalised nucleus.
    expectLogp(tokens, logp, row, T);
  });

  it('top-p at or below the top probability always takes the argmax; ties at the edge are kept together', async () => {
    const V = 300;
    const row = normals(V, 9, 1);
    row[123] = 6;
    const { tokens } = await drawMany(row, 64, 2, { greedy: false, temperature: 1, topP: 1e-4, seed: 3 });
    expect(new Set(tokens)).toEqual(new Set([123]));

    // Logits 4, then three 3s: a mass that needs one of the 3s gets all three (and nothing else).
    const tie = new Float32Array(V).fill(-2);
    tie[7] = 4;
    tie[40] = 3;
    tie[41] = 3;
    tie[290] = 3;
    const p = logSoftmaxRef(tie).map(Math.exp);
    const topP = p[7] + 0.5 * p[40];
    const nuc = nucleusRef(tie, 1, topP);
    expect([...nuc.keep].sort((a, b) => a - b)).toEqual([7, 40, 41, 290]);
    const r = await drawMany(tie, 128, 4, { greedy: false, temperature: 1, topP, seed: 4 });
    const counts = histogram(r.tokens, V);
    expect(counts.reduce((a, c, k) => a + (nuc.keep.has(k) ? 0 : c), 0)).toBe(0);
    const chi = chiSquare(counts, nuc.probs);
    expect(chi.ok, `chi2 ${chi.stat.toFixed(1)} > ${chi.critical.toFixed(1)}`).toBe(true);
  });

  it('rows with different logits each get their own draw and logp', async () => {
    const B = 3,
      V = 2100; // the 256-thread workgroup
    const logits = normals(B * V, 10, 1.5);
    const rows = Array.from({ length: B }, (_, b) => logits.subarray(b * V, (b + 1) * V));
    const { gpu, s, t, done } = await setup([
      { name: 'logits', shape: [B, V], dtype: 'f32', data: logits },
      { name: 'tok', shape: [B], dtype: 'u32' },
      { name: 'logp', shape: [B], dtype: 'f32' },
      { name: 'banned', shape: [bannedWords(V)], dtype: 'u32' },
    ]);
    try {
      const topP = 0.6;
      sample(s, t('logits'), t('tok'), t('logp'), t('banned'), B, V, { greedy: false, temperature: 1.3, topP, seed: 11, step: 4 });
      await s.sync();
      const tok = await downloadU32(gpu, t('tok'));
      const lp = await download(gpu, t('logp'));
      rows.forEach((r, b) => {
        const nuc = nucleusRef(r, 1.3, topP);
        expect(nuc.keep.has(tok[b]), `row ${b} token ${tok[b]}`).toBe(true);
        expect(Math.abs(lp[b] - logSoftmaxRef(r, 1.3)[tok[b]])).toBeLessThan(2e-5);
      });
    } finally {
      done();
    }
  });

  it("banned tokens are never picked, greedy or sampled; logp stays the full row's", async () => {
    // The banned tokens hold most of the mass (as a head that favours <image> would): greedy takes
    // the best allowed token, sampling follows the allowed tokens renormalised (nucleus included),
    // and logp is the full row's log-softmax, as the training forward computes it.
    const V = 300;
    const row = normals(V, 12, 1);
    const banned = [7, 31, 32, 63, 299];
    for (const id of banned) row[id] = 8;
    const allowed = Array.from(row, (x, i) => (banned.includes(i) ? -Infinity : x));
    const g = await drawMany(row, 64, 1, { greedy: true, temperature: 1, topP: 1, seed: 0 }, banned);
    expect(new Set(g.tokens)).toEqual(new Set([argmaxRef(allowed)]));
    expectLogp(g.tokens, g.logp, row, 1);
    const T = 0.8;
    const { tokens, logp } = await drawMany(row, 128, 8, { greedy: false, temperature: T, topP: 1, seed: 21 }, banned);
    expect(
      Array.from(tokens).filter((k) => banned.includes(k)),
      'banned tokens drawn',
    ).toEqual([]);
    const chi = chiSquare(histogram(tokens, V), logSoftmaxRef(allowed, T).map(Math.exp));
    expect(chi.ok, `chi2 ${chi.stat.toFixed(1)} > ${chi.critical.toFixed(1)} (dof ${chi.dof})`).toBe(true);
    expectLogp(tokens, logp, row, T);
    // Top-p over the allowed tokens: a mass halfway between two prefixes of the allowed ones.
    const sorted = Array.from(logSoftmaxRef(allowed, T), Math.exp).sort((a, b) => b - a);
    const topP = (sorted[0] + sorted[1] + sorted[2] + sorted[0] + sorted[1]) / 2;
    const nuc = nucleusRef(allowed, T, topP);
    expect(nuc.keep.size).toBe(3);
    const p = await drawMany(row, 128, 4, { greedy: false, temperature: T, topP, seed: 5 }, banned);
    expect(
      Array.from(p.tokens).filter((k) => !nuc.keep.has(k)),
      'tokens outside the allowed nucleus',
    ).toEqual([]);
    expectLogp(p.tokens, p.logp, row, T);
  });

  it('rejects bad options and shapes with EngineError', async () => {
    const { s, t, done } = await setup([
      { name: 'logits', shape: [2, 10], dtype: 'f32' },
      { name: 'tok', shape: [2], dtype: 'u32' },
      { name: 'logp', shape: [2], dtype: 'f32' },
      { name: 'banned', shape: [1], dtype: 'u32' },
    ]);
    try {
      const o: SampleOpts = { greedy: false, temperature: 1, topP: 1, seed: 0, step: 0 };
      const b = t('banned');
      expect(() => sample(s, t('logits'), t('tok'), t('logp'), b, 2, 11, o)).toThrow(/needs 22 for \[B, V\] = \[2, 11\]/);
      expect(() => sample(s, t('logits'), t('tok'), t('logp'), b, 3, 5, o)).toThrow(/tokens \(tok\) has 2 elements, needs 3/);
      expect(() => sample(s, t('logits'), t('tok'), t('logp'), b, 2, 10, { ...o, temperature: 0 })).toThrow(EngineError);
      expect(() => sample(s, t('logits'), t('tok'), t('logp'), b, 2, 10, { ...o, topP: 0 })).toThrow(EngineError);
      expect(() => sample(s, t('logits'), t('logp'), t('tok'), b, 2, 10, o)).toThrow(EngineError);
      expect(() => sample(s, t('logits'), t('tok'), t('logits'), b, 2, 10, o)).toThrow(/overlap/);
      expect(() => sample(s, t('logits'), t('tok'), t('logp'), t('tok'), 2, 10, o)).toThrow(/banned/);
      expect(() => bannedMask(10, [10])).toThrow(/outside the vocabulary/);
      expect(() => bannedMask(3, [0, 1, 2])).toThrow(/every token/);
      expect(Array.from(bannedMask(70, [0, 33, 69]))).toEqual([1, 2, 32]);
    } finally {
      done();
    }
  });
});
