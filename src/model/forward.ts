// Forward and backward passes of the whole model, one named function per stage in the order data
// flows (llm.c style). No autograd: each backward function is the hand-derived mirror of its forward.
//
//   vision (optional), the lab's:  patches -> patch_embed + pos_embed -> blocks (bidirectional) -> norm
//                       -> projector fc1 -> GELU -> fc2  => image features
//   or Idefics3's (SmolVLM, frozen, forward only): patches -> conv patch embedding + positions
//                       -> SigLIP blocks (LayerNorm, biased attention, GELU-tanh MLP) -> post LayerNorm
//                       -> pixel shuffle -> modality projection  => image features
//   text:  ids -> embed_tokens (image features scattered over <image> positions)
//          -> blocks (causal, RoPE) -> final norm -> lm_head -> logits -> log-probs of targets
//   block: x -> RMSNorm -> q,k,v (+bias) -> RoPE -> attention -> o_proj -> + x
//            -> RMSNorm -> gate, up -> SwiGLU -> down -> + residual

import type { CommandStream } from '../engine/stream';
import type { Tensor } from '../engine/tensor';
import { matmul, sumRows } from '../engine/kernels/matmul';
import { copy, fill } from '../engine/kernels/elementwise';
import { rmsnormForward, rmsnormBackward, layernormForward } from '../engine/kernels/norm';
import { attentionForward, attentionBackward, kvWrite } from '../engine/kernels/attention';
import { rope } from '../engine/kernels/rope';
import { swigluForward, swigluBackward, geluForward, geluBackward } from '../engine/kernels/activation';
import { embeddingForward, embeddingBackward, scatterRows, gatherRows } from '../engine/kernels/embedding';
import { logprobForward, logprobBackward } from '../engine/kernels/crossentropy';
import { addBroadcastRows } from '../engine/kernels/elementwise';
import type { Model } from './model';
import type { Activations } from './activations';
import { imageTokens, patchDim, patchesPerImage, textPrefix } from './config';

interface BlockDims {
  B: number;
  T: number;
  D: number;
  F: number;
  H: number;
  KVH: number;
  hd: number;
  eps: number;
  causal: boolean;
  rope: boolean;
}

const rows = (d: BlockDims) => d.B * d.T;

/**
 * A LoRA adapter on one linear layer: A [r, in], B [out, r], the update scale alpha/r, the saved
 * xa = x·Aᵀ [n, r] of the forward, and (training) the adapter gradients and a scratch [n, r].
 */
interface LoraLink {
  A: Tensor;
  B: Tensor;
  r: number;
  scale: number;
  xa: Tensor;
  dA?: Tensor | null;
  dB?: Tensor | null;
  scratch?: Tensor;
}

/** y = x·Wᵀ (+ b), or y += x·Wᵀ (+ b) with accumulate; plus scale·(x·Aᵀ)·Bᵀ with a LoRA adapter. */
function linear(
  s: CommandStream,
  x: Tensor,
  W: Tensor,
  b: Tensor | null,
  y: Tensor,
  n: number,
  inF: number,
  outF: number,
  accumulate = false,
  lora?: LoraLink,
) {
  matmul(s, x, W, y, { M: n, N: outF, K: inF, transB: true, bias: b ?? undefined, accumulate });
  if (lora) {
    matmul(s, x, lora.A, lora.xa, { M: n, N: lora.r, K: inF, transB: true });
    matmul(s, lora.xa, lora.B, y, { M: n, N: outF, K: lora.r, transB: true, accumulate: true, alpha: lora.scale });
  }
}

/**
 * Gradients of y = x·Wᵀ + b: dx (=, or += with accumulateDx), dW += dyᵀ·x, db += Σ dy; a frozen W
 * (null dW) gets none. With a LoRA adapter (u = x·Aᵀ, y += s·u·Bᵀ): g = s·dy·B, dB += s·dyᵀ·u,
 * dA += gᵀ·x, dx += g·A.
 */
function linearBackward(
  s: CommandStream,
  x: Tensor,
  W: Tensor,
  dy: Tensor,
  dx: Tensor | null,
  dW: Tensor | null,
  db: Tensor | null,
  n: number,
  inF: number,
  outF: number,
  accumulateDx = false,
  lora?: LoraLink,
) {
  if (dx) matmul(s, dy, W, dx, { M: n, N: inF, K: outF, accumulate: accumulateDx });
  if (dW) matmul(s, dy, x, dW, { M: outF, N: inF, K: n, transA: true, accumulate: true });
  if (db) sumRows(s, dy, db, n, outF, true);
  if (lora?.dA && lora.dB && lora.scratch) {
    const { A, B, r, scale, xa, dA, dB, scratch: g } = lora;
    matmul(s, dy, xa, dB, { M: outF, N: r, K: n, transA: true, accumulate: true, alpha: scale });
    matmul(s, dy, B, g, { M: n, N: r, K: outF, alpha: scale });
    matmul(s, g, x, dA, { M: r, N: inF, K: n, transA: true, accumulate: true });
    if (dx) matmul(s, g, A, dx, { M: n, N: inF, K: r, accumulate: true });
  }
}

/** Parameter (or gradient) tensors of one block; `get` maps a full name to a tensor or null when absent. */
function blockTensors(get: (name: string) => Tensor | null, prefix: string) {
  const g = (n: string) => get(prefix + n);
  const lora = (mod: string) => ({ A: g(`${mod}.lora_A.weight`), B: g(`${mod}.lora_B.weight`) });
  return {
    lq: lora('self_attn.q_proj'),
    lk: lora('self_attn.k_proj'),
    lv: lora('self_attn.v_proj'),
    lo: lora('self_attn.o_proj'),
    lg: lora('mlp.gate_proj'),
    lu: lora('mlp.up_proj'),
    ld: lora('mlp.down_proj'),
    ln1: g('input_layernorm.weight')!,
    ln2: g('post_attention_layernorm.weight')!,
    wq: g('self_attn.q_proj.weight')!,
    bq: g('self_attn.q_proj.bias'),
    wk: g('self_attn.k_proj.weight')!,
    bk: g('self_attn.k_proj.bias'),
    wv: g('self_attn.v_proj.weight')!,
    bv: g('self_attn.v_proj.bias'),
    wo: g('self_attn.o_proj.weight')!,
    bo: g('self_attn.o_proj.bias'),
    wg: g('mlp.gate_proj.weight')!,
    bg: g('mlp.gate_proj.bias'),
    wu: g('mlp.up_proj.weight')!,
    bu: g('mlp.up_proj.bias'),
    wd: g('mlp.down_proj.weight')!,
    bd: g('mlp.down_proj.bias'),
  };
}

function paramGetter(m: Model) {
  return (name: string) => m.tensorOrNull(name);
}
/** Gradients of what trains; null for a tensor that is absent or frozen (the base under LoRA). */
function gradGetter(m: Model) {
  return (name: string) => m.gradOrNull(name);
}

interface BlockIO {
  x: Tensor;
  xOut: Tensor;
  saved: (name: string) => Tensor;
  positions: Tensor;
  qpos: Tensor;
  kstart: Tensor;
  invFreq: Tensor;
  /**
   * Generation: this layer's KV cache; new keys/values are written at pos0 and attention reads kLen
   * cached keys. With copies > 1 (a shared prefill) batch row b's keys/values are written to cache
   * rows b*copies .. b*copies+copies-1, and its attention reads the first of them.
   */
  cache?: { k: Tensor; v: Tensor; cap: number; pos0: number; kLen: number; copies?: number };
  /** The model's LoRA rank and update scale (alpha/r), when it has adapters. */
  lora?: { r: number; scale: number };
  /** qpos carries each position's hidden keys (packed shared-prompt rows, Activations.gaps). */
  gaps?: boolean;
}

type BlockWeights = ReturnType<typeof blockTensors>;
const LORA_KEYS = { lq: 'q_proj', lk: 'k_proj', lv: 'v_proj', lo: 'o_proj', lg: 'gate_proj', lu: 'up_proj', ld: 'down_proj' } as const;

/** The adapter of one target in this block, with its saved x·Aᵀ (and, training, its gradients and scratch); none when not adapted. */
function loraLink(w: BlockWeights, key: keyof typeof LORA_KEYS, io: BlockIO, gw?: BlockWeights, scratch?: Tensor): LoraLink | undefined {
  const { A, B } = w[key];
  if (!A || !B || !io.lora) return undefined;
  return { A, B, r: io.lora.r, scale: io.lora.scale, xa: io.saved(`lora.${LORA_KEYS[key]}`), dA: gw?.[key].A, dB: gw?.[key].B, scratch };
}

function blockForward(s: CommandStream, w: BlockWeights, io: BlockIO, d: BlockDims) {
  const n = rows(d);
  const a = io.saved;
  const qw = d.H * d.hd,
    kw = d.KVH * d.hd;
  rmsnormForward(s, io.x, w.ln1, a('ln1'), a('rstd1'), n, d.D, d.eps);
  linear(s, a('ln1'), w.wq, w.bq, a('q'), n, d.D, qw, false, loraLink(w, 'lq', io));
  linear(s, a('ln1'), w.wk, w.bk, a('k'), n, d.D, kw, false, loraLink(w, 'lk', io));
  linear(s, a('ln1'), w.wv, w.bv, a('v'), n, d.D, kw, false, loraLink(w, 'lv', io));
  if (d.rope) {
    rope(s, a('q'), io.positions, io.invFreq, n, d.H, d.hd);
    rope(s, a('k'), io.positions, io.invFreq, n, d.KVH, d.hd);
  }
  if (io.cache) {
    const c = io.cache;
    const copies = c.copies ?? 1;
    kvWrite(s, a('k'), c.k, d.B, d.T, c.cap, kw, c.pos0, copies);
    kvWrite(s, a('v'), c.v, d.B, d.T, c.cap, kw, c.pos0, copies);
    attentionForward(
      s,
      a('q'),
      c.k,
      c.v,
      a('attn'),
      a('lse'),
      io.qpos,
      io.kstart,
      // Row b's cache starts at b*copies*cap: copies*cap is its stride.
      { B: d.B, Tq: d.T, Tk: c.cap * copies, H: d.H, KVH: d.KVH, hd: d.hd, causal: d.causal },
      c.kLen,
    );
  } else {
    attentionForward(
      s,
      a('q'),
      a('k'),
      a('v'),
      a('attn'),
      a('lse'),
      io.qpos,
      io.kstart,
      { B: d.B, Tq: d.T, Tk: d.T, H: d.H, KVH: d.KVH, hd: d.hd, causal: d.causal, gaps: io.gaps },
      d.T,
    );
  }
  // Training keeps the block's input and middle for the backward; inference (io.x === io.xOut, one
  // residual buffer) adds both branches in place and saves the two copies, a tenth of a decode
  // step's dispatches.
  const inPlace = io.x === io.xOut;
  const xmid = inPlace ? io.x : a('xmid');
  if (!inPlace) copy(s, io.x, xmid, n * d.D);
  linear(s, a('attn'), w.wo, w.bo, xmid, n, qw, d.D, true, loraLink(w, 'lo', io));
  rmsnormForward(s, xmid, w.ln2, a('ln2'), a('rstd2'), n, d.D, d.eps);
  linear(s, a('ln2'), w.wg, w.bg, a('gate'), n, d.D, d.F, false, loraLink(w, 'lg', io));
  linear(s, a('ln2'), w.wu, w.bu, a('up'), n, d.D, d.F, false, loraLink(w, 'lu', io));
  swigluForward(s, a('gate'), a('up'), a('h'), n * d.F);
  if (!inPlace) copy(s, xmid, io.xOut, n * d.D);
  linear(s, a('h'), w.wd, w.bd, io.xOut, n, d.F, d.D, true, loraLink(w, 'ld', io));
}

/**
 * Backward through one block. On entry `sc('dx')` holds dL/d(block output); on exit it holds
 * dL/d(block input). Parameter gradients are accumulated into `gw`.
 */
function blockBackward(s: CommandStream, w: BlockWeights, gw: BlockWeights, io: BlockIO, sc: (name: string) => Tensor, d: BlockDims) {
  const n = rows(d);
  const a = io.saved;
  const qw = d.H * d.hd,
    kw = d.KVH * d.hd;
  const dx = sc('dx');
  const ll = (key: keyof typeof LORA_KEYS) => loraLink(w, key, io, gw, io.lora ? sc('lora') : undefined);
  // MLP: out = xmid + down(swiglu(gate(ln2), up(ln2)))
  linearBackward(s, a('h'), w.wd, dx, sc('dh'), gw.wd, gw.bd, n, d.F, d.D, false, ll('ld'));
  swigluBackward(s, a('gate'), a('up'), sc('dh'), sc('dgate'), sc('dup'), n * d.F);
  linearBackward(s, a('ln2'), w.wg, sc('dgate'), sc('dln'), gw.wg, gw.bg, n, d.D, d.F, false, ll('lg'));
  linearBackward(s, a('ln2'), w.wu, sc('dup'), sc('dln'), gw.wu, gw.bu, n, d.D, d.F, true, ll('lu'));
  rmsnormBackward(s, a('xmid'), w.ln2, a('rstd2'), sc('dln'), dx, gw.ln2, n, d.D, true);
  // Attention: xmid = x + o_proj(attention(rope(q), rope(k), v))
  linearBackward(s, a('attn'), w.wo, dx, sc('dattn'), gw.wo, gw.bo, n, qw, d.D, false, ll('lo'));
  attentionBackward(
    s,
    a('q'),
    a('k'),
    a('v'),
    a('attn'),
    sc('dattn'),
    a('lse'),
    io.qpos,
    io.kstart,
    sc('dq'),
    sc('dk'),
    sc('dv'),
    sc('dscratch'),
    { B: d.B, Tq: d.T, Tk: d.T, H: d.H, KVH: d.KVH, hd: d.hd, causal: d.causal, gaps: io.gaps },
    d.T,
  );
  if (d.rope) {
    rope(s, sc('dq'), io.positions, io.invFreq, n, d.H, d.hd, true);
    rope(s, sc('dk'), io.positions, io.invFreq, n, d.KVH, d.hd, true);
  }
  linearBackward(s, a('ln1'), w.wq, sc('dq'), sc('dln'), gw.wq, gw.bq, n, d.D, qw, false, ll('lq'));
  linearBackward(s, a('ln1'), w.wk, sc('dk'), sc('dln'), gw.wk, gw.bk, n, d.D, kw, true, ll('lk'));
  linearBackward(s, a('ln1'), w.wv, sc('dv'), sc('dln'), gw.wv, gw.bv, n, d.D, kw, true, ll('lv'));
  rmsnormBackward(s, io.x, w.ln1, a('rstd1'), sc('dln'), dx, gw.ln1, n, d.D, true);
}

function textDims(m: Model, acts: Activations): BlockDims {
  const t = m.cfg.text;
  return {
    B: acts.shape.B,
    T: acts.shape.T,
    D: t.hiddenSize,
    F: t.intermediateSize,
    H: t.numHeads,
    KVH: t.numKvHeads,
    hd: t.headDim,
    eps: t.rmsNormEps,
    causal: true,
    rope: true,
  };
}

function visionDims(m: Model, acts: Activations): BlockDims {
  const v = m.cfg.vision!;
  return {
    B: acts.shape.nImages,
    T: patchesPerImage(v),
    D: v.hiddenSize,
    F: v.intermediateSize,
    H: v.numHeads,
    KVH: v.numHeads,
    hd: v.hiddenSize / v.numHeads,
    eps: v.rmsNormEps,
    causal: false,
    rope: false,
  };
}

// ---------------------------------------------------------------------------------------------
// Vision encoder

export function visionForward(s: CommandStream, m: Model, acts: Activations) {
  const v = m.cfg.vision!;
  const d = visionDims(m, acts);
  const n = rows(d);
  const D = m.cfg.text.hiddenSize;
  const P = patchesPerImage(v);
  const x0 = acts.x('vx', 0);
  linear(s, acts.get('img.patches'), m.p('vision.patch_embed.weight'), m.p('vision.patch_embed.bias'), x0, n, patchDim(v), d.D);
  addBroadcastRows(s, m.p('vision.pos_embed'), x0, P * d.D, n * d.D);
  const pg = paramGetter(m);
  for (let l = 0; l < v.numLayers; l++) {
    blockForward(
      s,
      blockTensors(pg, `vision.layers.${l}.`),
      {
        x: acts.x('vx', l),
        xOut: acts.x('vx', l + 1),
        saved: (k) => acts.layer('V', l, k),
        positions: acts.get('img.qpos'),
        qpos: acts.get('img.qpos'),
        kstart: acts.get('img.kstart'),
        invFreq: m.consts.get('rope.inv_freq'),
      },
      d,
    );
  }
  const xl = acts.x('vx', v.numLayers);
  rmsnormForward(s, xl, m.p('vision.norm.weight'), acts.get('vnorm'), acts.get('vrstd'), n, d.D, d.eps);
  linear(s, acts.get('vnorm'), m.p('vision.projector.fc1.weight'), m.p('vision.projector.fc1.bias'), acts.get('proj1'), n, d.D, D);
  geluForward(s, acts.get('proj1'), acts.get('proj1act'), n * D);
  linear(s, acts.get('proj1act'), m.p('vision.projector.fc2.weight'), m.p('vision.projector.fc2.bias'), acts.get('feats'), n, D, D);
}

/** Needs acts 'dfeats' = dL/d(image features). */
export function visionBackward(s: CommandStream, m: Model, acts: Activations) {
  const v = m.cfg.vision!;
  const d = visionDims(m, acts);
  const n = rows(d);
  const D = m.cfg.text.hiddenSize;
  const P = patchesPerImage(v);
  const sc = (k: string) => acts.get(`vg.${k}`);
  const dx = sc('dx');
  linearBackward(
    s,
    acts.get('proj1act'),
    m.p('vision.projector.fc2.weight'),
    acts.get('dfeats'),
    acts.get('dproj'),
    m.g('vision.projector.fc2.weight'),
    m.g('vision.projector.fc2.bias'),
    n,
    D,
    D,
  );
  // GELU backward into dfeats' storage (free now) to avoid aliasing its input.
  geluBackward(s, acts.get('proj1'), acts.get('dproj'), acts.get('dfeats'), n * D);
  linearBackward(
    s,
    acts.get('vnorm'),
    m.p('vision.projector.fc1.weight'),
    acts.get('dfeats'),
    sc('dln'),
    m.g('vision.projector.fc1.weight'),
    m.g('vision.projector.fc1.bias'),
    n,
    d.D,
    D,
  );
  rmsnormBackward(s, acts.x('vx', v.numLayers), m.p('vision.norm.weight'), acts.get('vrstd'), sc('dln'), dx, m.g('vision.norm.weight'), n, d.D);
  const pg = paramGetter(m),
    gg = gradGetter(m);
  for (let l = v.numLayers - 1; l >= 0; l--) {
    blockBackward(
      s,
      blockTensors(pg, `vision.layers.${l}.`),
      blockTensors(gg, `vision.layers.${l}.`),
      {
        x: acts.x('vx', l),
        xOut: acts.x('vx', l + 1),
        saved: (k) => acts.layer('V', l, k),
        positions: acts.get('img.qpos'),
        qpos: acts.get('img.qpos'),
        kstart: acts.get('img.kstart'),
        invFreq: m.consts.get('rope.inv_freq'),
      },
      sc,
      d,
    );
  }
  // x0 = patches·Wᵀ + b + pos_embed (broadcast over images)
  sumRows(s, dx, m.g('vision.pos_embed'), n / P, P * d.D, true);
  linearBackward(
    s,
    acts.get('img.patches'),
    m.p('vision.patch_embed.weight'),
    dx,
    null,
    m.g('vision.patch_embed.weight'),
    m.g('vision.patch_embed.bias'),
    n,
    patchDim(v),
    d.D,
  );
}

// ---------------------------------------------------------------------------------------------
// Idefics3's vision tower and connector (SmolVLM), after transformers' Idefics3VisionTransformer
// and Idefics3Connector. It is frozen, so it runs forward only and one layer's buffers serve all.

export function idefics3VisionForward(s: CommandStream, m: Model, acts: Activations) {
  const v = m.cfg.idefics3!;
  const P = patchesPerImage(v);
  const nImages = acts.shape.nImages;
  const n = nImages * P;
  const d = v.hiddenSize;
  const hd = d / v.numHeads;
  const a = (k: string) => acts.get(`S.${k}`);
  const w = (k: string) => m.p(`model.vision_model.${k}`);
  const x = a('x');
  // The conv patch embedding is a matmul: weight [d, C, p, p] is [d, C·p·p] row-major, and each
  // patch vector is laid out (channel, row, column) to match (patches.ts idefics3Patches).
  linear(s, acts.get('img.patches'), w('embeddings.patch_embedding.weight'), w('embeddings.patch_embedding.bias'), x, n, patchDim(v), d);
  // A full tile's position ids are 0..P-1 (the processor pads every tile to image_size).
  addBroadcastRows(s, w('embeddings.position_embedding.weight'), x, P * d, n * d);
  for (let l = 0; l < v.numLayers; l++) {
    const p = (k: string) => w(`encoder.layers.${l}.${k}`);
    layernormForward(s, x, p('layer_norm1.weight'), p('layer_norm1.bias'), a('ln'), a('rstd'), n, d, v.layerNormEps);
    linear(s, a('ln'), p('self_attn.q_proj.weight'), p('self_attn.q_proj.bias'), a('q'), n, d, d);
    linear(s, a('ln'), p('self_attn.k_proj.weight'), p('self_attn.k_proj.bias'), a('k'), n, d, d);
    linear(s, a('ln'), p('self_attn.v_proj.weight'), p('self_attn.v_proj.bias'), a('v'), n, d, d);
    attentionForward(
      s,
      a('q'),
      a('k'),
      a('v'),
      a('attn'),
      a('lse'),
      acts.get('img.qpos'),
      acts.get('img.kstart'),
      { B: nImages, Tq: P, Tk: P, H: v.numHeads, KVH: v.numHeads, hd, causal: false },
      P,
    );
    linear(s, a('attn'), p('self_attn.out_proj.weight'), p('self_attn.out_proj.bias'), x, n, d, d, true);
    layernormForward(s, x, p('layer_norm2.weight'), p('layer_norm2.bias'), a('ln'), a('rstd'), n, d, v.layerNormEps);
    linear(s, a('ln'), p('mlp.fc1.weight'), p('mlp.fc1.bias'), a('fc1'), n, d, v.intermediateSize);
    geluForward(s, a('fc1'), a('act'), n * v.intermediateSize);
    linear(s, a('act'), p('mlp.fc2.weight'), p('mlp.fc2.bias'), x, n, v.intermediateSize, d, true);
  }
  layernormForward(s, x, w('post_layernorm.weight'), w('post_layernorm.bias'), a('ln'), a('rstd'), n, d, v.layerNormEps);
  // Pixel shuffle: a permutation of the [n, d] rows (pixelShuffleIndex), after which each run of
  // s^2 rows is one token of s^2·d features.
  gatherRows(s, a('ln'), acts.get('img.shuffle'), a('shuffled'), n, d);
  const tokens = nImages * imageTokens(m.cfg);
  const width = d * v.scaleFactor ** 2;
  linear(s, a('shuffled'), m.p('model.connector.modality_projection.proj.weight'), null, acts.get('feats'), tokens, width, m.cfg.text.hiddenSize);
}

/**
 * The rows of a tile's [P, d] patch features in pixel-shuffle order (Idefics3Connector.pixel_shuffle):
 * output token t = R·(G/s) + C (G = patches per side) is the s x s block of patches whose top-left
 * is (R·s, C·s), its features ordered (block row rr, block column cc, feature): row t·s² + rr·s + cc
 * of the permuted [P, d] matrix is patch (R·s + rr)·G + C·s + cc.
 */
export function pixelShuffleIndex(grid: number, s: number, nImages = 1): Uint32Array {
  const P = grid * grid;
  const out = new Uint32Array(nImages * P);
  const G = grid / s;
  let o = 0;
  for (let i = 0; i < nImages; i++) {
    for (let R = 0; R < G; R++) {
      for (let C = 0; C < G; C++) {
        for (let rr = 0; rr < s; rr++) for (let cc = 0; cc < s; cc++) out[o++] = i * P + (R * s + rr) * grid + C * s + cc;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Text decoder

export interface TextForwardOptions {
  /** Token ids to embed (default: the arena's 'ids'); decoding passes a row of the sampled-token history. */
  ids?: Tensor;
  /** Positions (RoPE) and query key-indices (attention mask) when not the arena's own. */
  positions?: Tensor;
  qpos?: Tensor;
  /**
   * Generation: per-layer caches, the cache index of this batch's first token, the keys visible,
   * and (shared prefill) how many cache rows each batch row fills.
   */
  cache?: { k: (l: number) => Tensor; v: (l: number) => Tensor; cap: number; pos0: number; kLen: number; copies?: number };
  /**
   * Which rows get logits: every position ('all', the default), only the loss rows uploadBatch
   * found (positions with a target, compacted: row r is position loss.index[r]), or none (stop
   * after the final norm). Training wants 'loss': the recipe's sequences are mostly prompt, whose
   * rows carry no loss, and the head is the widest product of a small model.
   */
  logits?: 'all' | 'loss' | 'none';
}

/** Embeddings, blocks, final norm and the logits of the rows `o.logits` names (every position by default). */
export function textForward(s: CommandStream, m: Model, acts: Activations, o: TextForwardOptions = {}) {
  const t = m.cfg.text;
  const d = textDims(m, acts);
  const n = rows(d);
  const x0 = acts.x('x', 0);
  const tp = textPrefix(m.cfg);
  embeddingForward(s, o.ids ?? acts.get('ids'), m.p(`${tp}embed_tokens.weight`), x0, n, d.D, t.vocabSize);
  if (acts.shape.nImages > 0 && (m.cfg.vision || m.cfg.idefics3)) {
    if (m.cfg.idefics3) idefics3VisionForward(s, m, acts);
    else visionForward(s, m, acts);
    scatterRows(s, acts.get('feats'), acts.get('img.index'), x0, acts.shape.nImages * imageTokens(m.cfg), d.D);
  }
  const pg = paramGetter(m);
  const c = o.cache;
  for (let l = 0; l < t.numLayers; l++) {
    blockForward(
      s,
      blockTensors(pg, `${tp}layers.${l}.`),
      {
        x: acts.x('x', l),
        xOut: acts.x('x', l + 1),
        saved: (k) => acts.layer('L', l, k),
        positions: o.positions ?? acts.get('positions'),
        qpos: o.qpos ?? acts.get('qpos'),
        kstart: acts.get('kstart'),
        invFreq: m.consts.get('rope.inv_freq'),
        cache: c ? { k: c.k(l), v: c.v(l), cap: c.cap, pos0: c.pos0, kLen: c.kLen, copies: c.copies } : undefined,
        lora: loraScale(m),
        gaps: acts.gaps,
      },
      d,
    );
  }
  rmsnormForward(s, acts.x('x', t.numLayers), m.p(`${tp}norm.weight`), acts.get('lnf'), acts.get('rstdf'), n, d.D, d.eps);
  const which = o.logits ?? 'all';
  if (which !== 'none') acts.reserveLogits(s, which === 'all' ? n : acts.lossRows);
  if (which === 'all') linear(s, acts.get('lnf'), m.p(m.headName), null, acts.get('logits'), n, d.D, t.vocabSize);
  else if (which === 'loss' && acts.lossRows > 0)
    headRows(s, m, acts.get('lnf'), acts.get('loss.index'), acts.get('loss.x'), acts.get('logits'), acts.lossRows);
  acts.logitRows = which === 'loss' ? 'loss' : 'all';
}

/** logits[r] = lm_head(lnf[rowIndex[r]]) for r < count: logits of chosen rows only (the last prompt token). */
export function headRows(s: CommandStream, m: Model, lnf: Tensor, rowIndex: Tensor, gathered: Tensor, logits: Tensor, count: number) {
  const D = m.cfg.text.hiddenSize;
  gatherRows(s, lnf, rowIndex, gathered, count, D);
  linear(s, gathered, m.p(m.headName), null, logits, count, D, m.cfg.text.vocabSize);
}

/** logp[n] = log p(targets[n]) at temperature 1/invTemp, and the entropy per position. */
export function logprobs(s: CommandStream, m: Model, acts: Activations, invTemp = 1) {
  const V = m.cfg.text.vocabSize;
  const logp = acts.get('logp'),
    entropy = acts.get('entropy');
  if (acts.logitRows === 'all') {
    logprobForward(s, acts.get('logits'), acts.get('targets'), logp, entropy, acts.N, V, invTemp);
    return;
  }
  // Loss rows: computed compacted, scattered back to their positions (every other position is 0, as an ignored row's is).
  fill(s, logp, 0, acts.N);
  fill(s, entropy, 0, acts.N);
  const R = acts.lossRows;
  if (R === 0) return;
  logprobForward(s, acts.get('logits'), acts.get('loss.targets'), acts.get('loss.logp'), acts.get('loss.entropy'), R, V, invTemp);
  scatterRows(s, acts.get('loss.logp'), acts.get('loss.index'), logp, R, 1);
  scatterRows(s, acts.get('loss.entropy'), acts.get('loss.index'), entropy, R, 1);
}

/**
 * The head's backward into dln (the gradient at the final norm's output): from every row's logits,
 * or (logits: 'loss') from the loss rows' only, whose gradient rows are scattered back to their
 * positions; every other position's is zero, as it is on the full path.
 */
function headBackward(s: CommandStream, m: Model, acts: Activations, dln: Tensor, scratch: Tensor, invTemp: number) {
  const D = m.cfg.text.hiddenSize,
    V = m.cfg.text.vocabSize;
  const W = m.p(m.headName),
    dW = m.gradOrNull(m.headName);
  // The gradient is written over the logits (nothing reads them after the log-probs): one [rows, V] buffer, not two.
  const logits = acts.get('logits');
  if (acts.logitRows === 'all') {
    logprobBackward(s, logits, acts.get('targets'), acts.get('coef'), logits, acts.N, V, invTemp);
    linearBackward(s, acts.get('lnf'), W, logits, dln, dW, null, acts.N, D, V);
    return;
  }
  fill(s, dln, 0, acts.N * D);
  const R = acts.lossRows;
  if (R === 0) return;
  const index = acts.get('loss.index');
  gatherRows(s, acts.get('coef'), index, acts.get('loss.coef'), R, 1);
  logprobBackward(s, logits, acts.get('loss.targets'), acts.get('loss.coef'), logits, R, V, invTemp);
  linearBackward(s, acts.get('loss.x'), W, logits, scratch, dW, null, R, D, V);
  scatterRows(s, scratch, index, dln, R, D);
}

/**
 * Backward from the loss L = -Σ_n coef[n]... precisely: the gradient of Σ_n coef[n]·logp[n], so
 * coef = -1/count gives the mean negative log-likelihood. Accumulates every parameter gradient.
 */
export function textBackward(s: CommandStream, m: Model, acts: Activations, invTemp = 1) {
  const t = m.cfg.text;
  const d = textDims(m, acts);
  const n = rows(d);
  const sc = (k: string) => acts.get(`g.${k}`);
  const dx = sc('dx');
  // dx is free until the final norm's backward writes it: the compacted head gradient passes through it.
  headBackward(s, m, acts, sc('dln'), dx, invTemp);
  const tp = textPrefix(m.cfg);
  rmsnormBackward(s, acts.x('x', t.numLayers), m.p(`${tp}norm.weight`), acts.get('rstdf'), sc('dln'), dx, m.gradOrNull(`${tp}norm.weight`), n, d.D);
  const pg = paramGetter(m),
    gg = gradGetter(m);
  for (let l = t.numLayers - 1; l >= 0; l--) {
    const w = blockTensors(pg, `${tp}layers.${l}.`);
    const io: BlockIO = {
      x: acts.x('x', l),
      xOut: acts.x('x', l + 1),
      saved: (k) => acts.layer('L', l, k),
      positions: acts.get('positions'),
      qpos: acts.get('qpos'),
      kstart: acts.get('kstart'),
      invFreq: m.consts.get('rope.inv_freq'),
      lora: loraScale(m),
      gaps: acts.gaps,
    };
    // Checkpointing: the shared buffers hold the top block's tensors from the forward; every other
    // block is run again from its kept input (the kernels are deterministic, so the recomputed
    // tensors, and x[l + 1] rewritten on the way, are bit for bit what the forward made).
    if (acts.shape.checkpoint && l < t.numLayers - 1) blockForward(s, w, io, d);
    blockBackward(s, w, blockTensors(gg, `${tp}layers.${l}.`), io, sc, d);
  }
  // Under LoRA the embeddings and the vision encoder are frozen (Idefics3's always is): nothing below needs a gradient.
  const embGrad = m.gradOrNull(`${tp}embed_tokens.weight`);
  if (embGrad) embeddingBackward(s, dx, embGrad, acts.get('emb.rows'), acts.get('emb.starts'), acts.get('emb.positions'), acts.embRows, d.D);
  if (m.cfg.vision && acts.shape.nImages > 0 && m.gradOrNull('vision.patch_embed.weight')) {
    gatherRows(s, dx, acts.get('img.index'), acts.get('dfeats'), acts.shape.nImages * patchesPerImage(m.cfg.vision), d.D);
    visionBackward(s, m, acts);
  }
}

/** The rank and update scale of the model's adapters, or undefined without LoRA. */
function loraScale(m: Model): { r: number; scale: number } | undefined {
  return m.lora && !m.adaptersOff ? { r: m.lora.rank, scale: m.lora.alpha / m.lora.rank } : undefined;
}

/** Zero every gradient slab (start of an optimizer step). */
export function zeroGrads(s: CommandStream, m: Model) {
  const g = m.grads!;
  for (let i = 0; i < g.slabs.length; i++) fill(s, g.slabTensor(i), 0);
}
