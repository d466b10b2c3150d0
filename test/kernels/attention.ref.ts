// Float64 CPU references for the attention kernels, written the plain way (materialized scores,
// two-pass softmax) so they share no structure with the chunked online-softmax GPU code.

import type { AttentionShape } from '../../src/engine/kernels/attention';

type Arr = ArrayLike<number>;

/** Allowed keys of query row (b, i), as a predicate on j. With gaps, qPos goes on with each row's hidden [gLo, gHi). */
export function allowed(sh: AttentionShape, qPos: Arr, kStart: Arr, kLen: number, b: number, i: number, j: number): boolean {
  if (j < kStart[b] || j >= sh.Tk) return false;
  if (sh.gaps) {
    const e = sh.B * sh.Tq + 2 * (b * sh.Tq + i);
    if (j >= qPos[e] && j < qPos[e + 1]) return false;
  }
  return sh.causal ? j <= qPos[b * sh.Tq + i] : j < kLen;
}

const qIdx = (sh: AttentionShape, b: number, i: number, h: number) => ((b * sh.Tq + i) * sh.H + h) * sh.hd;
const kIdx = (sh: AttentionShape, b: number, j: number, g: number) => ((b * sh.Tk + j) * sh.KVH + g) * sh.hd;

/** Probabilities P[b][h][i][j] (0 where masked) and lse [B, H, Tq] (-Infinity for an empty row). */
export function attentionProbs(q: Arr, k: Arr, sh: AttentionShape, qPos: Arr, kStart: Arr, kLen: number) {
  const { B, Tq, Tk, H, KVH, hd } = sh;
  const scale = 1 / Math.sqrt(hd);
  const P = new Float64Array(B * H * Tq * Tk);
  const lse = new Float64Array(B * H * Tq);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KVH));
      for (let i = 0; i < Tq; i++) {
        const row = ((b * H + h) * Tq + i) * Tk;
        const sc = new Float64Array(Tk).fill(-Infinity);
        let m = -Infinity;
        for (let j = 0; j < Tk; j++) {
          if (!allowed(sh, qPos, kStart, kLen, b, i, j)) continue;
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += q[qIdx(sh, b, i, h) + d] * k[kIdx(sh, b, j, g) + d];
          sc[j] = dot * scale;
          m = Math.max(m, sc[j]);
        }
        let z = 0;
        for (let j = 0; j < Tk; j++) if (sc[j] > -Infinity) z += Math.exp(sc[j] - m);
        lse[(b * H + h) * Tq + i] = z > 0 ? m + Math.log(z) : -Infinity;
        for (let j = 0; j < Tk; j++) P[row + j] = sc[j] > -Infinity ? Math.exp(sc[j] - m) / z : 0;
      }
    }
  }
  return { P, lse };
}

export function attentionRef(q: Arr, k: Arr, v: Arr, sh: AttentionShape, qPos: Arr, kStart: Arr, kLen: number) {
  const { B, Tq, Tk, H, KVH, hd } = sh;
  const { P, lse } = attentionProbs(q, k, sh, qPos, kStart, kLen);
  const o = new Float64Array(B * Tq * H * hd);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KVH));
      for (let i = 0; i < Tq; i++)
        for (let j = 0; j < Tk; j++) {
          const pij = P[((b * H + h) * Tq + i) * Tk + j];
          if (pij === 0) continue;
          for (let d = 0; d < hd; d++) o[qIdx(sh, b, i, h) + d] += pij * v[kIdx(sh, b, j, g) + d];
        }
    }
  return { o, lse };
}

/**
 * Analytic gradients of L = Σ dO ⊙ O: with s = scale q·k, P = softmax(s),
 *   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP - rowsum(P ⊙ dP)),  dQ = scale dS K,  dK = scale dSᵀ Q,
 * summed over the query heads that share a kv head. D is rowsum(P ⊙ dP) = dO·O, [B, H, Tq].
 */
export function attentionBackwardRef(q: Arr, k: Arr, v: Arr, dO: Arr, sh: AttentionShape, qPos: Arr, kStart: Arr, kLen: number) {
  const { B, Tq, Tk, H, KVH, hd } = sh;
  const scale = 1 / Math.sqrt(hd);
  const { P } = attentionProbs(q, k, sh, qPos, kStart, kLen);
  const dq = new Float64Array(B * Tq * H * hd);
  const dk = new Float64Array(B * Tk * KVH * hd);
  const dv = new Float64Array(B * Tk * KVH * hd);
  const D = new Float64Array(B * H * Tq);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KVH));
      for (let i = 0; i < Tq; i++) {
        const qi = qIdx(sh, b, i, h);
        const dP = new Float64Array(Tk);
        let rs = 0;
        for (let j = 0; j < Tk; j++) {
          const kj = kIdx(sh, b, j, g);
          for (let d = 0; d < hd; d++) dP[j] += dO[qi + d] * v[kj + d];
          rs += P[((b * H + h) * Tq + i) * Tk + j] * dP[j];
        }
        D[(b * H + h) * Tq + i] = rs;
        for (let j = 0; j < Tk; j++) {
          const pij = P[((b * H + h) * Tq + i) * Tk + j];
          if (pij === 0) continue;
          const ds = pij * (dP[j] - rs);
          const kj = kIdx(sh, b, j, g);
          for (let d = 0; d < hd; d++) {
            dq[qi + d] += scale * ds * k[kj + d];
            dk[kj + d] += scale * ds * q[qi + d];
            dv[kj + d] += pij * dO[qi + d];
          }
        }
      }
    }
  return { dq, dk, dv, D };
}

/** cache[b * copies + c, pos0 + t, :] = src[b, t, :] for every c < copies. */
export function kvWriteRef(src: Arr, cache: Arr, B: number, Tn: number, Cap: number, W: number, pos0: number, copies = 1): Float64Array {
  const out = Float64Array.from(cache);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < copies; c++)
      for (let t = 0; t < Tn; t++)
        for (let w = 0; w < W; w++) {
          out[((b * copies + c) * Cap + pos0 + t) * W + w] = src[(b * Tn + t) * W + w];
        }
  return out;
}
