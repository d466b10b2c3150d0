// Float64 references for token log-probabilities: a two-pass log-softmax (max, then sum) per row,
// independent of the kernel's one-pass online formulation.

function logSoftmaxRow(logits: ArrayLike<number>, base: number, V: number, invTemp: number): Float64Array {
  let m = -Infinity;
  for (let j = 0; j < V; j++) m = Math.max(m, logits[base + j] * invTemp);
  let sum = 0;
  for (let j = 0; j < V; j++) sum += Math.exp(logits[base + j] * invTemp - m);
  const lse = m + Math.log(sum);
  const out = new Float64Array(V);
  for (let j = 0; j < V; j++) out[j] = logits[base + j] * invTemp - lse;
  return out;
}

const ignored = (t: number, V: number) => t < 0 || t >= V;

export function logprobRef(logits: ArrayLike<number>, targets: ArrayLike<number>, N: number, V: number, invTemp: number) {
  const logp = new Float64Array(N);
  const entropy = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    if (ignored(targets[n], V)) continue;
    const ls = logSoftmaxRow(logits, n * V, V, invTemp);
    logp[n] = ls[targets[n]];
    let h = 0;
    for (let j = 0; j < V; j++) h -= Math.exp(ls[j]) * ls[j];
    entropy[n] = h;
  }
  return { logp, entropy };
}

/** d/dlogits of Σ_n coef[n] * logp[n]: coef * invTemp * (onehot - softmax), zero on ignored rows. */
export function logprobGradRef(logits: ArrayLike<number>, targets: ArrayLike<number>, coef: ArrayLike<number>, N: number, V: number, invTemp: number) {
  const d = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    if (ignored(targets[n], V)) continue;
    const ls = logSoftmaxRow(logits, n * V, V, invTemp);
    for (let j = 0; j < V; j++) {
      d[n * V + j] = coef[n] * invTemp * ((j === targets[n] ? 1 : 0) - Math.exp(ls[j]));
    }
  }
  return d;
}
