// The model family: a Hugging Face LlamaForCausalLM / Qwen2ForCausalLM text decoder, plus a vision
// encoder whose projected features replace `<image>` placeholder tokens: either the lab's small one
// (trained from scratch), or Idefics3's (SmolVLM: a SigLIP tower and a pixel-shuffle connector,
// loaded from a checkpoint and kept frozen). Parameter names and shapes follow transformers
// exactly, so real checkpoints load, and an exported lab model's text part loads as a LlamaForCausalLM.

import { InputError } from '../engine/errors';
import { HEAD_DIM_MAX, MAX_EXACT } from '../engine/kernels/limits';

export interface TextConfig {
  architecture: 'llama' | 'qwen2';
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on q_proj, k_proj, v_proj (Qwen2: true; Llama: config.attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama with attention_bias only). */
  oBias: boolean;
  /** Bias on gate/up/down_proj (Llama mlp_bias). */
  mlpBias: boolean;
  bosTokenId?: number;
  eosTokenId?: number[];
  padTokenId?: number;
}

export interface VisionConfig {
  imageSize: number;
  patchSize: number;
  channels: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  rmsNormEps: number;
}

/**
 * Idefics3's vision side (Idefics3VisionConfig plus the connector's scale_factor): a SigLIP
 * transformer (conv patch embedding, learned positions, pre-LayerNorm blocks with biased attention
 * and a GELU-tanh MLP, a final LayerNorm), then a pixel shuffle that folds each s x s block of
 * patches into one token of s^2 x hidden features, and a bias-free projection to the text width.
 */
export interface Idefics3VisionConfig {
  imageSize: number;
  patchSize: number;
  channels: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  layerNormEps: number;
  /** The connector's pixel-shuffle factor s. */
  scaleFactor: number;
}

export interface ModelConfig {
  text: TextConfig;
  /** The lab's own vision encoder (trained from scratch)... */
  vision?: VisionConfig;
  /** ...or Idefics3's (SmolVLM), loaded from a checkpoint and frozen. At most one of the two. */
  idefics3?: Idefics3VisionConfig;
  /** Token id of `<image>`; each image (an Idefics3 tile) fills `imageTokens(cfg)` placeholders. */
  imageTokenId?: number;
}

export const patchesPerImage = (v: VisionConfig | Idefics3VisionConfig) => (v.imageSize / v.patchSize) ** 2;
export const patchDim = (v: VisionConfig | Idefics3VisionConfig) => v.channels * v.patchSize * v.patchSize;

/** Whether the model reads images (with either vision encoder). */
export const hasVision = (cfg: ModelConfig) => !!(cfg.vision || cfg.idefics3);

/** Placeholder tokens one image (an Idefics3 tile) fills: its patches, or its patches / s^2 after the pixel shuffle. 0 without vision. */
export function imageTokens(cfg: ModelConfig): number {
  if (cfg.idefics3) return patchesPerImage(cfg.idefics3) / cfg.idefics3.scaleFactor ** 2;
  return cfg.vision ? patchesPerImage(cfg.vision) : 0;
}

/**
 * Where the text decoder's tensors live: `model.` for Llama/Qwen2 checkpoints and lab models,
 * `model.text_model.` inside an Idefics3 checkpoint, whose names the engine keeps as they are so
 * the checkpoint and a PEFT adapter round-trip without renaming.
 */
export const textPrefix = (cfg: ModelConfig) => (cfg.idefics3 ? 'model.text_model.' : 'model.');

/**
 * Weights a frozen base may keep in f16 (Model's frozenF16): those only a matmul's B operand reads,
 * every Linear weight and the untied head. Embeddings (gathered), norms and biases stay f32.
 */
export const isF16Weight = (name: string) => /(^lm_head|_proj|\.proj|\.fc1|\.fc2|patch_embed|patch_embedding)\.weight$/.test(name);

/** Tensors that never train: Idefics3's vision tower and connector (the lab fine-tunes the decoder). */
export const isFrozen = (name: string) => name.startsWith('model.vision_model.') || name.startsWith('model.connector.');

export interface ParamSpec {
  name: string;
  shape: number[];
  /** AdamW weight decay applies (matrices and embeddings; not norms or biases). */
  decay: boolean;
}

/** Tensors of one pre-norm decoder block, HF names under `prefix` (e.g. `model.layers.3.`). */
function blockSpecs(prefix: string, d: number, f: number, h: number, kv: number, hd: number, bias: { qkv: boolean; o: boolean; mlp: boolean }): ParamSpec[] {
  const out: ParamSpec[] = [];
  const lin = (name: string, o: number, i: number, b: boolean) => {
    out.push({ name: `${prefix}${name}.weight`, shape: [o, i], decay: true });
    if (b) out.push({ name: `${prefix}${name}.bias`, shape: [o], decay: false });
  };
  out.push({ name: `${prefix}input_layernorm.weight`, shape: [d], decay: false });
  lin('self_attn.q_proj', h * hd, d, bias.qkv);
  lin('self_attn.k_proj', kv * hd, d, bias.qkv);
  lin('self_attn.v_proj', kv * hd, d, bias.qkv);
  lin('self_attn.o_proj', d, h * hd, bias.o);
  out.push({ name: `${prefix}post_attention_layernorm.weight`, shape: [d], decay: false });
  lin('mlp.gate_proj', f, d, bias.mlp);
  lin('mlp.up_proj', f, d, bias.mlp);
  lin('mlp.down_proj', d, f, bias.mlp);
  return out;
}

/** Every parameter tensor in a fixed order (the order of the contiguous parameter arena). */
export function paramSpecs(cfg: ModelConfig): ParamSpec[] {
  const t = cfg.text;
  const tp = textPrefix(cfg);
  const out: ParamSpec[] = [{ name: `${tp}embed_tokens.weight`, shape: [t.vocabSize, t.hiddenSize], decay: true }];
  for (let l = 0; l < t.numLayers; l++) {
    out.push(
      ...blockSpecs(`${tp}layers.${l}.`, t.hiddenSize, t.intermediateSize, t.numHeads, t.numKvHeads, t.headDim, {
        qkv: t.qkvBias,
        o: t.oBias,
        mlp: t.mlpBias,
      }),
    );
  }
  out.push({ name: `${tp}norm.weight`, shape: [t.hiddenSize], decay: false });
  if (!t.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [t.vocabSize, t.hiddenSize], decay: true });
  if (cfg.vision) out.push(...visionParamSpecs(cfg.vision, t.hiddenSize));
  if (cfg.idefics3) out.push(...idefics3ParamSpecs(cfg.idefics3, t.hiddenSize));
  return out;
}

/** Idefics3's vision tower and connector, under the checkpoint's own names. */
export function idefics3ParamSpecs(v: Idefics3VisionConfig, textHidden: number): ParamSpec[] {
  const d = v.hiddenSize;
  const e = 'model.vision_model.embeddings.';
  const out: ParamSpec[] = [
    { name: `${e}patch_embedding.weight`, shape: [d, v.channels, v.patchSize, v.patchSize], decay: true },
    { name: `${e}patch_embedding.bias`, shape: [d], decay: false },
    { name: `${e}position_embedding.weight`, shape: [patchesPerImage(v), d], decay: false },
  ];
  const lin = (name: string, o: number, i: number) =>
    out.push({ name: `${name}.weight`, shape: [o, i], decay: true }, { name: `${name}.bias`, shape: [o], decay: false });
  const norm = (name: string) => out.push({ name: `${name}.weight`, shape: [d], decay: false }, { name: `${name}.bias`, shape: [d], decay: false });
  for (let l = 0; l < v.numLayers; l++) {
    const p = `model.vision_model.encoder.layers.${l}.`;
    norm(`${p}layer_norm1`);
    for (const x of ['q', 'k', 'v', 'out']) lin(`${p}self_attn.${x}_proj`, d, d);
    norm(`${p}layer_norm2`);
    lin(`${p}mlp.fc1`, v.intermediateSize, d);
    lin(`${p}mlp.fc2`, d, v.intermediateSize);
  }
  norm('model.vision_model.post_layernorm');
  out.push({ name: 'model.connector.modality_projection.proj.weight', shape: [textHidden, d * v.scaleFactor ** 2], decay: true });
  return out;
}

export function visionParamSpecs(v: VisionConfig, textHidden: number): ParamSpec[] {
  const dv = v.hiddenSize;
  const out: ParamSpec[] = [
    { name: 'vision.patch_embed.weight', shape: [dv, patchDim(v)], decay: true },
    { name: 'vision.patch_embed.bias', shape: [dv], decay: false },
    { name: 'vision.pos_embed', shape: [patchesPerImage(v), dv], decay: false },
  ];
  for (let l = 0; l < v.numLayers; l++) {
    out.push(...blockSpecs(`vision.layers.${l}.`, dv, v.intermediateSize, v.numHeads, v.numHeads, dv / v.numHeads, { qkv: false, o: false, mlp: false }));
  }
  out.push(
    { name: 'vision.norm.weight', shape: [dv], decay: false },
    { name: 'vision.projector.fc1.weight', shape: [textHidden, dv], decay: true },
    { name: 'vision.projector.fc1.bias', shape: [textHidden], decay: false },
    { name: 'vision.projector.fc2.weight', shape: [textHidden, textHidden], decay: true },
    { name: 'vision.projector.fc2.bias', shape: [textHidden], decay: false },
  );
  return out;
}

/** Parameters of one block (blockSpecs), in closed form. */
function blockParams(d: number, f: number, h: number, kv: number, hd: number, bias: { qkv: boolean; o: boolean; mlp: boolean }): number {
  const attn = (h + 2 * kv) * hd * (d + (bias.qkv ? 1 : 0)) + d * h * hd + (bias.o ? d : 0);
  const mlp = 3 * f * d + (bias.mlp ? 2 * f + d : 0);
  return 2 * d + attn + mlp;
}

/**
 * Parameters of a model, counted from the config in O(1) (the same tensors as paramSpecs, which
 * lists every layer), so an absurd config (a billion layers) is sized before anything is built.
 */
export function countParams(cfg: ModelConfig): number {
  const t = cfg.text;
  let n =
    t.vocabSize * t.hiddenSize * (t.tieWordEmbeddings ? 1 : 2) +
    t.hiddenSize +
    t.numLayers * blockParams(t.hiddenSize, t.intermediateSize, t.numHeads, t.numKvHeads, t.headDim, { qkv: t.qkvBias, o: t.oBias, mlp: t.mlpBias });
  const v = cfg.vision;
  if (v) {
    const dv = v.hiddenSize,
      d = t.hiddenSize;
    n +=
      dv * patchDim(v) +
      dv +
      patchesPerImage(v) * dv +
      dv +
      (d * dv + d) +
      (d * d + d) +
      v.numLayers * blockParams(dv, v.intermediateSize, v.numHeads, v.numHeads, dv / v.numHeads, { qkv: false, o: false, mlp: false });
  }
  const s = cfg.idefics3;
  if (s) {
    const d = s.hiddenSize;
    const layer = 4 * (d * d + d) + 2 * (s.intermediateSize * d) + s.intermediateSize + d + 4 * d;
    n += d * patchDim(s) + d + patchesPerImage(s) * d + s.numLayers * layer + 2 * d + t.hiddenSize * d * s.scaleFactor ** 2;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Presets: sizes for training from scratch in a tab. Names say the rough parameter count.

function text(vocab: number, d: number, layers: number, heads: number, kv: number, f: number, ctx: number): TextConfig {
  return {
    architecture: 'llama',
    vocabSize: vocab,
    hiddenSize: d,
    intermediateSize: f,
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kv,
    headDim: d / heads,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: ctx,
    tieWordEmbeddings: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
  };
}

function vision(img: number, patch: number, d: number, layers: number, heads: number): VisionConfig {
  return { imageSize: img, patchSize: patch, channels: 1, hiddenSize: d, intermediateSize: d * 2, numLayers: layers, numHeads: heads, rmsNormEps: 1e-5 };
}

export const PRESETS: Record<string, ModelConfig> = {
  /** ~0.3M: tests and the first minute of a demo. */
  micro: { text: text(512, 96, 2, 4, 2, 256, 256), vision: vision(32, 8, 48, 1, 2) },
  /** ~2M: the synth curriculum in minutes on a laptop GPU. */
  tiny: { text: text(1024, 192, 4, 6, 2, 512, 512), vision: vision(48, 8, 96, 2, 4) },
  /** ~8M. */
  small: { text: text(2048, 320, 6, 8, 4, 864, 768), vision: vision(64, 8, 160, 3, 4) },
  /** ~30M. */
  base: { text: text(4096, 512, 8, 8, 4, 1536, 1024), vision: vision(96, 12, 256, 4, 8) },
};

/**
 * Bounds far above any model the engine can train or any checkpoint it loads (Llama 3 405B has
 * 126 layers, hidden 16384, a 128k vocabulary), so a typo or a corrupt config.json is refused at
 * once, before anything is allocated, instead of running out of memory minutes later. head_dim and
 * the context are the kernels' own limits (src/engine/kernels/limits.ts).
 */
export const MODEL_LIMITS = {
  vocabSize: 1 << 22,
  hiddenSize: 1 << 16,
  intermediateSize: 1 << 18,
  numLayers: 1024,
  numHeads: 1024,
  numKvHeads: 1024,
  headDim: HEAD_DIM_MAX,
  maxPositionEmbeddings: MAX_EXACT - 1,
  /** 34 GB of f32 weights, before gradients and AdamW moments. */
  params: 2 ** 33,
  imageSize: 4096,
  channels: 4,
} as const;

/** The config.json name of each field, so a message names the key in the file as well. */
const HF_NAMES: Record<string, string> = {
  vocabSize: 'vocab_size',
  hiddenSize: 'hidden_size',
  intermediateSize: 'intermediate_size',
  numLayers: 'num_hidden_layers',
  numHeads: 'num_attention_heads',
  numKvHeads: 'num_key_value_heads',
  headDim: 'head_dim',
  maxPositionEmbeddings: 'max_position_embeddings',
};

const WHY: Partial<Record<keyof typeof MODEL_LIMITS, string>> = {
  headDim: 'the attention kernels hold a head of at most this many values',
  maxPositionEmbeddings: 'positions must stay exact in f32 (2^24 - 1)',
};

/** Check a config for consistency and size; `where` names the file or preset it came from. O(1): nothing is allocated. */
export function validateConfig(cfg: ModelConfig, where: string): ModelConfig {
  const t = cfg.text;
  const field = (k: string) => (HF_NAMES[k] ? `${k} (${HF_NAMES[k]})` : k);
  const capped = (prefix: string, k: string, v: unknown, cap: number | undefined) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new InputError(where, `${prefix}${field(k)} must be a positive integer, got ${v}`);
    if (cap !== undefined && v > cap) {
      const why = WHY[k as keyof typeof MODEL_LIMITS];
      throw new InputError(
        where,
        `${prefix}${field(k)} is ${v}, above the limit of ${cap}${why ? ` (${why})` : ' (far above any real model: a typo or a damaged config?)'}`,
      );
    }
  };
  const limit = MODEL_LIMITS as Record<string, number>;
  (['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'maxPositionEmbeddings'] as const).forEach((k) =>
    capped('', k, t[k], limit[k]),
  );
  if (t.numHeads % t.numKvHeads !== 0)
    throw new InputError(where, `num_attention_heads (${t.numHeads}) must be a multiple of num_key_value_heads (${t.numKvHeads})`);
  if (t.headDim % 2 !== 0) throw new InputError(where, `head_dim (${t.headDim}) must be even for rotary embeddings`);
  if (!(t.rmsNormEps > 0)) throw new InputError(where, `rms_norm_eps must be > 0, got ${t.rmsNormEps}`);
  // The shape checks both vision encoders share: sizes within the limits, whole patches, whole heads.
  const visionShape = (v: VisionConfig | Idefics3VisionConfig, prefix: string, extra: Record<string, number> = {}) => {
    const vl: Record<string, number> = {
      imageSize: limit.imageSize,
      patchSize: limit.imageSize,
      channels: limit.channels,
      hiddenSize: limit.hiddenSize,
      intermediateSize: limit.intermediateSize,
      numLayers: limit.numLayers,
      numHeads: limit.numHeads,
      ...extra,
    };
    for (const [k, cap] of Object.entries(vl)) capped(prefix, k, (v as unknown as Record<string, unknown>)[k], cap);
    if (v.imageSize % v.patchSize !== 0) throw new InputError(where, `${prefix}image_size ${v.imageSize} is not a multiple of patch_size ${v.patchSize}`);
    if (v.hiddenSize % v.numHeads !== 0) throw new InputError(where, `${prefix}hidden_size ${v.hiddenSize} is not a multiple of num_heads ${v.numHeads}`);
    if (v.hiddenSize / v.numHeads > HEAD_DIM_MAX)
      throw new InputError(
        where,
        `${prefix}head size ${v.hiddenSize / v.numHeads} (hidden_size / num_heads) is above the limit of ${HEAD_DIM_MAX} (${WHY.headDim})`,
      );
    if (cfg.imageTokenId !== undefined && (cfg.imageTokenId < 0 || cfg.imageTokenId >= t.vocabSize)) {
      throw new InputError(where, `image_token_id ${cfg.imageTokenId} is outside the vocabulary (${t.vocabSize})`);
    }
  };
  if (cfg.vision) {
    const v = cfg.vision;
    visionShape(v, 'vision ');
    if (patchesPerImage(v) > t.maxPositionEmbeddings) {
      throw new InputError(
        where,
        `an image fills ${patchesPerImage(v)} tokens ((image_size / patch_size)^2), more than the context of ${t.maxPositionEmbeddings}`,
      );
    }
  }
  if (cfg.idefics3) {
    if (cfg.vision) throw new InputError(where, "a model has one vision encoder: the lab's or Idefics3's, not both");
    const v = cfg.idefics3;
    visionShape(v, 'vision_config ', { scaleFactor: limit.imageSize });
    if (!(v.layerNormEps > 0)) throw new InputError(where, `vision_config layer_norm_eps must be > 0, got ${v.layerNormEps}`);
    const grid = v.imageSize / v.patchSize;
    if (grid % v.scaleFactor !== 0)
      throw new InputError(where, `scale_factor ${v.scaleFactor} does not divide the ${grid} x ${grid} patch grid (image_size / patch_size)`);
    if (cfg.imageTokenId === undefined) throw new InputError(where, 'image_token_id is missing (an Idefics3 model needs its <image> token id)');
  }
  const params = countParams(cfg);
  if (params > MODEL_LIMITS.params) {
    throw new InputError(
      where,
      `${params.toExponential(2)} parameters (${((params * 4) / 1e9).toFixed(0)} GB of f32 weights) is above the limit of ${MODEL_LIMITS.params.toExponential(2)}: ` +
        `hidden_size ${t.hiddenSize}, intermediate_size ${t.intermediateSize}, num_hidden_layers ${t.numLayers}, vocab_size ${t.vocabSize}`,
    );
  }
  return cfg;
}
