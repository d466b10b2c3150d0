import code from '../../../shaders/attention.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { HEAD_DIM_MAX, MAX_EXACT } from './limits';
import { uniformLayout } from '../uniforms';
import { withReductions } from './reduce';

/** A compute pipeline of this family's module, with the workgroup reductions it calls linked in (kernels/reduce.ts). */
const pipeline = (s: CommandStream, entry: string, constants: Record<string, number>) =>
  s.gpu.pipeline(...withReductions(s.gpu, 'attention', code), entry, constants);

/** Threads per workgroup, and key (or query) rows per chunk. Must be a power of two. */
const WG = 64;
/** Threads (= keys per chunk): short sequences use 32 so half the workgroup is not idle at every barrier. */
const chunkThreads = (keys: number) => (keys <= 32 ? 32 : WG);
/** Threads per workgroup of the one-thread-per-row kernels (Gpu.rowKernels). */
const RT = 64;

/** One struct for every entry point: the attention kernels read B..scale, kv_write reads n..pos0. */
export const ATTENTION_PARAMS = uniformLayout('attention', 'Params', {
  B: 'u32',
  Tq: 'u32',
  Tk: 'u32',
  H: 'u32',
  KVH: 'u32',
  hd: 'u32',
  causal: 'u32',
  kLen: 'u32',
  scale: 'f32',
  n: 'u32',
  W: 'u32',
  Tn: 'u32',
  Cap: 'u32',
  pos0: 'u32',
  copies: 'u32',
  gaps: 'u32',
});

export interface AttentionShape {
  B: number;
  Tq: number;
  Tk: number;
  H: number;
  KVH: number;
  hd: number;
  causal: boolean;
  /**
   * Every query row also hides the keys [gLo, gHi) given after its qPos entry: qPos is then
   * [B*Tq] positions followed by [B*Tq, 2] gaps. GRPO's shared-prefix rows (a prompt, then its
   * responses one after another): a response sees the prompt and itself. gLo must exceed the
   * row's first key (kStart) unless the gap is empty. Needs hd >= 8 (the backward stages the gap
   * beside [lse, D, lo, hi]).
   */
  gaps?: boolean;
}

/** The smallest head dim whose backward has room to stage a row's gap. */
export const GAPS_MIN_HEAD_DIM = 8;

const isCount = (n: number) => Number.isInteger(n) && n >= 0 && n < 2 ** 31;

function checkShape(kernel: string, sh: AttentionShape, kLen: number): void {
  const { B, Tq, Tk, H, KVH, hd } = sh;
  for (const [name, n] of Object.entries({ B, Tq, Tk, H, KVH, hd, kLen })) {
    if (!isCount(n)) throw new EngineError(`${kernel}: ${name} = ${n} is not a valid size`);
  }
  if (B < 1 || Tq < 1 || Tk < 1 || H < 1 || KVH < 1 || hd < 1) {
    throw new EngineError(`${kernel}: empty shape ${JSON.stringify(sh)}`);
  }
  if (H % KVH !== 0) throw new EngineError(`${kernel}: H = ${H} query heads is not a multiple of KVH = ${KVH} kv heads`);
  if (hd > HEAD_DIM_MAX) throw new EngineError(`${kernel}: head dim ${hd} exceeds ${HEAD_DIM_MAX}`);
  if (!sh.causal && kLen > Tk) throw new EngineError(`${kernel}: kLen = ${kLen} exceeds the ${Tk} key rows`);
  if (Tk >= MAX_EXACT) throw new EngineError(`${kernel}: Tk = ${Tk} keys is too many (max ${MAX_EXACT - 1})`);
  if (sh.gaps && hd < GAPS_MIN_HEAD_DIM) throw new EngineError(`${kernel}: key gaps need a head dim of at least ${GAPS_MIN_HEAD_DIM}, not ${hd}`);
}

/**
 * The row kernel of a pass: its vec4 form when the head dim allows (a multiple of 4, every
 * preset's), else the scalar one. attention.wgsl says why the vec4 forms are faster there.
 */
const rowEntry = (pass: 'attn_fwd' | 'attn_bwd_dkdv' | 'attn_bwd_dq', vec4: boolean) => (vec4 ? `${pass}_vec4_rows` : `${pass}_rows`);

/**
 * Whether k and v can be read as vec4: a head dim that is a multiple of 4, and for f16 ones a whole
 * number of 16-byte word groups in each binding (attention.wgsl halves4), else the scalar loads.
 */
const vec4Loads = (hd: number, k: Tensor, v: Tensor) => hd % 4 === 0 && (k.dtype !== 'f16' || (k.size % 8 === 0 && v.size % 8 === 0));

/**
 * The GPU path's tiled kernels (attention.wgsl): a row per thread, the other side staged in
 * workgroup memory. Used for training and prefill shapes; a single query row per sequence
 * (decoding) keeps the one-workgroup-per-row kernels, which spread one row over 64 threads.
 */
const TILED_MIN_ROWS = 16;
const TILED_MAX_HD = 64;
const TILE4 = 256;
const tiled = (vec4: boolean, hd: number, rows: number) => vec4 && hd <= TILED_MAX_HD && rows >= TILED_MIN_ROWS;
/** Rows per staged chunk: as many as fit TILE4 vec4 (and the 64-entry staging of dk/dv). */
const tileRows = (hd: number) => Math.min(WG, TILE4 / (hd / 4));

/** A grid of RT-thread workgroups with one thread per row. */
const rowGrid = (s: CommandStream, rows: number) => grid1d(rows, RT, s.gpu.limits.maxComputeWorkgroupsPerDimension);

function uniforms(sh: AttentionShape, kLen: number) {
  return ATTENTION_PARAMS.values({
    B: sh.B,
    Tq: sh.Tq,
    Tk: sh.Tk,
    H: sh.H,
    KVH: sh.KVH,
    hd: sh.hd,
    causal: sh.causal ? 1 : 0,
    kLen,
    scale: 1 / Math.sqrt(sh.hd),
    n: 0,
    W: 0,
    Tn: 0,
    Cap: 0,
    pos0: 0,
    copies: 0,
    gaps: sh.gaps ? 1 : 0,
  });
}

/**
 * o[b,i,h,:] = Σ_j softmax_j(q·k_j * scale) v_j over the allowed keys j:
 *  causal:     kStart[b] <= j <= qPos[b*Tq+i]
 *  non-causal: kStart[b] <= j <  kLen
 * qPos: u32 [B*Tq] absolute key index of each query; kStart: u32 [B] first valid key (left padding); kLen: uniform.
 * lse: f32 [B, H, Tq] log-sum-exp of the scaled scores of each query row (saved for backward).
 * A row with no allowed key gets o = 0 and lse = -3e38.
 * k and v may both be f16 (generation's KV cache, attention.wgsl KV_F16); the arithmetic stays f32.
 */
export function attentionForward(
  s: CommandStream,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  o: Tensor,
  lse: Tensor,
  qPos: Tensor,
  kStart: Tensor,
  shape: AttentionShape,
  kLen: number,
): void {
  const K = 'attentionForward';
  checkShape(K, shape, kLen);
  const { B, Tq, Tk, H, KVH, hd } = shape;
  const nq = B * Tq * H * hd,
    nk = B * Tk * KVH * hd,
    ns = B * H * Tq;
  requireTensor(K, q, nq, 'q');
  requireTensor(K, k, nk, 'k', ['f32', 'f16']);
  requireTensor(K, v, nk, 'v', ['f32', 'f16']);
  if (k.dtype !== v.dtype) throw new EngineError(`${K}: k (${k.dtype}) and v (${v.dtype}) must have one dtype`);
  requireTensor(K, o, nq, 'o');
  requireTensor(K, lse, ns, 'lse');
  requireTensor(K, qPos, B * Tq * (shape.gaps ? 3 : 1), 'qPos', 'u32');
  requireTensor(K, kStart, B, 'kStart', 'u32');
  requireDisjoint(K, { q, k, v, o, lse, qPos, kStart });
  const KV_F16 = k.dtype === 'f16' ? 1 : 0;
  const vec4 = vec4Loads(hd, k, v);
  if (s.gpu.rowKernels) {
    // Two query rows per thread where there are two (prefill, training); decoding's one row alone.
    const pairs = vec4 && Tq > 1;
    const entry = pairs ? 'attn_fwd_vec4_pairs_rows' : rowEntry('attn_fwd', vec4);
    s.dispatch({
      label: entry,
      pipeline: pipeline(s, entry, { RT, HDC: hd, KV_F16 }),
      uniforms: uniforms(shape, kLen),
      bindings: [q, k, v, o, lse, qPos, kStart],
      workgroups: rowGrid(s, B * (pairs ? Math.ceil(Tq / 2) : Tq) * H),
    });
    return;
  }
  if (tiled(vec4, hd, Tq)) {
    s.dispatch({
      label: 'attn_fwd_tiled',
      pipeline: pipeline(s, 'attn_fwd_tiled', { WG, HDC: hd, CK: tileRows(hd), KV_F16 }),
      uniforms: uniforms(shape, kLen),
      bindings: [q, k, v, o, lse, qPos, kStart],
      workgroups: [Math.ceil(Tq / WG), H, B],
    });
    return;
  }
  s.dispatch({
    label: 'attn_fwd',
    pipeline: pipeline(s, 'attn_fwd', { WG: chunkThreads(kLen), KV_F16 }),
    uniforms: uniforms(shape, kLen),
    bindings: [q, k, v, o, lse, qPos, kStart],
    workgroups: [Tq, H, B],
  });
}

/**
 * Gradients for training: writes (not accumulates) dq [B,Tq,H,hd], dk, dv [B,Tk,KVH,hd]. Uses lse and
 * recomputes probabilities; needs `scratch` f32 [B, H, Tq] for the row dot products D_i = dO_i·O_i.
 * Needs hd >= 4: dq holds four floats of per-row statistics between the passes.
 */
export function attentionBackward(
  s: CommandStream,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  o: Tensor,
  dO: Tensor,
  lse: Tensor,
  qPos: Tensor,
  kStart: Tensor,
  dq: Tensor,
  dk: Tensor,
  dv: Tensor,
  scratch: Tensor,
  shape: AttentionShape,
  kLen: number,
): void {
  const K = 'attentionBackward';
  checkShape(K, shape, kLen);
  const { B, Tq, Tk, H, KVH, hd } = shape;
  if (hd < 4) throw new EngineError(`${K}: head dim ${hd} is below 4`);
  const nq = B * Tq * H * hd,
    nk = B * Tk * KVH * hd,
    ns = B * H * Tq;
  requireTensor(K, q, nq, 'q');
  requireTensor(K, k, nk, 'k');
  requireTensor(K, v, nk, 'v');
  requireTensor(K, o, nq, 'o');
  requireTensor(K, dO, nq, 'dO');
  requireTensor(K, lse, ns, 'lse');
  requireTensor(K, qPos, B * Tq * (shape.gaps ? 3 : 1), 'qPos', 'u32');
  requireTensor(K, kStart, B, 'kStart', 'u32');
  requireTensor(K, dq, nq, 'dq');
  requireTensor(K, dk, nk, 'dk');
  requireTensor(K, dv, nk, 'dv');
  requireTensor(K, scratch, ns, 'scratch');
  requireDisjoint(K, { q, k, v, o, dO, lse, qPos, kStart, dq, dk, dv, scratch });
  const u = uniforms(shape, kLen);
  const vec4 = vec4Loads(hd, k, v);
  // Binding slots 1..12: q k v o lse qPos kStart dO scratch dq dk dv.
  if (s.gpu.rowKernels) {
    const rows = (entry: string) => pipeline(s, entry, { RT, HDC: hd });
    s.dispatch({
      label: 'attn_bwd_prep_rows',
      pipeline: rows('attn_bwd_prep_rows'),
      uniforms: u,
      bindings: [null, null, null, o, lse, qPos, kStart, dO, scratch, dq],
      workgroups: rowGrid(s, B * Tq * H),
    });
    // The vec4 kernels take two keys (dk/dv) or two query rows (dq) per thread.
    s.dispatch({
      label: rowEntry('attn_bwd_dkdv', vec4),
      pipeline: rows(rowEntry('attn_bwd_dkdv', vec4)),
      uniforms: u,
      bindings: [q, k, v, null, null, null, null, dO, null, dq, dk, dv],
      workgroups: rowGrid(s, B * (vec4 ? Math.ceil(Tk / 2) : Tk) * KVH),
    });
    s.dispatch({
      label: rowEntry('attn_bwd_dq', vec4),
      pipeline: rows(rowEntry('attn_bwd_dq', vec4)),
      uniforms: u,
      bindings: [q, k, v, null, null, null, null, dO, null, dq],
      workgroups: rowGrid(s, B * (vec4 ? Math.ceil(Tq / 2) : Tq) * H),
    });
    return;
  }
  const pipe = (entry: string) => pipeline(s, entry, { WG: chunkThreads(Math.max(Tq, kLen)) });
  if (tiled(vec4, hd, Tq) && Tk >= TILED_MIN_ROWS) {
    // The row statistics one thread per query row, like the tiled kernels that read them: a
    // workgroup per row spent 5% of a GPU-path step on SwiftShader reducing 32 floats.
    s.dispatch({
      label: 'attn_bwd_prep_tiled',
      pipeline: pipeline(s, 'attn_bwd_prep_rows', { RT, HDC: hd }),
      uniforms: u,
      bindings: [null, null, null, o, lse, qPos, kStart, dO, scratch, dq],
      workgroups: rowGrid(s, B * Tq * H),
    });
    const tile = (entry: string) => pipeline(s, entry, { WG, HDC: hd, CK: tileRows(hd) });
    s.dispatch({
      label: 'attn_bwd_dkdv_tiled',
      pipeline: tile('attn_bwd_dkdv_tiled'),
      uniforms: u,
      bindings: [q, k, v, null, null, null, null, dO, null, dq, dk, dv],
      workgroups: [Math.ceil(Tk / WG), KVH, B],
    });
    s.dispatch({
      label: 'attn_bwd_dq_tiled',
      pipeline: tile('attn_bwd_dq_tiled'),
      uniforms: u,
      bindings: [q, k, v, null, null, null, kStart, dO, null, dq],
      workgroups: [Math.ceil(Tq / WG), H, B],
    });
    return;
  }
  s.dispatch({
    label: 'attn_bwd_prep',
    pipeline: pipe('attn_bwd_prep'),
    uniforms: u,
    bindings: [null, null, null, o, lse, qPos, kStart, dO, scratch, dq],
    workgroups: grid1d(B * Tq * H, 1, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
  s.dispatch({
    label: 'attn_bwd_dkdv',
    pipeline: pipe('attn_bwd_dkdv'),
    uniforms: u,
    bindings: [q, k, v, null, null, null, null, dO, null, dq, dk, dv],
    workgroups: [Tk, KVH, B],
  });
  s.dispatch({
    label: 'attn_bwd_dq',
    pipeline: pipe('attn_bwd_dq'),
    uniforms: u,
    bindings: [q, k, v, null, null, null, null, dO, null, dq],
    workgroups: [Tq, H, B],
  });
}

/**
 * cache[b * copies + c, pos0 + t, :] = src[b, t, :] for t < Tn and c < copies; src [B, Tn, W],
 * cache [B * copies, Cap, W] (W = KVH*hd). copies > 1 shares one prefill among the sequences that
 * sample the same prompt. An f16 cache stores the values rounded to f16 (W must be even: one
 * thread writes a pair).
 */
export function kvWrite(s: CommandStream, src: Tensor, cache: Tensor, B: number, Tn: number, Cap: number, W: number, pos0: number, copies = 1): void {
  const K = 'kvWrite';
  for (const [name, n] of Object.entries({ B, Tn, Cap, W, pos0, copies })) {
    if (!isCount(n)) throw new EngineError(`${K}: ${name} = ${n} is not a valid size`);
  }
  if (copies < 1) throw new EngineError(`${K}: copies = ${copies} must be at least 1`);
  if (pos0 + Tn > Cap) throw new EngineError(`${K}: writing ${Tn} rows at ${pos0} overruns the cache capacity ${Cap}`);
  const n = B * Tn * W;
  requireTensor(K, src, n, 'src');
  requireTensor(K, cache, B * copies * Cap * W, 'cache', ['f32', 'f16']);
  requireDisjoint(K, { src, cache });
  const KV_F16 = cache.dtype === 'f16' ? 1 : 0;
  if (KV_F16 && W % 2 !== 0) throw new EngineError(`${K}: an f16 cache needs an even row width, not W = ${W}`);
  if (n === 0) return;
  s.dispatch({
    label: 'kv_write',
    pipeline: pipeline(s, 'kv_write', { WG, KV_F16 }),
    uniforms: ATTENTION_PARAMS.values({
      B,
      Tq: 0,
      Tk: 0,
      H: 0,
      KVH: 0,
      hd: 0,
      causal: 0,
      kLen: 0,
      scale: 0,
      n,
      W,
      Tn,
      Cap,
      pos0,
      copies,
      gaps: 0,
    }),
    bindings: [null, null, null, null, null, null, null, null, null, null, null, null, src, cache],
    workgroups: grid1d(KV_F16 ? n / 2 : n, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
