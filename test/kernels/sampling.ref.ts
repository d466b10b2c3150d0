// Float64 references for next-token selection: log-softmax, torch.argmax, the nucleus (top-p) set
// by sorting, and a chi-square goodness-of-fit check for sampled counts.

/** log softmax(row / T) in float64. */
export function logSoftmaxRef(row: ArrayLike<number>, T = 1): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i] / T);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] / T - m);
  const ls = Math.log(s);
  return Float64Array.from(row, (x) => x / T - m - ls);
}

/** torch.argmax: the first index of the maximum. */
export function argmaxRef(row: ArrayLike<number>): number {
  let bi = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[bi]) bi = i;
  return bi;
}

/**
 * The nucleus: sort by probability (descending), keep the shortest prefix whose mass reaches topP,
 * plus any token tied with the last one kept (the set is then well defined without an order among
 * equals). Returns the kept tokens' probabilities renormalised (0 elsewhere), and `slack`, the
 * distance of topP from the nearest prefix mass: a test should use topP values far from one.
 */
export function nucleusRef(row: ArrayLike<number>, T: number, topP: number) {
  const lp = logSoftmaxRef(row, T);
  const p = Array.from(lp, Math.exp);
  const order = p.map((_, i) => i).sort((a, b) => p[b] - p[a] || a - b);
  const keep = new Set<number>();
  let mass = 0;
  let slack = Infinity;
  let k = 0;
  for (; k < order.length; k++) {
    mass += p[order[k]];
    keep.add(order[k]);
    slack = Math.min(slack, Math.abs(mass - topP));
    if (mass >= topP) break;
  }
  for (let j = k + 1; j < order.length && row[order[j]] === row[order[k]]; j++) {
    keep.add(order[j]);
    mass += p[order[j]];
  }
  const probs = new Float64Array(p.length);
  for (const i of keep) probs[i] = p[i] / mass;
  return { keep, probs, slack };
}

/**
 * Pearson chi-square of observed counts against probabilities; bins with an expected count under 5
 * are pooled into one. Returns the statistic and the 99.9% critical value (Wilson–Hilferty).
 */
export function chiSquare(counts: ArrayLike<number>, probs: ArrayLike<number>) {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i];
  let stat = 0,
    bins = 0,
    poolObs = 0,
    poolExp = 0;
  for (let i = 0; i < probs.length; i++) {
    const e = probs[i] * n;
    if (e >= 5) {
      stat += (counts[i] - e) ** 2 / e;
      bins++;
    } else {
      poolObs += counts[i];
      poolExp += e;
    }
  }
  if (poolExp > 0) {
    stat += (poolObs - poolExp) ** 2 / poolExp;
    bins++;
  } else if (poolObs > 0) {
    stat = Infinity; // draws where the probability is zero
  }
  const dof = Math.max(1, bins - 1);
  const z = 3.0902; // standard normal 99.9% quantile
  const h = 2 / (9 * dof);
  const critical = dof * (1 - h + z * Math.sqrt(h)) ** 3;
  return { stat, dof, critical, ok: stat <= critical };
}
