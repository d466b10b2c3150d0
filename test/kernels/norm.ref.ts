// Float64 references for RMSNorm. The backward is built from the full Jacobian dy_k/dx_j rather
// than from the simplified formula the kernel uses, so the two derivations check each other.

export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, dim: number, eps: number) {
  const y = new Float64Array(rows * dim);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[r * dim + j] ** 2;
    const rs = 1 / Math.sqrt(ss / dim + eps);
    rstd[r] = rs;
    for (let j = 0; j < dim; j++) y[r * dim + j] = x[r * dim + j] * rs * w[j];
  }
  return { y, rstd };
}

export function rmsnormBackwardRef(x: ArrayLike<number>, w: ArrayLike<number>, dy: ArrayLike<number>, rows: number, dim: number, eps: number) {
  const dx = new Float64Array(rows * dim);
  const dw = new Float64Array(dim);
  const { rstd } = rmsnormRef(x, w, rows, dim, eps);
  for (let r = 0; r < rows; r++) {
    const rs = rstd[r];
    const o = r * dim;
    for (let j = 0; j < dim; j++) {
      // dx_j = sum_k dy_k * dy_k/dx_j, with dy_k/dx_j = w_k (rs [k == j] - rs^3 x_k x_j / dim)
      let g = 0;
      for (let k = 0; k < dim; k++) {
        const jac = w[k] * ((k === j ? rs : 0) - (rs ** 3 * x[o + k] * x[o + j]) / dim);
        g += dy[o + k] * jac;
      }
      dx[o + j] = g;
      dw[j] += dy[o + j] * x[o + j] * rs;
    }
  }
  return { dx, dw };
}

/** torch.nn.LayerNorm in float64: (x - mean) / sqrt(var + eps) * w + b, with the biased variance. */
export function layernormRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, rows: number, dim: number, eps: number) {
  const y = new Float64Array(rows * dim);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < dim; j++) mean += x[r * dim + j];
    mean /= dim;
    let v = 0;
    for (let j = 0; j < dim; j++) v += (x[r * dim + j] - mean) ** 2;
    const rs = 1 / Math.sqrt(v / dim + eps);
    rstd[r] = rs;
    for (let j = 0; j < dim; j++) y[r * dim + j] = (x[r * dim + j] - mean) * rs * w[j] + b[j];
  }
  return { y, rstd };
}
