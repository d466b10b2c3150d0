// A float64 CPU forward pass of the lab's model, written as plainly as possible from the
// transformers semantics of LlamaForCausalLM / Qwen2ForCausalLM plus the lab's vision encoder.
// It exists only to check the WGSL engine: every loop is the textbook definition, nothing is fused
// or reordered for speed, and all arithmetic is float64 so its own rounding is negligible next to
// the f32 error it is used to judge.

import { type ModelConfig, type VisionConfig, paramSpecs, patchDim, patchesPerImage, textPrefix } from '../../src/model/config';

export type Weights = Map<string, Float32Array>;

export interface ForwardOptions {
  /** Rows of width text.hiddenSize that replace the embeddings of `cfg.imageTokenId` tokens, in
   * row-major (batch, then position) order of those tokens. */
  imageFeatures?: Float64Array;
  /** Per-sequence position ids; 0..T-1 when absent. */
  positionIds?: number[][];
}

function get(weights: Weights, name: string): Float32Array {
  const w = weights.get(name);
  if (!w) throw new Error(`reference: missing weight ${name}`);
  return w;
}

/** Throws if a weight map does not hold exactly the tensors `paramSpecs(cfg)` names, at their sizes. */
export function checkWeights(cfg: ModelConfig, weights: Weights): void {
  for (const s of paramSpecs(cfg)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const w = weights.get(s.name);
    if (!w) throw new Error(`reference: missing weight ${s.name}`);
    if (w.length !== n) throw new Error(`reference: ${s.name} has ${w.length} elements, expected ${n} (${s.shape.join('x')})`);
  }
}

/** y[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for `rows` rows of width d. */
export function rmsNorm(x: Float64Array, rows: number, d: number, w: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[r * d + i] * x[r * d + i];
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = x[r * d + i] * inv * w[i];
  }
  return y;
}

/** y = x·Wᵀ (+ b) with W in Hugging Face [out, in] layout. */
export function linear(x: Float64Array, rows: number, inDim: number, w: ArrayLike<number>, outDim: number, b?: ArrayLike<number>): Float64Array {
  if (w.length !== outDim * inDim) throw new Error(`reference linear: weight has ${w.length} elements, expected ${outDim}x${inDim}`);
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * w[o * inDim + i];
      y[r * outDim + o] = acc;
    }
  }
  return y;
}

export const silu = (x: number) => x / (1 + Math.exp(-x));
export const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

/**
 * Rotary embedding in place on `x` laid out [T, heads, hd], token t at position `positions[t]`.
 * transformers pairs element i with i + hd/2 (rotate_half), not adjacent elements, and uses
 * inv_freq_i = theta^(-2i/hd).
 */
export function applyRope(x: Float64Array, positions: ArrayLike<number>, heads: number, hd: number, theta: number): void {
  const half = hd / 2;
  for (let t = 0; t < positions.length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = positions[t] * Math.pow(theta, -(2 * i) / hd);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const base = (t * heads + h) * hd;
        const a = x[base + i];
        const b = x[base + i + half];
        x[base + i] = a * c - b * s;
        x[base + i + half] = b * c + a * s;
      }
    }
  }
}

/**
 * Scaled dot-product attention for one sequence. q is [T, H, hd]; k and v are [T, KV, hd]; query
 * head h reads key/value head floor(h / (H/KV)), which is what repeat_kv's kv-major expansion gives.
 * Returns [T, H*hd].
 */
export function attention(q: Float64Array, k: Float64Array, v: Float64Array, T: number, H: number, KV: number, hd: number, causal: boolean): Float64Array {
  const rep = H / KV;
  const scale = 1 / Math.sqrt(hd);
  const out = new Float64Array(T * H * hd);
  const p = new Float64Array(T);
  for (let h = 0; h < H; h++) {
    const g = Math.floor(h / rep);
    for (let i = 0; i < T; i++) {
      // Masked keys are left out entirely rather than given -inf, so earlier rows are bit-identical
      // whatever follows them; the causality test relies on that.
      const last = causal ? i : T - 1;
      let max = -Infinity;
      for (let j = 0; j <= last; j++) {
        let s = 0;
        for (let d = 0; d < hd; d++) s += q[(i * H + h) * hd + d] * k[(j * KV + g) * hd + d];
        p[j] = s * scale;
        if (p[j] > max) max = p[j];
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) {
        p[j] = Math.exp(p[j] - max);
        sum += p[j];
      }
      for (let d = 0; d < hd; d++) {
        let acc = 0;
        for (let j = 0; j <= last; j++) acc += p[j] * v[(j * KV + g) * hd + d];
        out[(i * H + h) * hd + d] = acc / sum;
      }
    }
  }
  return out;
}

interface BlockDims {
  d: number;
  f: number;
  H: number;
  KV: number;
  hd: number;
  eps: number;
  /** null: no rotary embedding (the vision encoder). */
  ropeTheta: number | null;
  causal: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
}

/** One pre-norm block on one sequence x [T, d]; returns the new residual stream. */
function block(weights: Weights, prefix: string, x: Float64Array, T: number, positions: ArrayLike<number>, dims: BlockDims): Float64Array {
  const { d, f, H, KV, hd, eps } = dims;
  // Biases follow the config, not whatever the map holds, so a stray or missing bias is an error.
  const bias = (n: string, on: boolean) => (on ? get(weights, `${prefix}${n}.bias`) : undefined);
  const h1 = rmsNorm(x, T, d, get(weights, `${prefix}input_layernorm.weight`), eps);
  const q = linear(h1, T, d, get(weights, `${prefix}self_attn.q_proj.weight`), H * hd, bias('self_attn.q_proj', dims.qkvBias));
  const k = linear(h1, T, d, get(weights, `${prefix}self_attn.k_proj.weight`), KV * hd, bias('self_attn.k_proj', dims.qkvBias));
  const v = linear(h1, T, d, get(weights, `${prefix}self_attn.v_proj.weight`), KV * hd, bias('self_attn.v_proj', dims.qkvBias));
  if (dims.ropeTheta !== null) {
    applyRope(q, positions, H, hd, dims.ropeTheta);
    applyRope(k, positions, KV, hd, dims.ropeTheta);
  }
  const a = attention(q, k, v, T, H, KV, hd, dims.causal);
  const o = linear(a, T, H * hd, get(weights, `${prefix}self_attn.o_proj.weight`), d, bias('self_attn.o_proj', dims.oBias));
  const x2 = new Float64Array(T * d);
  for (let i = 0; i < x2.length; i++) x2[i] = x[i] + o[i];

  const h2 = rmsNorm(x2, T, d, get(weights, `${prefix}post_attention_layernorm.weight`), eps);
  const gate = linear(h2, T, d, get(weights, `${prefix}mlp.gate_proj.weight`), f, bias('mlp.gate_proj', dims.mlpBias));
  const up = linear(h2, T, d, get(weights, `${prefix}mlp.up_proj.weight`), f, bias('mlp.up_proj', dims.mlpBias));
  for (let i = 0; i < gate.length; i++) gate[i] = silu(gate[i]) * up[i];
  const down = linear(gate, T, f, get(weights, `${prefix}mlp.down_proj.weight`), d, bias('mlp.down_proj', dims.mlpBias));
  for (let i = 0; i < x2.length; i++) x2[i] += down[i];
  return x2;
}

/** Token embeddings [B*T, d], with image-token rows replaced by `imageFeatures` when given. */
export function embed(cfg: ModelConfig, weights: Weights, ids: number[][], imageFeatures?: Float64Array): Float64Array {
  const { vocabSize: V, hiddenSize: d } = cfg.text;
  const table = get(weights, `${textPrefix(cfg)}embed_tokens.weight`);
  const B = ids.length;
  const T = B ? ids[0].length : 0;
  const x = new Float64Array(B * T * d);
  let next = 0;
  for (let b = 0; b < B; b++) {
    if (ids[b].length !== T) throw new Error(`reference: sequence ${b} has length ${ids[b].length}, expected ${T}`);
    for (let t = 0; t < T; t++) {
      const id = ids[b][t];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`reference: token id ${id} outside vocabulary ${V}`);
      const row = (b * T + t) * d;
      if (imageFeatures && id === cfg.imageTokenId) {
        if ((next + 1) * d > imageFeatures.length) throw new Error('reference: more image tokens than image feature rows');
        for (let i = 0; i < d; i++) x[row + i] = imageFeatures[next * d + i];
        next++;
      } else {
        for (let i = 0; i < d; i++) x[row + i] = table[id * d + i];
      }
    }
  }
  if (imageFeatures && next * d !== imageFeatures.length) {
    throw new Error(`reference: ${imageFeatures.length / d} image feature rows but ${next} image tokens`);
  }
  return x;
}

/** Final hidden states [B*T, d] (after model.norm) from input embeddings [B*T, d]. */
export function hiddenFromEmbeddings(cfg: ModelConfig, weights: Weights, embeds: Float64Array, B: number, T: number, positionIds?: number[][]): Float64Array {
  const t = cfg.text;
  const d = t.hiddenSize;
  if (embeds.length !== B * T * d) throw new Error(`reference: embeddings have ${embeds.length} values, expected ${B}x${T}x${d}`);
  const dims: BlockDims = {
    d,
    f: t.intermediateSize,
    H: t.numHeads,
    KV: t.numKvHeads,
    hd: t.headDim,
    eps: t.rmsNormEps,
    ropeTheta: t.ropeTheta,
    causal: true,
    qkvBias: t.qkvBias,
    oBias: t.oBias,
    mlpBias: t.mlpBias,
  };
  const out = new Float64Array(B * T * d);
  for (let b = 0; b < B; b++) {
    const positions = positionIds ? positionIds[b] : Array.from({ length: T }, (_, i) => i);
    if (positions.length !== T) throw new Error(`reference: position ids of sequence ${b} have length ${positions.length}, expected ${T}`);
    let x: Float64Array = embeds.slice(b * T * d, (b + 1) * T * d);
    for (let l = 0; l < t.numLayers; l++) x = block(weights, `${textPrefix(cfg)}layers.${l}.`, x, T, positions, dims);
    out.set(rmsNorm(x, T, d, get(weights, `${textPrefix(cfg)}norm.weight`), t.rmsNormEps), b * T * d);
  }
  return out;
}

/** Logits [B, T, V] from input embeddings [B*T, d]. */
export function logitsFromEmbeddings(cfg: ModelConfig, weights: Weights, embeds: Float64Array, B: number, T: number, positionIds?: number[][]): Float64Array {
  const t = cfg.text;
  const h = hiddenFromEmbeddings(cfg, weights, embeds, B, T, positionIds);
  const head = get(weights, t.tieWordEmbeddings ? `${textPrefix(cfg)}embed_tokens.weight` : 'lm_head.weight');
  return linear(h, B * T, t.hiddenSize, head, t.vocabSize);
}

/** Logits [B, T, V] for a batch of equal-length token sequences. */
export function forwardLogits(cfg: ModelConfig, weights: Weights, ids: number[][], opts: ForwardOptions = {}): Float64Array {
  const B = ids.length;
  const T = B ? ids[0].length : 0;
  return logitsFromEmbeddings(cfg, weights, embed(cfg, weights, ids, opts.imageFeatures), B, T, opts.positionIds);
}

/** Index of the largest value; the lowest index wins ties. */
export function argmax(x: ArrayLike<number>, start = 0, n = x.length - start): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[start + i] > x[start + best]) best = i;
  return best;
}

/** The `n` tokens greedy decoding appends to `promptIds` (no EOS stop), recomputing the whole
 * forward each step so there is no KV cache to get wrong. */
export function greedyDecode(cfg: ModelConfig, weights: Weights, promptIds: number[], n: number, opts: { imageFeatures?: Float64Array } = {}): number[] {
  const V = cfg.text.vocabSize;
  const seq = [...promptIds];
  const out: number[] = [];
  for (let s = 0; s < n; s++) {
    const logits = forwardLogits(cfg, weights, [seq], { imageFeatures: opts.imageFeatures });
    const next = argmax(logits, (seq.length - 1) * V, V);
    out.push(next);
    seq.push(next);
  }
  return out;
}

/**
 * The vision path: patches [numImages, numPatches, patchDim] (flat) -> patch_embed + pos_embed ->
 * bidirectional pre-norm blocks (no RoPE) -> vision.norm -> fc1 -> GELU(tanh) -> fc2.
 * Returns [numImages*numPatches, text.hiddenSize], ready to be `imageFeatures`.
 */
export function visionForward(cfg: ModelConfig, weights: Weights, patches: ArrayLike<number>): Float64Array {
  const v: VisionConfig | undefined = cfg.vision;
  if (!v) throw new Error('reference: visionForward needs cfg.vision');
  const P = patchesPerImage(v);
  const pd = patchDim(v);
  const dv = v.hiddenSize;
  const D = cfg.text.hiddenSize;
  if (patches.length === 0 || patches.length % (P * pd) !== 0) {
    throw new Error(`reference: patches have ${patches.length} values, not a multiple of ${P} patches x ${pd}`);
  }
  const numImages = patches.length / (P * pd);
  const dims: BlockDims = {
    d: dv,
    f: v.intermediateSize,
    H: v.numHeads,
    KV: v.numHeads,
    hd: dv / v.numHeads,
    eps: v.rmsNormEps,
    ropeTheta: null,
    causal: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  };
  const pos = get(weights, 'vision.pos_embed');
  const out = new Float64Array(numImages * P * D);
  for (let img = 0; img < numImages; img++) {
    const xin = Float64Array.from({ length: P * pd }, (_, i) => patches[img * P * pd + i]);
    let x = linear(xin, P, pd, get(weights, 'vision.patch_embed.weight'), dv, get(weights, 'vision.patch_embed.bias'));
    for (let i = 0; i < P * dv; i++) x[i] += pos[i];
    for (let l = 0; l < v.numLayers; l++) x = block(weights, `vision.layers.${l}.`, x, P, [], dims);
    x = rmsNorm(x, P, dv, get(weights, 'vision.norm.weight'), v.rmsNormEps);
    const h = linear(x, P, dv, get(weights, 'vision.projector.fc1.weight'), D, get(weights, 'vision.projector.fc1.bias'));
    for (let i = 0; i < h.length; i++) h[i] = geluTanh(h[i]);
    out.set(linear(h, P, D, get(weights, 'vision.projector.fc2.weight'), D, get(weights, 'vision.projector.fc2.bias')), img * P * D);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Idefics3 (SmolVLM): SigLIP vision transformer and the pixel-shuffle connector, written from
// transformers' Idefics3VisionTransformer / Idefics3Connector semantics, independently of the
// engine's patch layout and shuffle table.

/** torch.nn.LayerNorm over rows of width d (biased variance). */
export function layerNorm(x: Float64Array, rows: number, d: number, w: ArrayLike<number>, b: ArrayLike<number>, eps: number): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i];
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[r * d + i] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = (x[r * d + i] - mean) * inv * w[i] + b[i];
  }
  return y;
}

/**
 * Image features [nTiles * P / s^2, textHidden] of tiles [nTiles, C, S, S] (already normalised):
 * Conv2d patch embedding (kernel = stride = patch), + position embedding, SigLIP encoder layers,
 * post_layernorm, pixel shuffle (view/permute/reshape as Idefics3Connector does), projection.
 * Also returns the post-layernorm hidden states [nTiles, P, d].
 */
export function idefics3VisionForward(cfg: ModelConfig, weights: Weights, tiles: ArrayLike<number>): { features: Float64Array; hidden: Float64Array } {
  const v = cfg.idefics3;
  if (!v) throw new Error('reference: not an Idefics3 config');
  const { imageSize: S, patchSize: p, channels: C, hiddenSize: d, numHeads: H, intermediateSize: f, layerNormEps: eps, scaleFactor: sf } = v;
  const G = S / p;
  const P = G * G;
  const n = tiles.length / (C * S * S);
  const vw = (name: string) => get(weights, `model.vision_model.${name}`);
  const conv = vw('embeddings.patch_embedding.weight');
  const convB = vw('embeddings.patch_embedding.bias');
  const pos = vw('embeddings.position_embedding.weight');
  const hidden = new Float64Array(n * P * d);
  const D = cfg.text.hiddenSize;
  const features = new Float64Array((n * P * D) / (sf * sf));
  for (let img = 0; img < n; img++) {
    const x = new Float64Array(P * d);
    // Conv2d: out[o, gy, gx] = b[o] + sum_{c,ky,kx} w[o, c, ky, kx] * in[c, gy*p + ky, gx*p + kx]; flatten(2).transpose(1, 2).
    for (let gy = 0; gy < G; gy++) {
      for (let gx = 0; gx < G; gx++) {
        const t = gy * G + gx;
        for (let o = 0; o < d; o++) {
          let acc = convB[o];
          for (let c = 0; c < C; c++)
            for (let ky = 0; ky < p; ky++)
              for (let kx = 0; kx < p; kx++)
                acc += conv[((o * C + c) * p + ky) * p + kx] * tiles[img * C * S * S + c * S * S + (gy * p + ky) * S + gx * p + kx];
          x[t * d + o] = acc + pos[t * d + o];
        }
      }
    }
    for (let l = 0; l < v.numLayers; l++) {
      const lw = (name: string) => vw(`encoder.layers.${l}.${name}`);
      const h1 = layerNorm(x, P, d, lw('layer_norm1.weight'), lw('layer_norm1.bias'), eps);
      const q = linear(h1, P, d, lw('self_attn.q_proj.weight'), d, lw('self_attn.q_proj.bias'));
      const k = linear(h1, P, d, lw('self_attn.k_proj.weight'), d, lw('self_attn.k_proj.bias'));
      const vv = linear(h1, P, d, lw('self_attn.v_proj.weight'), d, lw('self_attn.v_proj.bias'));
      const a = attention(q, k, vv, P, H, H, d / H, false);
      const o = linear(a, P, d, lw('self_attn.out_proj.weight'), d, lw('self_attn.out_proj.bias'));
      for (let i = 0; i < x.length; i++) x[i] += o[i];
      const h2 = layerNorm(x, P, d, lw('layer_norm2.weight'), lw('layer_norm2.bias'), eps);
      const u = linear(h2, P, d, lw('mlp.fc1.weight'), f, lw('mlp.fc1.bias'));
      for (let i = 0; i < u.length; i++) u[i] = geluTanh(u[i]);
      const m = linear(u, P, f, lw('mlp.fc2.weight'), d, lw('mlp.fc2.bias'));
      for (let i = 0; i < x.length; i++) x[i] += m[i];
    }
    const post = layerNorm(x, P, d, vw('post_layernorm.weight'), vw('post_layernorm.bias'), eps);
    hidden.set(post, img * P * d);
    // pixel_shuffle, step by step: [G, G, d] -view-> [G, G/s, s*d] -permute-> [G/s, G, s*d]
    // -reshape-> [G/s, G/s, s*s*d] -permute-> [G/s, G/s, s*s*d] (rows and columns swapped back).
    const g2 = G / sf;
    const a1 = post; // [h][w][e] viewed as [h][w/s][s*d]: a1[h][W2][k] = post[h][W2*s + k/d][k%d]
    const a2 = new Float64Array(P * d); // permute(0,2,1,3): [W2][h][k]
    for (let h = 0; h < G; h++) for (let w2 = 0; w2 < g2; w2++) for (let k = 0; k < sf * d; k++) a2[(w2 * G + h) * sf * d + k] = a1[(h * g2 + w2) * sf * d + k];
    // reshape [W2][h][k] as [W2][H2][s*s*d]: contiguous, so the same buffer; then permute(0,2,1,3) -> [H2][W2][s*s*d].
    const a3 = new Float64Array(P * d);
    const row = sf * sf * d;
    for (let w2 = 0; w2 < g2; w2++) for (let h2 = 0; h2 < g2; h2++) for (let k = 0; k < row; k++) a3[(h2 * g2 + w2) * row + k] = a2[(w2 * g2 + h2) * row + k];
    const proj = linear(a3, g2 * g2, row, get(weights, 'model.connector.modality_projection.proj.weight'), D);
    features.set(proj, img * g2 * g2 * D);
  }
  return { features, hidden };
}
