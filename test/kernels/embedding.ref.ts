// Float64 references for the embedding family, written as the plain loops the definitions describe.

export function embeddingRef(ids: ArrayLike<number>, table: ArrayLike<number>, N: number, D: number, V: number) {
  const out = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    if (ids[n] >= V) continue;
    for (let j = 0; j < D; j++) out[n * D + j] = table[ids[n] * D + j];
  }
  return out;
}

/** dTable0 + the gradient of sum(out * dOut) with respect to the table, leaving out skipped ids. */
export function embeddingGradRef(ids: ArrayLike<number>, dOut: ArrayLike<number>, dTable0: ArrayLike<number>, N: number, D: number, V: number, skip: number[]) {
  const dTable = Float64Array.from(dTable0);
  for (let n = 0; n < N; n++) {
    const id = ids[n];
    if (id < 0 || id >= V || skip.includes(id)) continue;
    for (let j = 0; j < D; j++) dTable[id * D + j] += dOut[n * D + j];
  }
  return dTable;
}

export function scatterRowsRef(src: ArrayLike<number>, index: ArrayLike<number>, dst0: ArrayLike<number>, n: number, D: number) {
  const dst = Float64Array.from(dst0);
  const rows = dst.length / D;
  for (let i = 0; i < n; i++) {
    if (index[i] >= rows) continue;
    for (let j = 0; j < D; j++) dst[index[i] * D + j] = src[i * D + j];
  }
  return dst;
}

export function gatherRowsRef(src: ArrayLike<number>, index: ArrayLike<number>, n: number, D: number) {
  const rows = src.length / D;
  const dst = new Float64Array(n * D);
  for (let i = 0; i < n; i++) {
    if (index[i] >= rows) continue;
    for (let j = 0; j < D; j++) dst[i * D + j] = src[index[i] * D + j];
  }
  return dst;
}
