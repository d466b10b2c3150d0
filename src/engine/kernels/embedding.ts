import code from '../../../shaders/embedding.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';

const WG = 256;

export const EMBEDDING_PARAMS = uniformLayout('embedding', 'Params', { n: 'u32', d: 'u32', limit: 'u32', _pad: 'u32' });

function positiveWidth(kernel: string, D: number): void {
  if (!Number.isInteger(D) || D <= 0) throw new EngineError(`${kernel}: row width ${D} must be a positive integer`);
}

function rowMove(
  s: CommandStream,
  label: string,
  entry: 'gather' | 'scatter',
  index: Tensor,
  src: Tensor,
  dst: Tensor,
  n: number,
  D: number,
  limit: number,
): void {
  if (n * D >= 2 ** 32) throw new EngineError(`${label}: ${n} x ${D} elements exceed the 32-bit index range`);
  s.dispatch({
    label,
    pipeline: s.gpu.pipeline('embedding', code, entry, { WG }),
    uniforms: EMBEDDING_PARAMS.values({ n, d: D, limit }),
    bindings: [index, src, dst],
    workgroups: grid1d(n * D, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** out[n, :] = table[ids[n], :]; ids >= V give a zero row (placeholders later overwritten by scatterRows). */
export function embeddingForward(s: CommandStream, ids: Tensor, table: Tensor, out: Tensor, N: number, D: number, V: number): void {
  const k = 'embeddingForward';
  positiveWidth(k, D);
  requireTensor(k, ids, N, 'ids', 'u32', `[${N}]`);
  requireTensor(k, table, V * D, 'table', 'f32', `[${V}, ${D}]`);
  requireTensor(k, out, N * D, 'out', 'f32', `[${N}, ${D}]`);
  requireDisjoint(k, { ids, table, out });
  rowMove(s, 'embedding.fwd', 'gather', ids, table, out, N, D, V);
}

/**
 * Positions grouped by token id. rows[r] is a token id (ascending), and its positions (ascending)
 * are positions[starts[r] .. starts[r+1]); starts has rows.length + 1 entries.
 */
export interface EmbeddingGradPlan {
  rows: Uint32Array;
  starts: Uint32Array;
  positions: Uint32Array;
}

/**
 * Group positions by token id for embeddingBackward, leaving out ids in `skip` (e.g. the image
 * placeholder, whose rows are replaced by vision features and so get no embedding gradient) and
 * ids outside [0, V).
 */
export function planEmbeddingGrad(ids: ArrayLike<number>, V: number, skip: number[] = []): EmbeddingGradPlan {
  const skipped = new Set(skip);
  const kept: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (Number.isInteger(id) && id >= 0 && id < V && !skipped.has(id)) kept.push(i);
  }
  // Array.prototype.sort is stable, so positions stay ascending within each id.
  kept.sort((a, b) => ids[a] - ids[b]);
  const positions = Uint32Array.from(kept);
  const rows: number[] = [];
  const starts: number[] = [];
  for (let k = 0; k < kept.length; k++) {
    if (k === 0 || ids[kept[k]] !== ids[kept[k - 1]]) {
      rows.push(ids[kept[k]]);
      starts.push(k);
    }
  }
  starts.push(kept.length);
  return { rows: Uint32Array.from(rows), starts: Uint32Array.from(starts), positions };
}

/**
 * dTable[planRows[r], :] += Σ dOut[p, :] over the positions p of group r, for r < numRows.
 * The plan (from planEmbeddingGrad) must already be uploaded into the three u32 tensors.
 * Deterministic: each table row is owned by one workgroup and summed in plan order.
 */
export function embeddingBackward(
  s: CommandStream,
  dOut: Tensor,
  dTable: Tensor,
  planRows: Tensor,
  planStarts: Tensor,
  planPositions: Tensor,
  numRows: number,
  D: number,
): void {
  const k = 'embeddingBackward';
  positiveWidth(k, D);
  requireTensor(k, dOut, D, 'dOut', 'f32', `rows of width ${D}`);
  requireTensor(k, dTable, D, 'dTable', 'f32', `[V, ${D}]`);
  requireTensor(k, planRows, numRows, 'planRows', 'u32', `[${numRows}]`);
  requireTensor(k, planStarts, numRows + 1, 'planStarts', 'u32', `[${numRows + 1}]`);
  requireTensor(k, planPositions, 0, 'planPositions', 'u32');
  const V = Math.floor(dTable.size / D);
  requireDisjoint(k, { planRows, dOut, dTable, planStarts, planPositions });
  if (numRows === 0) return;
  s.dispatch({
    label: 'embedding.bwd',
    pipeline: s.gpu.pipeline('embedding', code, 'grad', { WG }),
    uniforms: EMBEDDING_PARAMS.values({ n: numRows, d: D, limit: V }),
    bindings: [planRows, dOut, dTable, planStarts, planPositions],
    workgroups: grid1d(numRows, 1, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/**
 * dst[index[i], :] = src[i, :] for i < n: puts image features at the placeholder positions of the
 * token stream. Indices at or past dst's row count are dropped. Indices must be distinct (two
 * writers to one row would race).
 */
export function scatterRows(s: CommandStream, src: Tensor, index: Tensor, dst: Tensor, n: number, D: number): void {
  const k = 'scatterRows';
  positiveWidth(k, D);
  requireTensor(k, src, n * D, 'src', 'f32', `[${n}, ${D}]`);
  requireTensor(k, index, n, 'index', 'u32', `[${n}]`);
  requireTensor(k, dst, D, 'dst', 'f32', `[rows, ${D}]`);
  requireDisjoint(k, { index, src, dst });
  rowMove(s, 'scatterRows', 'scatter', index, src, dst, n, D, Math.floor(dst.size / D));
}

/** dst[i, :] = src[index[i], :] for i < n (the backward of scatterRows); out-of-range indices give zero rows. */
export function gatherRows(s: CommandStream, src: Tensor, index: Tensor, dst: Tensor, n: number, D: number): void {
  const k = 'gatherRows';
  positiveWidth(k, D);
  requireTensor(k, src, D, 'src', 'f32', `[rows, ${D}]`);
  requireTensor(k, index, n, 'index', 'u32', `[${n}]`);
  requireTensor(k, dst, n * D, 'dst', 'f32', `[${n}, ${D}]`);
  requireDisjoint(k, { index, src, dst });
  rowMove(s, 'gatherRows', 'gather', index, src, dst, n, D, Math.floor(src.size / D));
}
