import { describe, it, expect } from 'vitest';
import { setup, randArray, compare, KERNEL_PATHS, useKernelPath } from '../helpers/gpu';
import { matmul, sumRows, type MatmulOpts } from '../../src/engine/kernels/matmul';
import { matmulRef, sumRowsRef } from './matmul.ref';
import { EngineError } from '../../src/engine/errors';
import { packHalves, slice, unpackHalves } from '../../src/engine/tensor';

type Case = Omit<MatmulOpts, 'bias'> & { bias?: boolean; seed?: number; tail?: number; f16?: boolean };

/**
 * Runs one product on seeded data and compares the WHOLE C tensor with the reference: C starts
 * with random values (and `tail` extra elements past the last item), so writes into stride gaps
 * or past the end, and a missing or spurious accumulate, all show up.
 */
async function check(c: Case) {
  const { M, N, K } = c;
  const batch = c.batch ?? 1;
  const sA = c.strideA ?? M * K,
    sB = c.strideB ?? K * N,
    sC = c.strideC ?? M * N;
  const seed = c.seed ?? 1;
  const A = randArray((batch - 1) * sA + M * K, seed);
  const B32 = randArray((batch - 1) * sB + K * N, seed + 1);
  // An f16 B is stored rounded; the float64 reference multiplies by exactly the rounded values.
  const B = c.f16 ? unpackHalves(packHalves(B32), B32.length) : B32;
  const C0 = randArray((batch - 1) * sC + M * N + (c.tail ?? 3), seed + 2);
  const bias = randArray(N, seed + 3);
  const { gpu, s, t, read, done } = await setup([
    { name: 'A', shape: [A.length], dtype: 'f32', data: A },
    { name: 'B', shape: [B.length], dtype: c.f16 ? 'f16' : 'f32', data: B32 },
    { name: 'C', shape: [C0.length], dtype: 'f32', data: C0 },
    { name: 'bias', shape: [N], dtype: 'f32', data: bias },
  ]);
  const { bias: useBias, seed: _s, tail: _t, f16: _f, ...opts } = c;
  matmul(s, t('A'), t('B'), t('C'), { ...opts, bias: useBias ? t('bias') : undefined });
  // The row path's one-row kernel takes a single row against a k-contiguous f32 B when K and the
  // batch strides are multiples of 4 (its vec4 steps); everything else the register blocks.
  const rowvec = M === 1 && c.transB && !c.transA && !c.f16 && K % 4 === 0 && sA % 4 === 0 && sB % 4 === 0;
  expect([...s.kernelsSeen]).toEqual([gpu.rowKernels ? (rowvec ? 'matmul_rowvec' : 'matmul_blocks') : M <= 4 ? 'matmul_gemv' : 'matmul']);
  const got = await read('C');
  done();
  const want = matmulRef(A, B, C0, { ...opts, bias: useBias ? bias : undefined });
  const r = compare(got, want, 1e-4, 1e-4);
  expect(r.ok, `${JSON.stringify(c)}: ${r.msg}`).toBe(true);
}

const combos = [
  { transA: false, transB: false },
  { transA: false, transB: true },
  { transA: true, transB: false },
  { transA: true, transB: true },
];
const tag = (o: { transA: boolean; transB: boolean }) => `${o.transA ? 'Aᵀ' : 'A'}·${o.transB ? 'Bᵀ' : 'B'}`;

describe.each(KERNEL_PATHS)('matmul, M > 4 ($path)', ({ rowKernels }) => {
  useKernelPath(rowKernels);
  for (const tr of combos) {
    it(`${tag(tr)} on odd shapes, one tile and several tiles in every dimension`, async () => {
      await check({ M: 7, N: 33, K: 5, ...tr });
      // 70 x 130 x 45: two row tiles, three column tiles, three K slices with a ragged last one.
      await check({ M: 70, N: 130, K: 45, ...tr, seed: 11 });
      await check({ M: 65, N: 1, K: 33, ...tr, seed: 21 });
      await check({ M: 5, N: 65, K: 1, ...tr, seed: 31 });
    });
  }

  it('exact tile multiples', async () => {
    await check({ M: 64, N: 128, K: 32, transB: true, seed: 41 });
  });

  it('bias, alpha and accumulate, alone and together', async () => {
    await check({ M: 66, N: 70, K: 17, transB: true, bias: true, seed: 51 });
    await check({ M: 9, N: 20, K: 33, alpha: -0.375, seed: 52 });
    await check({ M: 9, N: 20, K: 33, transA: true, accumulate: true, seed: 53 });
    await check({ M: 67, N: 65, K: 19, transA: true, transB: true, bias: true, accumulate: true, alpha: 2.5, seed: 54 });
  });

  it('batched with explicit strides, gaps between items and a broadcast B', async () => {
    await check({ M: 13, N: 9, K: 18, batch: 3, seed: 61 });
    await check({ M: 13, N: 9, K: 18, batch: 3, strideA: 13 * 18 + 5, strideB: 0, strideC: 13 * 9 + 7, seed: 62 });
    await check({ M: 70, N: 66, K: 20, batch: 2, transA: true, transB: true, strideB: 0, strideC: 70 * 66 + 1, bias: true, accumulate: true, seed: 63 });
    // strideA = 0 too: the same A against per-item B.
    await check({ M: 6, N: 7, K: 8, batch: 4, transB: true, strideA: 0, strideB: 7 * 8 + 2, seed: 64 });
  });

  it('the three training layouts of a Linear layer compose into the right gradients', async () => {
    // x [T, in], W [out, in], dY [T, out]: y = x·Wᵀ + b, dX = dY·W, dW += dYᵀ·x.
    const T = 37,
      IN = 45,
      OUT = 70;
    await check({ M: T, N: OUT, K: IN, transB: true, bias: true, seed: 71 });
    await check({ M: T, N: IN, K: OUT, seed: 72 });
    await check({ M: OUT, N: IN, K: T, transA: true, accumulate: true, seed: 73 });
  });
});

describe.each(KERNEL_PATHS)('matmul, M <= 4 ($path)', ({ rowKernels }) => {
  useKernelPath(rowKernels);
  for (const tr of combos) {
    it(`${tag(tr)} for 1..4 rows, K longer than one pass of the K-splitting threads`, async () => {
      for (let M = 1; M <= 4; M++) await check({ M, N: 37, K: 75, ...tr, seed: 100 + M });
    });
  }

  it('bias, alpha, accumulate and a batch with a broadcast B', async () => {
    await check({ M: 1, N: 70, K: 45, transB: true, bias: true, alpha: 0.5, accumulate: true, seed: 111 });
    await check({ M: 3, N: 33, K: 9, bias: true, seed: 112 });
    await check({ M: 1, N: 19, K: 40, batch: 3, transB: true, strideB: 0, strideC: 23, seed: 113 });
    await check({ M: 2, N: 11, K: 7, batch: 2, transA: true, strideA: 2 * 7 + 3, strideB: 11 * 7 + 1, accumulate: true, seed: 114 });
  });

  it('one row against Wᵀ in vec4 steps (a decoded token through a Linear layer): bias, alpha, accumulate, a broadcast B, ragged N', async () => {
    await check({ M: 1, N: 37, K: 76, transB: true, seed: 140 });
    await check({ M: 1, N: 300, K: 96, transB: true, bias: true, alpha: 0.5, accumulate: true, seed: 141 });
    await check({ M: 1, N: 19, K: 40, batch: 3, transB: true, strideB: 0, strideC: 23, bias: true, seed: 142 });
    await check({ M: 1, N: 6, K: 8, batch: 2, transB: true, strideA: 12, strideB: 52, seed: 143 });
    // Strides that are not multiples of 4 keep the register blocks (asserted in check).
    await check({ M: 1, N: 6, K: 8, batch: 2, transB: true, strideA: 10, seed: 144 });
  });

  it('every split of K (4 to 32 threads per column, by K and layout), with more columns than one workgroup holds', async () => {
    for (const K of [64, 200, 700, 1500]) {
      for (const transB of [false, true]) await check({ M: 3, N: 45, K, transB, bias: true, seed: 130 + K + (transB ? 1 : 0) });
    }
  });

  it('degenerate 1 x 1 x 1 and a single output column', async () => {
    await check({ M: 1, N: 1, K: 1, seed: 121 });
    await check({ M: 4, N: 1, K: 300, transB: true, bias: true, seed: 122 });
  });
});

describe.each(KERNEL_PATHS)('matmul with an f16 B (frozen weights) ($path)', ({ rowKernels }) => {
  useKernelPath(rowKernels);
  it('every layout, gemv and tiled sizes, odd element counts, bias and accumulate', async () => {
    for (const tr of combos) {
      await check({ M: 7, N: 33, K: 5, ...tr, f16: true });
      await check({ M: 70, N: 130, K: 45, ...tr, seed: 11, f16: true, bias: true });
      await check({ M: 3, N: 37, K: 71, ...tr, seed: 41, f16: true, accumulate: true, alpha: 0.5 });
    }
  });
  it('batched with an odd B stride: items that start in the middle of a packed word', async () => {
    await check({ M: 6, N: 9, K: 7, batch: 3, strideB: 63 + 1, seed: 51, f16: true });
    await check({ M: 6, N: 9, K: 7, batch: 3, strideB: 65, seed: 52, f16: true, transB: true });
  });
});

describe('sumRows', () => {
  async function checkSum(rows: number, cols: number, accumulate: boolean, seed: number) {
    const X = randArray(rows * cols, seed);
    const out0 = randArray(cols + 5, seed + 1);
    const { s, t, read, done } = await setup([
      { name: 'X', shape: [rows, cols], dtype: 'f32', data: X },
      { name: 'out', shape: [cols + 5], dtype: 'f32', data: out0 },
    ]);
    sumRows(s, t('X'), t('out'), rows, cols, accumulate);
    const got = await read('out');
    done();
    const r = compare(got, sumRowsRef(X, out0, rows, cols, accumulate), 1e-4, 1e-4);
    expect(r.ok, `${rows}x${cols} accumulate=${accumulate}: ${r.msg}`).toBe(true);
  }

  it('column sums over ragged row and column counts, with and without accumulate', async () => {
    await checkSum(130, 70, false, 201);
    await checkSum(130, 70, true, 202);
    await checkSum(1, 1, false, 203);
    await checkSum(9, 33, true, 204);
    await checkSum(7, 31, false, 205);
  });
});

describe('matmul validation', () => {
  it('rejects bad shapes, short tensors and overlapping operands with EngineError', async () => {
    const { s, t, done } = await setup([
      { name: 'A', shape: [6, 4], dtype: 'f32' },
      { name: 'B', shape: [4, 5], dtype: 'f32' },
      { name: 'C', shape: [6, 5], dtype: 'f32' },
      { name: 'bias', shape: [4], dtype: 'f32' },
      { name: 'idx', shape: [30], dtype: 'u32' },
    ]);
    const A = t('A'),
      B = t('B'),
      C = t('C');
    const bad: [string, () => void, RegExp][] = [
      ['ok shape as a control', () => matmul(s, A, B, C, { M: 6, N: 5, K: 4 }), /^$/],
      ['A too small', () => matmul(s, A, B, C, { M: 7, N: 5, K: 4 }), /A \(A\) has 24 elements/],
      ['bias too short', () => matmul(s, A, B, C, { M: 6, N: 5, K: 4, bias: t('bias') }), /bias/],
      ['non-integer K', () => matmul(s, A, B, C, { M: 6, N: 5, K: 2.5 }), /positive integers/],
      ['zero M', () => matmul(s, A, B, C, { M: 0, N: 5, K: 4 }), /positive integers/],
      ['C over A', () => matmul(s, A, B, A, { M: 4, N: 5, K: 4, strideC: 20 }), /overlap/],
      ['A and B the same tensor', () => matmul(s, A, A, C, { M: 2, N: 2, K: 4, transB: true }), /overlap/],
      [
        'batch items writing over each other',
        () => matmul(s, slice(A, 0, [4]), B, C, { M: 1, N: 5, K: 4, batch: 2, strideA: 0, strideB: 0, strideC: 3 }),
        /strideC/,
      ],
      ['batched C too small', () => matmul(s, A, B, C, { M: 3, N: 5, K: 4, batch: 3, strideA: 0, strideB: 0 }), /C \(C\) has 30 elements/],
      ['u32 output', () => matmul(s, A, B, t('idx'), { M: 6, N: 5, K: 4 }), /f32/],
      ['sumRows out too short', () => sumRows(s, C, t('bias'), 6, 5), /out/],
      ['sumRows X too small', () => sumRows(s, C, B, 8, 4), /X \(C\) has 30/],
    ];
    for (const [what, f, re] of bad) {
      if (what.startsWith('ok')) {
        expect(f).not.toThrow();
        continue;
      }
      let err: unknown = null;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, what).toBeInstanceOf(EngineError);
      expect((err as Error).message, what).toMatch(re);
    }
    await s.sync();
    done();
  });
});
