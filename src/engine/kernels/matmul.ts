import code from '../../../shaders/matmul.wgsl?raw';
import type { CommandStream } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';

// Tiled path: 16x16 threads, each with a 4x4 register block -> 64x64 tiles of C, K staged 16 at a
// time (2 x 16 x 65 floats = 8.3 KiB of workgroup memory).
const TX = 16;
const TY = 16;
const BK = 16;
const BM = TY * 4;
const BN = TX * 4;
// Matrix-vector path, used up to GEMV_MAX_ROWS rows of A. A workgroup of GV_WG threads owns
// GV_WG / ks output columns; ks threads split K for each of them (gemvSplit). ks must be >=
// GEMV_MAX_ROWS so that every (row, column) of a workgroup's outputs has an owner thread.
const GV_WG = 64;
const GEMV_MAX_ROWS = 4;
/**
 * Threads per output column: about 32 products each, a power of two in [4, 32] (at most 8 when B's
 * n is the contiguous index, so that a k row is read as runs of >= 8 neighbouring columns). The
 * lab's widths (K 64-512) have little K to split: a fixed 32 (with 256-thread workgroups) gave each
 * thread 3 products of a 96-wide row and a 32-way reduction, and made the matrix-vector products
 * 70% of a GPU-path decoded token on SwiftShader (346 products of a 24-token micro decode: 2.2 s;
 * 0.45 s with this split). Large K still gets 32 threads per column.
 */
function gemvSplit(K: number, bKContig: boolean): number {
  const want = 2 ** Math.ceil(Math.log2(Math.max(1, K / 32)));
  return Math.min(bKContig ? 32 : 8, Math.max(GEMV_MAX_ROWS, want));
}
// Barrier-free path (Gpu.rowKernels): 8 x 8 threads, each with a 4 x 8 block -> 32 x 64 of C.
const BX = 8;
const BY = 8;
// One-row product on the row path: threads per workgroup (4 columns each).
const RVT = 64;
// Column sums.
const SC = 32;
const SR = 8;

const U32_MAX = 0xffffffff;

export const MATMUL_PARAMS = uniformLayout('matmul', 'Params', {
  M: 'u32',
  N: 'u32',
  K: 'u32',
  flags: 'u32',
  sAm: 'u32',
  sAk: 'u32',
  sBk: 'u32',
  sBn: 'u32',
  strideA: 'u32',
  strideB: 'u32',
  strideC: 'u32',
  alpha: 'f32',
  ks: 'u32',
  _pad0: 'u32',
  _pad1: 'u32',
  _pad2: 'u32',
});

export interface MatmulOpts {
  M: number;
  N: number;
  K: number;
  transA?: boolean; // A stored [K, M] instead of [M, K]
  transB?: boolean; // B stored [N, K] instead of [K, N]
  batch?: number; // default 1
  strideA?: number;
  strideB?: number;
  strideC?: number; // elements between batch items; default the matrix size (strideB = 0 broadcasts B)
  bias?: Tensor; // length N, added to every row of C
  accumulate?: boolean; // C += result instead of C = result
  alpha?: number; // scales the product (not the bias), default 1
}

function isCount(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= U32_MAX;
}

/**
 * C[b] = alpha * opA(A[b]) · opB(B[b]) (+ bias) (+ C[b] when accumulating), for b < batch, where
 * opA(A[b]) is M x K and opB(B[b]) is K x N, and C[b] is row-major [M, N].
 * The training layouts: forward y = x·Wᵀ is { transB } with W [out, in]; dX = dY·W is plain;
 * dW (+)= dYᵀ·X is { transA }.
 */
export function matmul(s: CommandStream, A: Tensor, B: Tensor, C: Tensor, o: MatmulOpts): void {
  const { M, N, K } = o;
  const where = `matmul(${A.name}, ${B.name} -> ${C.name})`;
  if (!isCount(M, 1) || !isCount(N, 1) || !isCount(K, 1)) {
    throw new EngineError(`${where}: M, N, K must be positive integers, got M=${M} N=${N} K=${K}`);
  }
  const transA = o.transA ?? false;
  const transB = o.transB ?? false;
  const batch = o.batch ?? 1;
  const strideA = o.strideA ?? M * K;
  const strideB = o.strideB ?? K * N;
  const strideC = o.strideC ?? M * N;
  const alpha = o.alpha ?? 1;
  const accumulate = o.accumulate ?? false;
  if (!isCount(batch, 1)) throw new EngineError(`${where}: batch must be a positive integer, got ${batch}`);
  for (const [k, v] of [
    ['strideA', strideA],
    ['strideB', strideB],
    ['strideC', strideC],
  ] as const) {
    if (!isCount(v, 0)) throw new EngineError(`${where}: ${k} must be a non-negative integer, got ${v}`);
  }
  if (batch > 1 && strideC < M * N) {
    throw new EngineError(`${where}: strideC ${strideC} < M*N = ${M * N} would make batch items write over each other`);
  }
  if (!Number.isFinite(alpha)) throw new EngineError(`${where}: alpha must be finite, got ${alpha}`);

  const need = (stride: number, elems: number) => (batch - 1) * stride + elems;
  const shapeA = transA ? `[${K}, ${M}]` : `[${M}, ${K}]`;
  const shapeB = transB ? `[${N}, ${K}]` : `[${K}, ${N}]`;
  const sizes: [string, Tensor, number, string][] = [
    ['A', A, need(strideA, M * K), `${batch} x ${shapeA}, stride ${strideA}`],
    ['B', B, need(strideB, K * N), `${batch} x ${shapeB}, stride ${strideB}`],
    ['C', C, need(strideC, M * N), `${batch} x [${M}, ${N}], stride ${strideC}`],
  ];
  if (o.bias) sizes.push(['bias', o.bias, N, `[${N}]`]);
  for (const [role, t, n, desc] of sizes) {
    // B alone may be f16 (a frozen weight, matmul.wgsl loadB).
    requireTensor(where, t, n, role, role === 'B' ? ['f32', 'f16'] : 'f32', desc);
    if (n > U32_MAX) throw new EngineError(`${where}: ${role} spans ${n} elements, beyond 32-bit indexing`);
  }
  requireDisjoint(where, { A, B, C, bias: o.bias });

  const flags = (transA ? 0 : 1) | (transB ? 2 : 0) | (accumulate ? 4 : 0);
  const gemv = M <= GEMV_MAX_ROWS;
  const ks = gemvSplit(K, transB);
  const uniforms = MATMUL_PARAMS.values({
    M,
    N,
    K,
    flags,
    sAm: transA ? 1 : K,
    sAk: transA ? M : 1,
    sBk: transB ? 1 : N,
    sBn: transB ? K : 1,
    strideA,
    strideB,
    strideC,
    alpha,
    ks: gemv ? ks : 0,
  });
  const bindings = o.bias ? [A, B, C, o.bias] : [A, B, C];
  const B_F16 = B.dtype === 'f16' ? 1 : 0;
  // One row against a k-contiguous f32 B in vec4 steps (matmul.wgsl matmul_rowvec): a decoded
  // token's Linear layers on a CPU adapter.
  const rowvec = M === 1 && transB && !transA && B_F16 === 0 && K % 4 === 0 && strideA % 4 === 0 && strideB % 4 === 0;
  if (s.gpu.rowKernels && rowvec) {
    s.dispatch({
      label: 'matmul_rowvec',
      pipeline: s.gpu.pipeline('matmul', code, o.bias ? 'matmul_rowvec_bias' : 'matmul_rowvec', { RVT }),
      uniforms,
      bindings,
      workgroups: [Math.ceil(N / (4 * RVT)), 1, batch],
    });
  } else if (s.gpu.rowKernels) {
    s.dispatch({
      label: 'matmul_blocks',
      pipeline: s.gpu.pipeline('matmul', code, o.bias ? 'matmul_blocks_bias' : 'matmul_blocks', { BX, BY, B_F16 }),
      uniforms,
      bindings,
      workgroups: [Math.ceil(N / (8 * BX)), Math.ceil(M / (4 * BY)), batch],
    });
  } else if (gemv) {
    s.dispatch({
      label: 'matmul_gemv',
      pipeline: s.gpu.pipeline('matmul', code, o.bias ? 'matmul_gemv_bias' : 'matmul_gemv', { MR: M, GV_WG, B_F16 }),
      uniforms,
      bindings,
      workgroups: [Math.ceil(N / (GV_WG / ks)), 1, batch],
    });
  } else {
    s.dispatch({
      label: 'matmul',
      pipeline: s.gpu.pipeline('matmul', code, o.bias ? 'matmul_tiled_bias' : 'matmul_tiled', { TX, TY, BK, B_F16 }),
      uniforms,
      bindings,
      workgroups: [Math.ceil(N / BN), Math.ceil(M / BM), batch],
    });
  }
}

/** out[n] (+)= sum over rows m of X[m, n]  (bias gradients). */
export function sumRows(s: CommandStream, X: Tensor, out: Tensor, rows: number, cols: number, accumulate = false): void {
  const where = `sumRows(${X.name} -> ${out.name})`;
  if (!isCount(rows, 1) || !isCount(cols, 1)) {
    throw new EngineError(`${where}: rows and cols must be positive integers, got ${rows} x ${cols}`);
  }
  requireTensor(where, X, rows * cols, 'X', 'f32', `[${rows}, ${cols}]`);
  requireTensor(where, out, cols, 'out');
  requireDisjoint(where, { X, out });
  s.dispatch({
    label: 'sum_rows',
    pipeline: s.gpu.pipeline('matmul', code, 'sum_rows', { SC, SR }),
    uniforms: MATMUL_PARAMS.values({
      M: rows,
      N: cols,
      K: 0,
      flags: accumulate ? 4 : 0,
      sAm: 0,
      sAk: 0,
      sBk: 0,
      sBn: 0,
      strideA: 0,
      strideB: 0,
      strideC: 0,
      alpha: 1,
      ks: 0,
    }),
    bindings: [X, null, out],
    workgroups: [Math.ceil(cols / SC), 1, 1],
  });
}
