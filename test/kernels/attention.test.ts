import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { setup, randArray, compare, rng, REDUCTION_PATHS, useKernelPath } from '../helpers/gpu';
import { attentionForward, attentionBackward, kvWrite, type AttentionShape } from '../../src/engine/kernels/attention';
import { attentionRef, attentionBackwardRef, attentionProbs, kvWriteRef } from './attention.ref';
import { EngineError } from '../../src/engine/errors';
import { packHalves, unpackHalves } from '../../src/engine/tensor';

// Environment workaround, not part of what is tested: Dawn (the `webgpu` package) on SwiftShader
// corrupts its own memory and aborts the process when the package's event pump calls
// ProcessEvents many times while a submission is still executing (a long dispatch crashes almost
// surely). Blocking the JS thread 5 ms per timer tick makes those polls rare enough.
let throttle: ReturnType<typeof setInterval> | undefined;
beforeAll(() => {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  throttle = setInterval(() => Atomics.wait(cell, 0, 0, 5), 0);
});
afterAll(() => clearInterval(throttle));

/** The f32 values an f16 tensor holds after an upload of `x` (rounded to nearest even). */
const toF16 = (x: Float32Array) => unpackHalves(packHalves(x), x.length);

/** What the kernel writes for the lse of a row that sees no key. */
const EMPTY_LSE = -3e38;

interface Case {
  sh: AttentionShape;
  kLen: number;
  qPos: Uint32Array;
  kStart: Uint32Array;
  seed: number;
}

const trainPos = (B: number, T: number) => Uint32Array.from({ length: B * T }, (_, n) => n % T);

/**
 * qPos with gaps for causal rows packed as GRPO packs a group: `prefix` shared keys, then segments
 * of the given lengths (rows past them are padding). A segment's rows hide the earlier segments.
 */
const gqa = (B: number, Tq: number, Tk: number, causal: boolean, hd = 12): AttentionShape => ({ B, Tq, Tk, H: 4, KVH: 2, hd, causal });

function packedPos(T: number, rows: { prefix: number; segments: number[] }[]): Uint32Array {
  const B = rows.length;
  const out = new Uint32Array(3 * B * T);
  out.set(trainPos(B, T));
  rows.forEach(({ prefix, segments }, b) => {
    let start = prefix;
    for (const len of segments) {
      for (let i = start; i < start + len; i++) out.set([prefix, start], B * T + 2 * (b * T + i));
      start += len;
    }
    expect(start).toBeLessThanOrEqual(T);
  });
  return out;
}

/** Shared-prefix cases: a full row, one with left padding and trailing padding, at several head dims and lengths. */
const gapCases = (seed: number): Case[] => [
  {
    sh: { ...gqa(2, 40, 40, true), gaps: true },
    kLen: 40,
    qPos: packedPos(40, [
      { prefix: 11, segments: [7, 9, 5, 8] },
      { prefix: 9, segments: [10, 12] },
    ]),
    kStart: Uint32Array.from([0, 2]),
    seed,
  },
  {
    sh: { ...gqa(1, 23, 23, true, 10), gaps: true },
    kLen: 23,
    qPos: packedPos(23, [{ prefix: 5, segments: [6, 1, 11] }]),
    kStart: new Uint32Array(1),
    seed: seed + 1,
  },
  {
    sh: { ...gqa(1, 70, 70, true, 16), gaps: true },
    kLen: 70,
    qPos: packedPos(70, [{ prefix: 20, segments: [13, 17, 20] }]),
    kStart: new Uint32Array(1),
    seed: seed + 2,
  },
];

function inputs(c: Case) {
  const { B, Tq, Tk, H, KVH, hd } = c.sh;
  return {
    q: randArray(B * Tq * H * hd, c.seed, 2),
    k: randArray(B * Tk * KVH * hd, c.seed + 1, 2),
    v: randArray(B * Tk * KVH * hd, c.seed + 2),
    dO: randArray(B * Tq * H * hd, c.seed + 3),
  };
}

function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>, atol = 2e-5, rtol = 2e-4) {
  const c = compare(got, want, atol, rtol);
  expect(c.ok, `${what}: ${c.msg} (worst ${c.worst.toFixed(2)})`).toBe(true);
}

/** lse of the reference with its -Infinity for empty rows mapped to the kernel's stand-in. */
const lseWant = (lse: Float64Array) => Array.from(lse, (x) => (x === -Infinity ? EMPTY_LSE : x));

/** Runs forward (and backward when asked) on the GPU, k and v stored as `kv`; returns everything it wrote. */
async function runGpu(c: Case, x: ReturnType<typeof inputs>, backward: boolean, kv: 'f32' | 'f16' = 'f32') {
  const { B, Tq, Tk, H, KVH, hd } = c.sh;
  const nq = B * Tq * H * hd,
    nk = B * Tk * KVH * hd,
    ns = B * H * Tq;
  const poison = (n: number) => new Float32Array(n).fill(Number.NaN);
  const g = await setup([
    { name: 'q', shape: [nq], dtype: 'f32', data: x.q },
    { name: 'k', shape: [nk], dtype: kv, data: x.k },
    { name: 'v', shape: [nk], dtype: kv, data: x.v },
    { name: 'dO', shape: [nq], dtype: 'f32', data: x.dO },
    // Outputs start as NaN so any element a kernel forgets to write shows up.
    { name: 'o', shape: [nq], dtype: 'f32', data: poison(nq) },
    { name: 'lse', shape: [ns], dtype: 'f32', data: poison(ns) },
    { name: 'qPos', shape: [c.qPos.length], dtype: 'u32', data: c.qPos },
    { name: 'kStart', shape: [B], dtype: 'u32', data: c.kStart },
    { name: 'dq', shape: [nq], dtype: 'f32', data: poison(nq) },
    { name: 'dk', shape: [nk], dtype: 'f32', data: poison(nk) },
    { name: 'dv', shape: [nk], dtype: 'f32', data: poison(nk) },
    { name: 'scratch', shape: [ns], dtype: 'f32', data: poison(ns) },
  ]);
  const { s, t, read, done } = g;
  attentionForward(s, t('q'), t('k'), t('v'), t('o'), t('lse'), t('qPos'), t('kStart'), c.sh, c.kLen);
  if (backward) {
    attentionBackward(s, t('q'), t('k'), t('v'), t('o'), t('dO'), t('lse'), t('qPos'), t('kStart'), t('dq'), t('dk'), t('dv'), t('scratch'), c.sh, c.kLen);
  }
  // The path under test is the one that ran; on the row path, head dims that are a multiple of 4
  // take the vec4 kernels, the others the scalar ones (and f16 k, v only as whole 8-half groups).
  const vec4 = hd % 4 === 0 && (kv === 'f32' || nk % 8 === 0);
  for (const label of s.kernelsSeen) expect(label.endsWith('_rows'), label).toBe(g.gpu.rowKernels);
  if (g.gpu.rowKernels) for (const label of s.kernelsSeen) if (/^attn_(fwd|bwd_dkdv|bwd_dq)_/.test(label)) expect(label.includes('_vec4_'), label).toBe(vec4);
  // On the GPU path, training and prefill shapes take the tiled kernels when the head dim allows.
  const tiledShape = vec4 && hd <= 64 && c.sh.Tq >= 16 && (!backward || c.sh.Tk >= 16);
  if (!g.gpu.rowKernels) for (const label of s.kernelsSeen) if (label !== 'attn_bwd_prep') expect(label.endsWith('_tiled'), label).toBe(tiledShape);
  const out = {
    o: await read('o'),
    lse: await read('lse'),
    dq: await read('dq'),
    dk: await read('dk'),
    dv: await read('dv'),
    D: await read('scratch'),
  };
  done();
  return out;
}

async function checkForward(c: Case) {
  const x = inputs(c);
  const got = await runGpu(c, x, false);
  const want = attentionRef(x.q, x.k, x.v, c.sh, c.qPos, c.kStart, c.kLen);
  expectClose('o', got.o, want.o);
  expectClose('lse', got.lse, lseWant(want.lse));
  return { got, want };
}

/**
 * Forward over f16 k and v: exactly the reference on the f16-rounded keys and values (the kernels
 * widen them and compute in f32), and measurably not the f32 result, so the halves were read.
 */
async function checkForwardF16(c: Case) {
  const x = inputs(c);
  const got = await runGpu(c, x, false, 'f16');
  const want = attentionRef(x.q, toF16(x.k), toF16(x.v), c.sh, c.qPos, c.kStart, c.kLen);
  expectClose('o', got.o, want.o);
  expectClose('lse', got.lse, lseWant(want.lse));
  const f32 = attentionRef(x.q, x.k, x.v, c.sh, c.qPos, c.kStart, c.kLen);
  expect(compare(got.o, f32.o, 1e-6, 1e-6).ok).toBe(false);
}

async function checkBackward(c: Case) {
  const x = inputs(c);
  const got = await runGpu(c, x, true);
  const f = attentionRef(x.q, x.k, x.v, c.sh, c.qPos, c.kStart, c.kLen);
  const want = attentionBackwardRef(x.q, x.k, x.v, x.dO, c.sh, c.qPos, c.kStart, c.kLen);
  expectClose('o', got.o, f.o);
  expectClose('D', got.D, want.D);
  expectClose('dq', got.dq, want.dq);
  expectClose('dk', got.dk, want.dk);
  expectClose('dv', got.dv, want.dv);
}

describe('attention reference', () => {
  it('backward matches central finite differences of the forward (float64)', () => {
    const sh: AttentionShape = { B: 2, Tq: 4, Tk: 5, H: 4, KVH: 2, hd: 3, causal: true };
    const qPos = Uint32Array.from([1, 2, 3, 4, 0, 2, 3, 4]);
    const kStart = Uint32Array.from([0, 1]);
    const x = inputs({ sh, kLen: 0, qPos, kStart, seed: 7 });
    const q = Float64Array.from(x.q),
      k = Float64Array.from(x.k),
      v = Float64Array.from(x.v);
    const loss = () => {
      const { o } = attentionRef(q, k, v, sh, qPos, kStart, 0);
      return o.reduce((a, oi, n) => a + oi * x.dO[n], 0);
    };
    const g = attentionBackwardRef(q, k, v, x.dO, sh, qPos, kStart, 0);
    const eps = 1e-6;
    for (const [name, arr, grad] of [
      ['q', q, g.dq],
      ['k', k, g.dk],
      ['v', v, g.dv],
    ] as const) {
      for (let n = 0; n < arr.length; n++) {
        const x0 = arr[n];
        arr[n] = x0 + eps;
        const lp = loss();
        arr[n] = x0 - eps;
        const lm = loss();
        arr[n] = x0;
        expect(Math.abs((lp - lm) / (2 * eps) - grad[n]), `d${name}[${n}]`).toBeLessThan(1e-6);
      }
    }
  });
});

describe.each(REDUCTION_PATHS)('attention forward ($path)', ({ rowKernels, subgroups }) => {
  useKernelPath(rowKernels, subgroups);

  it('causal training, GQA, hd = 12, odd T = 13', async () => {
    await checkForward({ sh: gqa(2, 13, 13, true), kLen: 13, qPos: trainPos(2, 13), kStart: new Uint32Array(2), seed: 1 });
  });

  it('causal training with T = 70, longer than one key chunk', async () => {
    await checkForward({ sh: gqa(2, 70, 70, true), kLen: 70, qPos: trainPos(2, 70), kStart: new Uint32Array(2), seed: 2 });
  });

  it('non-causal with kLen < Tk, left padding and a single kv head', async () => {
    const B = 2,
      Tq = 5,
      Tk = 70;
    // qPos must be ignored when non-causal: fill it with values that would change the result.
    const qPos = Uint32Array.from({ length: B * Tq }, (_, n) => n);
    await checkForward({ sh: { B, Tq, Tk, H: 3, KVH: 1, hd: 12, causal: false }, kLen: 67, qPos, kStart: Uint32Array.from([0, 9]), seed: 3 });
  });

  it('left padding: rows that see no key give zeros and the empty lse, not NaN', async () => {
    const { got } = await checkForward({ sh: gqa(2, 13, 13, true), kLen: 13, qPos: trainPos(2, 13), kStart: Uint32Array.from([0, 5]), seed: 4 });
    const { H, hd } = gqa(2, 13, 13, true);
    for (let i = 0; i < 5; i++) {
      for (let n = 0; n < H * hd; n++) expect(got.o[(13 + i) * H * hd + n]).toBe(0);
    }
    expect(got.o.every(Number.isFinite)).toBe(true);
  });

  it('gaps: each packed response sees the shared prompt and itself (hd 12, 10 and 16; left and right padding; decode rows)', async () => {
    for (const c of gapCases(40)) await checkForward(c);
    // Decode rows (one query each) with gaps, as the one-row kernels take them.
    const qPos = Uint32Array.from([39, 35, 11, 20, 11, 30]);
    await checkForward({ sh: { ...gqa(2, 1, 40, true), gaps: true }, kLen: 40, qPos, kStart: Uint32Array.from([0, 3]), seed: 44 });
  });

  it('head dims 100 and 128 (more than one element per thread, not a multiple of the tile width)', async () => {
    for (const hd of [100, 128]) {
      await checkForward({ sh: { B: 1, Tq: 6, Tk: 6, H: 2, KVH: 1, hd, causal: true }, kLen: 6, qPos: trainPos(1, 6), kStart: new Uint32Array(1), seed: hd });
    }
  });

  it('f16 k and v: decode rows, prefill rows (tiled on the GPU path), the scalar head dim, and sizes that are not whole 8-half groups', async () => {
    // Decode: one query row per sequence against 70 keys, 4 of them padding in sequence 1.
    await checkForwardF16({ sh: gqa(2, 1, 70, true, 16), kLen: 0, qPos: Uint32Array.from([69, 40]), kStart: Uint32Array.from([0, 4]), seed: 31 });
    // Prefill: 40 query rows, causal, left padding.
    await checkForwardF16({ sh: gqa(2, 40, 40, true, 16), kLen: 40, qPos: trainPos(2, 40), kStart: Uint32Array.from([0, 7]), seed: 32 });
    // hd 6: the scalar kernels. Then 1 x 3 x 1 x 12 = 36 and 1 x 5 x 1 x 4 = 20 halves: not a whole
    // number of 8-half groups, so the scalar loads at head dims the vec4 kernels would take.
    await checkForwardF16({ sh: gqa(1, 13, 13, true, 6), kLen: 13, qPos: trainPos(1, 13), kStart: new Uint32Array(1), seed: 33 });
    for (const [T, hd] of [
      [3, 12],
      [5, 4],
    ]) {
      await checkForwardF16({
        sh: { B: 1, Tq: T, Tk: T, H: 2, KVH: 1, hd, causal: true },
        kLen: T,
        qPos: trainPos(1, T),
        kStart: new Uint32Array(1),
        seed: 34 + hd,
      });
    }
  });

  it('decode: one query against a cache filled by kvWrite equals the row of the full computation', async () => {
    const B = 2,
      T = 70,
      H = 4,
      KVH = 2,
      hd = 12,
      W = KVH * hd,
      Cap = 80;
    const full = gqa(B, T, T, true);
    const kStart = Uint32Array.from([0, 4]);
    const x = inputs({ sh: full, kLen: T, qPos: trainPos(B, T), kStart, seed: 5 });
    const want = attentionRef(x.q, x.k, x.v, full, trainPos(B, T), kStart, T);
    const posOf = [69, 37];
    const qDec = new Float32Array(B * H * hd);
    for (let b = 0; b < B; b++) qDec.set(x.q.subarray((b * T + posOf[b]) * H * hd, (b * T + posOf[b] + 1) * H * hd), b * H * hd);
    // The cache is filled as generation would: a 60-token prefill, then 10 more tokens appended.
    const rows = (a: Float32Array, t0: number, t1: number) => {
      const out = new Float32Array(B * (t1 - t0) * W);
      for (let b = 0; b < B; b++) out.set(a.subarray((b * T + t0) * W, (b * T + t1) * W), b * (t1 - t0) * W);
      return out;
    };
    // Cache slots past the valid prefix hold large garbage that must never be read.
    const garbage = randArray(B * Cap * W, 6, 1000);
    const { s, t, read, done } = await setup([
      { name: 'kHead', shape: [B, 60, W], dtype: 'f32', data: rows(x.k, 0, 60) },
      { name: 'vHead', shape: [B, 60, W], dtype: 'f32', data: rows(x.v, 0, 60) },
      { name: 'kTail', shape: [B, 10, W], dtype: 'f32', data: rows(x.k, 60, 70) },
      { name: 'vTail', shape: [B, 10, W], dtype: 'f32', data: rows(x.v, 60, 70) },
      { name: 'kc', shape: [B, Cap, W], dtype: 'f32', data: garbage },
      { name: 'vc', shape: [B, Cap, W], dtype: 'f32', data: garbage },
      { name: 'q', shape: [B, 1, H, hd], dtype: 'f32', data: qDec },
      { name: 'o', shape: [B, 1, H, hd], dtype: 'f32' },
      { name: 'lse', shape: [B, H, 1], dtype: 'f32' },
      { name: 'o1', shape: [1, 1, H, hd], dtype: 'f32' },
      { name: 'lse1', shape: [1, H, 1], dtype: 'f32' },
      { name: 'qPos', shape: [B], dtype: 'u32', data: Uint32Array.from(posOf) },
      { name: 'kStart', shape: [B], dtype: 'u32', data: kStart },
      { name: 'qFull', shape: [B, T, H, hd], dtype: 'f32', data: x.q },
      { name: 'kFull', shape: [B, T, W], dtype: 'f32', data: x.k },
      { name: 'vFull', shape: [B, T, W], dtype: 'f32', data: x.v },
      { name: 'oFull', shape: [B, T, H, hd], dtype: 'f32' },
      { name: 'lseFull', shape: [B, H, T], dtype: 'f32' },
      { name: 'posFull', shape: [B * T], dtype: 'u32', data: trainPos(B, T) },
    ]);
    attentionForward(s, t('qFull'), t('kFull'), t('vFull'), t('oFull'), t('lseFull'), t('posFull'), t('kStart'), full, T);
    kvWrite(s, t('kHead'), t('kc'), B, 60, Cap, W, 0);
    kvWrite(s, t('vHead'), t('vc'), B, 60, Cap, W, 0);
    kvWrite(s, t('kTail'), t('kc'), B, 10, Cap, W, 60);
    kvWrite(s, t('vTail'), t('vc'), B, 10, Cap, W, 60);
    const dec: AttentionShape = { B, Tq: 1, Tk: Cap, H, KVH, hd, causal: true };
    attentionForward(s, t('q'), t('kc'), t('vc'), t('o'), t('lse'), t('qPos'), t('kStart'), dec, 0);
    // Non-causal form of the same decode step for batch row 0: kLen = p + 1.
    attentionForward(s, t('q'), t('kc'), t('vc'), t('o1'), t('lse1'), t('qPos'), t('kStart'), { ...dec, B: 1, causal: false }, posOf[0] + 1);
    const o = await read('o'),
      lse = await read('lse'),
      o1 = await read('o1'),
      lse1 = await read('lse1');
    const oFull = await read('oFull'),
      lseFull = await read('lseFull');
    done();
    for (let b = 0; b < B; b++) {
      const p = posOf[b];
      const rowOf = (a: ArrayLike<number>) => Array.from({ length: H * hd }, (_, n) => a[(b * T + p) * H * hd + n]);
      const lseOf = (a: ArrayLike<number>) => Array.from({ length: H }, (_, h) => a[(b * H + h) * T + p]);
      const oDec = o.subarray(b * H * hd, (b + 1) * H * hd),
        lseDec = lse.subarray(b * H, (b + 1) * H);
      expectClose(`o vs reference, batch ${b}`, oDec, rowOf(want.o));
      expectClose(`lse vs reference, batch ${b}`, lseDec, lseOf(want.lse));
      // Against the GPU's own full causal pass: only the chunk boundaries differ.
      expectClose(`o vs full pass, batch ${b}`, oDec, rowOf(oFull), 1e-6, 1e-5);
      expectClose(`lse vs full pass, batch ${b}`, lseDec, lseOf(lseFull), 1e-6, 1e-5);
    }
    expectClose('o, non-causal decode', o1, o.subarray(0, H * hd), 1e-6, 1e-5);
    expectClose('lse, non-causal decode', lse1, lse.subarray(0, H), 1e-6, 1e-5);
  });
});

describe.each(REDUCTION_PATHS)('attention backward ($path)', ({ rowKernels, subgroups }) => {
  useKernelPath(rowKernels, subgroups);

  it('causal training, GQA, hd = 12, T = 13, with left padding (empty rows)', async () => {
    await checkBackward({ sh: gqa(2, 13, 13, true), kLen: 13, qPos: trainPos(2, 13), kStart: Uint32Array.from([0, 3]), seed: 11 });
  });

  it('causal training with T = 70', async () => {
    await checkBackward({ sh: gqa(1, 70, 70, true), kLen: 70, qPos: trainPos(1, 70), kStart: new Uint32Array(1), seed: 12 });
  });

  it('non-causal, kLen < Tk, Tq != Tk, left padding, H = KVH', async () => {
    const B = 2,
      Tq = 7,
      Tk = 20;
    const r = rng(13);
    const qPos = Uint32Array.from({ length: B * Tq }, () => r.int(Tk));
    await checkBackward({ sh: { B, Tq, Tk, H: 2, KVH: 2, hd: 8, causal: false }, kLen: 17, qPos, kStart: Uint32Array.from([2, 0]), seed: 13 });
  });

  it('causal training, T = 70, hd = 16, left padding: a second block of query rows and rows that see no key', async () => {
    await checkBackward({ sh: gqa(2, 70, 70, true, 16), kLen: 70, qPos: trainPos(2, 70), kStart: Uint32Array.from([0, 9]), seed: 16 });
  });

  it('non-causal, Tq = 20, Tk = 37, kLen 33, left padding, H = KVH, hd = 8', async () => {
    const B = 2,
      Tq = 20,
      Tk = 37;
    const qPos = Uint32Array.from({ length: B * Tq }, (_, n) => n % Tk);
    await checkBackward({ sh: { B, Tq, Tk, H: 2, KVH: 2, hd: 8, causal: false }, kLen: 33, qPos, kStart: Uint32Array.from([4, 0]), seed: 17 });
  });

  it('hd = 64, T = 40: keys staged in several chunks', async () => {
    await checkBackward({
      sh: { B: 1, Tq: 40, Tk: 40, H: 2, KVH: 1, hd: 64, causal: true },
      kLen: 40,
      qPos: trainPos(1, 40),
      kStart: new Uint32Array(1),
      seed: 18,
    });
  });

  it('gaps: each packed response sees the shared prompt and itself (hd 12, 10 and 16; left and right padding)', async () => {
    for (const c of gapCases(50)) await checkBackward(c);
  });

  it('causal training, GQA, hd = 6 (not a multiple of 4: the scalar row kernels), T = 13, left padding', async () => {
    await checkBackward({ sh: gqa(2, 13, 13, true, 6), kLen: 13, qPos: trainPos(2, 13), kStart: Uint32Array.from([0, 3]), seed: 15 });
  });

  it('causal chunked prefill: queries at positions 20..29 of a 30-key cache, hd = 100', async () => {
    const B = 1,
      Tq = 10,
      Tk = 30;
    const qPos = Uint32Array.from({ length: Tq }, (_, i) => 20 + i);
    await checkBackward({ sh: { B, Tq, Tk, H: 3, KVH: 1, hd: 100, causal: true }, kLen: 0, qPos, kStart: new Uint32Array(1), seed: 14 });
  });
});

describe('kvWrite', () => {
  // f16: pair by pair, each value rounded as the host rounds (to nearest even), bit for bit.
  it.each([
    ['f32', 1],
    ['f16', 1],
    ['f32', 3],
    ['f16', 3],
  ] as const)('copies rows into an %s cache exactly and leaves the rest alone (%i copies per row)', async (dtype, copies) => {
    const B = 3,
      Tn = 5,
      Cap = 11,
      W = 6,
      pos0 = dtype === 'f32' ? 6 : 3;
    const src = randArray(B * Tn * W, 21),
      cache = randArray(B * copies * Cap * W, 22);
    const { s, t, read, done } = await setup([
      { name: 'src', shape: [B, Tn, W], dtype: 'f32', data: src },
      { name: 'cache', shape: [B * copies, Cap, W], dtype, data: cache },
      { name: 'odd', shape: [1, 2, 5], dtype: 'f16' },
    ]);
    kvWrite(s, t('src'), t('cache'), B, Tn, Cap, W, pos0, copies);
    const got = await read('cache');
    // A pair must not straddle two rows.
    expect(() => kvWrite(s, t('src'), t('odd'), 1, 1, 2, 5, 0)).toThrow(/kvWrite.*even row width/);
    // The copies must fit the cache.
    expect(() => kvWrite(s, t('src'), t('cache'), B, Tn, Cap, W, pos0, copies + 1)).toThrow(/kvWrite.*cache/);
    expect(() => kvWrite(s, t('src'), t('cache'), B, Tn, Cap, W, pos0, 0)).toThrow(/kvWrite: copies = 0/);
    done();
    const want =
      dtype === 'f32'
        ? kvWriteRef(src, cache, B, Tn, Cap, W, pos0, copies)
        : toF16(Float32Array.from(kvWriteRef(src, toF16(cache), B, Tn, Cap, W, pos0, copies)));
    expect(Array.from(got)).toEqual(Array.from(want));
  });
});

describe('launcher validation', () => {
  it('rejects bad shapes with errors naming the kernel', async () => {
    const { s, t, done } = await setup([
      { name: 'a', shape: [4096], dtype: 'f32' },
      { name: 'b', shape: [4096], dtype: 'f32' },
      { name: 'c', shape: [4096], dtype: 'f32' },
      { name: 'o', shape: [4096], dtype: 'f32' },
      { name: 'l', shape: [64], dtype: 'f32' },
      { name: 'p', shape: [64], dtype: 'u32' },
      { name: 'ks', shape: [4], dtype: 'u32' },
    ]);
    const fwd =
      (sh: AttentionShape, kLen = 4, pos = t('p')) =>
      () =>
        attentionForward(s, t('a'), t('b'), t('c'), t('o'), t('l'), pos, t('ks'), sh, kLen);
    expect(fwd({ B: 1, Tq: 4, Tk: 4, H: 3, KVH: 2, hd: 8, causal: true })).toThrow(/attentionForward.*multiple/);
    expect(fwd({ B: 1, Tq: 1, Tk: 4, H: 1, KVH: 1, hd: 129, causal: true })).toThrow(EngineError);
    expect(fwd({ B: 1, Tq: 4, Tk: 4, H: 1, KVH: 1, hd: 8, causal: false }, 5)).toThrow(/kLen/);
    expect(fwd({ B: 1, Tq: 4, Tk: 4, H: 1, KVH: 1, hd: 8, causal: true }, 4, t('l'))).toThrow(/qPos.*u32/);
    expect(fwd({ B: 1, Tq: 64, Tk: 4, H: 1, KVH: 1, hd: 128, causal: true })).toThrow(/q \(a\) has 4096 elements, needs 8192/);
    expect(() => kvWrite(s, t('a'), t('b'), 1, 4, 8, 16, 5)).toThrow(/kvWrite.*capacity/);
    // Gaps: the backward stages them beside [lse, D, lo, hi], and qPos must hold them.
    expect(fwd({ B: 1, Tq: 4, Tk: 4, H: 1, KVH: 1, hd: 6, causal: true, gaps: true })).toThrow(
      /attentionForward: key gaps need a head dim of at least 8, not 6/,
    );
    expect(fwd({ B: 1, Tq: 32, Tk: 32, H: 1, KVH: 1, hd: 8, causal: true, gaps: true })).toThrow(/qPos \(p\) has 64 elements, needs 96/);
    expect(() =>
      attentionBackward(
        s,
        t('a'),
        t('b'),
        t('c'),
        t('o'),
        t('o'),
        t('l'),
        t('p'),
        t('ks'),
        t('a'),
        t('b'),
        t('c'),
        t('l'),
        { B: 1, Tq: 4, Tk: 4, H: 1, KVH: 1, hd: 8, causal: true },
        4,
      ),
    ).toThrow(/overlap/);
    done();
  });
});

// Keep the probability helper exercised so a change in masking semantics shows up here too.
describe('attention masking semantics', () => {
  it('causal rows see exactly kStart..qPos', () => {
    const sh: AttentionShape = { B: 1, Tq: 3, Tk: 6, H: 1, KVH: 1, hd: 2, causal: true };
    const { P } = attentionProbs(randArray(6, 1), randArray(12, 2), sh, [1, 3, 5], [2], 0);
    const seen = [0, 1, 2].map((i) => [0, 1, 2, 3, 4, 5].filter((j) => P[i * 6 + j] > 0));
    expect(seen).toEqual([[], [2, 3], [2, 3, 4, 5]]);
  });
});
