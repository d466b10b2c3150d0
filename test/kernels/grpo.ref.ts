// Float64 reference of the GRPO policy loss, written from verl's formulas
// (core_algos.compute_policy_loss_vanilla, kl_penalty "low_var_kl", agg_loss) one tensor operation
// at a time, with the aggregation done here from the mask rather than through the kernel's weights.

export interface RefLossOptions {
  clipLow: number;
  clipHigh: number;
  /** Dual clip bound; 0 = off. */
  clipC: number;
  klCoef: number;
  hasRef: boolean;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/** Per-token pieces: pg loss, kl, clip flag, ratio (no aggregation). */
export function tokenTermsRef(logp: number, old: number, ref: number, a: number, o: RefLossOptions) {
  const negKl = clamp(logp - old, -20, 20);
  const ratio = Math.exp(negKl);
  const pg1 = -a * ratio;
  const pg2 = -a * clamp(ratio, 1 - o.clipLow, 1 + o.clipHigh);
  const clipPg1 = Math.max(pg1, pg2);
  let pg = clipPg1;
  let flag = pg2 > pg1 ? 1 : 0;
  if (o.clipC > 0 && a < 0) {
    const pg3 = -a * o.clipC;
    pg = Math.min(pg3, clipPg1);
    if (clipPg1 > pg3) flag = 2;
  }
  let kl = 0;
  if (o.hasRef) {
    const k = clamp(ref - logp, -20, 20);
    kl = clamp(Math.exp(k) - k - 1, -10, 10);
  }
  return { pg, kl, flag, ratio };
}

/**
 * The loss of a mini-batch of rows [B, T] with mask[b*T+t] = 1 on response tokens:
 * token-mean: Σ mask·(pg + β·kl) / Σ mask; seq-mean-token-mean: mean over rows with tokens of the
 * row's token mean. Also the per-token terms and coefficients dL/dlogp from the explicit rule
 * (a clamp or clip that is active makes its term constant).
 */
export function policyLossRef(
  x: { logp: ArrayLike<number>; old: ArrayLike<number>; ref: ArrayLike<number>; adv: ArrayLike<number>; mask: ArrayLike<number> },
  B: number,
  T: number,
  mode: 'token-mean' | 'seq-mean-token-mean',
  o: RefLossOptions,
) {
  const N = B * T;
  const loss = new Float64Array(N),
    kl = new Float64Array(N),
    flag = new Float64Array(N),
    ratio = new Float64Array(N),
    coef = new Float64Array(N);
  const weight = new Float64Array(N);
  let tokens = 0,
    seqs = 0;
  const lens: number[] = [];
  for (let b = 0; b < B; b++) {
    let len = 0;
    for (let t = 0; t < T; t++) if (x.mask[b * T + t]) len++;
    lens.push(len);
    tokens += len;
    if (len) seqs++;
  }
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const n = b * T + t;
      if (!x.mask[n]) continue;
      weight[n] = mode === 'token-mean' ? 1 / tokens : 1 / (seqs * lens[b]);
    }
  }
  let total = 0;
  for (let n = 0; n < N; n++) {
    if (!x.mask[n]) continue;
    const r = tokenTermsRef(x.logp[n], x.old[n], x.ref[n], x.adv[n], o);
    loss[n] = r.pg + o.klCoef * r.kl;
    kl[n] = r.kl;
    flag[n] = r.flag;
    ratio[n] = r.ratio;
    total += weight[n] * loss[n];
    // d pg / d logp: -A·ratio unless a clip (or the ratio's clamp) is active
    const d = x.logp[n] - x.old[n];
    const clampedRatio = d < -20 || d > 20;
    const gpg = r.flag !== 0 || clampedRatio ? 0 : -x.adv[n] * r.ratio;
    let gkl = 0;
    if (o.hasRef) {
      const k = x.ref[n] - x.logp[n];
      const raw = Math.exp(clamp(k, -20, 20)) - clamp(k, -20, 20) - 1;
      if (k >= -20 && k <= 20 && raw <= 10) gkl = 1 - Math.exp(k);
    }
    coef[n] = weight[n] * (gpg + o.klCoef * gkl);
  }
  return { total, loss, kl, flag, ratio, coef, weight };
}

/** The aggregated loss alone, for finite differences. */
export function totalLossRef(
  logp: ArrayLike<number>,
  rest: { old: ArrayLike<number>; ref: ArrayLike<number>; adv: ArrayLike<number>; mask: ArrayLike<number> },
  B: number,
  T: number,
  mode: 'token-mean' | 'seq-mean-token-mean',
  o: RefLossOptions,
): number {
  return policyLossRef({ ...rest, logp }, B, T, mode, o).total;
}
