// Float64 references for the optimizer kernels, written from the documented algorithms of
// torch.nn.utils.clip_grad_norm_ and torch.optim.AdamW (amsgrad=False), not from the WGSL.

export interface AdamWRefHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/** Global L2 norm over all gradients and the clip coefficient clip_grad_norm_ would apply. */
export function clipRef(grads: ArrayLike<number>[], maxNorm: number): { norm: number; scale: number } {
  let ss = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) ss += g[i] * g[i];
  const norm = Math.sqrt(ss);
  const scale = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  return { norm, scale };
}

/** One AdamW step in place on float64 state; g is scaled by `scale` first (gradient clipping). */
export function adamwRef(p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, h: AdamWRefHyper, scale: number): void {
  const bc1 = 1 - h.beta1 ** h.step;
  const bc2 = 1 - h.beta2 ** h.step;
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * scale;
    p[i] *= 1 - h.lr * h.weightDecay;
    m[i] += (gi - m[i]) * (1 - h.beta1); // torch: exp_avg.lerp_(grad, 1 - beta1)
    v[i] = v[i] * h.beta2 + (1 - h.beta2) * gi * gi;
    const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps;
    p[i] -= (h.lr / bc1) * (m[i] / denom);
  }
}
