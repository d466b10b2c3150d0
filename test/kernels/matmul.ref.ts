// Float64 CPU references for the matmul family, written from the definitions (explicit index
// formulas for each stored layout) rather than from the kernels' stride scheme.

export interface MatmulRefOpts {
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  batch?: number;
  strideA?: number;
  strideB?: number;
  strideC?: number;
  bias?: ArrayLike<number>;
  accumulate?: boolean;
  alpha?: number;
}

/** The whole C buffer after the op: `C0` with every C[b, m, n] replaced (or added to). */
export function matmulRef(A: ArrayLike<number>, B: ArrayLike<number>, C0: ArrayLike<number>, o: MatmulRefOpts): Float64Array {
  const { M, N, K } = o;
  const batch = o.batch ?? 1;
  const sA = o.strideA ?? M * K;
  const sB = o.strideB ?? K * N;
  const sC = o.strideC ?? M * N;
  const alpha = o.alpha ?? 1;
  const C = Float64Array.from(C0);
  for (let b = 0; b < batch; b++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const a = o.transA ? A[b * sA + k * M + m] : A[b * sA + m * K + k];
          const w = o.transB ? B[b * sB + n * K + k] : B[b * sB + k * N + n];
          acc += a * w;
        }
        let v = alpha * acc;
        if (o.bias) v += o.bias[n];
        const i = b * sC + m * N + n;
        C[i] = o.accumulate ? C[i] + v : v;
      }
    }
  }
  return C;
}

/** `out0` with out[n] = (out0[n] if accumulating) + sum_m X[m, n]. */
export function sumRowsRef(X: ArrayLike<number>, out0: ArrayLike<number>, rows: number, cols: number, accumulate: boolean): Float64Array {
  const out = Float64Array.from(out0);
  for (let n = 0; n < cols; n++) {
    let s = 0;
    for (let m = 0; m < rows; m++) s += X[m * cols + n];
    out[n] = accumulate ? out[n] + s : s;
  }
  return out;
}
