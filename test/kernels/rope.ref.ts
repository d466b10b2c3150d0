// Float64 reference for rotary embeddings in Hugging Face's rotate_half form:
//   out = x * cos + rotate_half(x) * sin,  rotate_half([a, b]) = [-b, a]  (halves of each head).
// The angle is rounded to f32 first, as transformers computes it (inv_freq @ positions in f32);
// everything after that is float64.

export function ropeRef(
  x: ArrayLike<number>,
  positions: ArrayLike<number>,
  invFreq: ArrayLike<number>,
  N: number,
  nHeads: number,
  hd: number,
  inverse = false,
): Float64Array {
  const half = hd / 2;
  const out = new Float64Array(N * nHeads * hd);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (n * nHeads + h) * hd;
      for (let d = 0; d < hd; d++) {
        const f = d % half;
        const angle = (inverse ? -1 : 1) * Math.fround(positions[n] * invFreq[f]);
        const rot = d < half ? -x[base + d + half] : x[base + d - half];
        out[base + d] = x[base + d] * Math.cos(angle) + rot * Math.sin(angle);
      }
    }
  }
  return out;
}

/** theta^(-2i/hd) as transformers' default rope init writes it: 1 / theta^(arange(0, hd, 2) / hd). */
export function invFreqRef(theta: number, hd: number): Float64Array {
  const f = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) f[i] = 1 / Math.pow(theta, (2 * i) / hd);
  return f;
}
