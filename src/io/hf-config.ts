// Hugging Face model folders: config.json <-> the lab's ModelConfig, and the safetensors weights
// beside it (one file, or an index plus shards). Real Llama / Qwen2 checkpoints load, and a saved
// lab model's text part loads in transformers as a plain LlamaForCausalLM (or Qwen2ForCausalLM);
// the vision encoder rides along in vision.safetensors and a "thinker" block of config.json, both
// of which transformers ignores.

import { InputError } from '../engine/errors';
import { MODEL_LIMITS, paramSpecs, validateConfig, type ModelConfig, type TextConfig, type VisionConfig } from '../model/config';
import type { Gpu } from '../engine/gpu';
import { checkFits } from '../model/memory';
import { Model, type WeightMap } from '../model/model';
import { encodeJson, joinWhere, readJson, type FileSink, type FileSource } from './files';
import { MemoryWorkspace, type Workspace } from './workspace';
import { firstNonFinite, readSafetensors, writeSafetensors } from './safetensors';

export type { WeightMap };

const ARCHS = {
  llama: { modelType: 'llama', className: 'LlamaForCausalLM' },
  qwen2: { modelType: 'qwen2', className: 'Qwen2ForCausalLM' },
} as const;
const SUPPORTED = 'llama (LlamaForCausalLM), qwen2 (Qwen2ForCausalLM), idefics3 (Idefics3ForConditionalGeneration: SmolVLM)';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v) ?? String(v);

/** Typed field readers: absent or null gives the default; anything else must have the right type. */
function fields(json: Json, where: string, prefix = '') {
  const has = (k: string) => json[k] !== undefined && json[k] !== null;
  const int = (k: string, def?: number, min = 1): number => {
    if (!has(k)) {
      if (def === undefined) throw new InputError(where, `${prefix}${k} is missing`);
      return def;
    }
    const v = json[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw new InputError(where, `${prefix}${k} must be an integer >= ${min}, got ${show(v)}`);
    }
    return v;
  };
  const num = (k: string, def: number, positive = true): number => {
    if (!has(k)) return def;
    const v = json[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && !(v > 0))) {
      throw new InputError(where, `${prefix}${k} must be a ${positive ? 'positive ' : ''}number, got ${show(v)}`);
    }
    return v;
  };
  const bool = (k: string, def: boolean): boolean => {
    if (!has(k)) return def;
    const v = json[k];
    if (typeof v !== 'boolean') throw new InputError(where, `${prefix}${k} must be true or false, got ${show(v)}`);
    return v;
  };
  return { has, int, num, bool };
}

function detectArchitecture(json: Json, where: string): 'llama' | 'qwen2' {
  const mt = json.model_type;
  const archs = json.architectures;
  if (archs !== undefined && archs !== null && (!Array.isArray(archs) || !archs.every((a) => typeof a === 'string'))) {
    throw new InputError(where, `architectures must be a list of class names, got ${show(archs)}`);
  }
  const list = (archs ?? []) as string[];
  if (mt !== undefined && mt !== null && typeof mt !== 'string') throw new InputError(where, `model_type must be a string, got ${show(mt)}`);
  let arch: 'llama' | 'qwen2' | undefined;
  if (typeof mt === 'string') {
    if (mt === 'llama' || mt === 'qwen2') arch = mt;
    else throw new InputError(where, `unsupported architecture: model_type "${mt}"${list.length ? ` (${list.join(', ')})` : ''}; supported: ${SUPPORTED}`);
  } else if (list.length > 0) {
    const hit = (Object.keys(ARCHS) as ('llama' | 'qwen2')[]).find((k) => list.includes(ARCHS[k].className));
    if (!hit) throw new InputError(where, `unsupported architecture: ${list.join(', ')}; supported: ${SUPPORTED}`);
    arch = hit;
  } else {
    throw new InputError(where, `neither model_type nor architectures is set; supported: ${SUPPORTED}`);
  }
  // A classification or bare-model class shares model_type but not the weights this loader expects.
  if (list.length > 0 && !list.includes(ARCHS[arch].className)) {
    throw new InputError(where, `unsupported architecture: ${list.join(', ')} (model_type "${arch}"); supported: ${SUPPORTED}`);
  }
  return arch;
}

function tokenIds(json: Json, where: string, arch: 'llama' | 'qwen2', vocab: number) {
  const check = (k: string, v: number) => {
    if (v >= vocab) throw new InputError(where, `${k} ${v} is outside the vocabulary (vocab_size ${vocab})`);
    return v;
  };
  const one = (k: string, def: number | undefined): number | undefined => {
    if (!(k in json)) return def;
    const v = json[k];
    if (v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new InputError(where, `${k} must be a token id, got ${show(v)}`);
    // Early Llama conversions wrote pad_token_id -1 for "no padding token".
    if (v < 0) {
      if (k === 'pad_token_id' && v === -1) return undefined;
      throw new InputError(where, `${k} must be a token id, got ${v}`);
    }
    return check(k, v);
  };
  // LlamaConfig's own defaults apply when the keys are absent (an explicit null means "none").
  const bos = one('bos_token_id', arch === 'llama' ? 1 : undefined);
  let eos: number[] | undefined;
  if (!('eos_token_id' in json)) eos = arch === 'llama' ? [2] : undefined;
  else if (json.eos_token_id === null) eos = undefined;
  else {
    const v = json.eos_token_id;
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      throw new InputError(where, `eos_token_id must be a token id or a list of them, got ${show(v)}`);
    }
    eos = list.length ? (list as number[]).map((x) => check('eos_token_id', x)) : undefined;
  }
  const pad = one('pad_token_id', undefined);
  return { bos, eos, pad };
}

/** The rope block, whichever key holds it: `rope_scaling` (transformers 4.x) or `rope_parameters` (5.x). */
function ropeBlock(json: Json, where: string): Json | null {
  const r = json.rope_scaling ?? json.rope_parameters ?? null;
  if (r === null) return null;
  if (!isObj(r)) throw new InputError(where, `rope_scaling must be an object or null, got ${show(r)}`);
  // transformers 5 nests rope settings per layer type for mixed-attention models; these models
  // use one rotary embedding for all layers.
  if (Object.values(r).some(isObj)) throw new InputError(where, 'per-layer-type rope_parameters are not supported');
  return r;
}

function ropeTheta(json: Json, where: string): number {
  const r = isObj(json.rope_parameters) ? json.rope_parameters : null;
  if (r && r.rope_theta !== undefined) return fields(r, where, 'rope_parameters.').num('rope_theta', 10000);
  return fields(json, where).num('rope_theta', 10000);
}

/**
 * Rotary inverse frequencies [head_dim/2] for a config.json, including its rope_scaling. "default"
 * (or none), "linear" and "llama3" follow transformers' modeling_rope_utils; each step is rounded
 * to f32 (Math.fround) because transformers computes these in float32 tensors, so the values match
 * to the last bit or two rather than drifting by float64-vs-float32 differences.
 */
export function ropeInvFreqFromConfig(json: unknown, where = 'config.json'): Float32Array {
  if (!isObj(json)) throw new InputError(where, 'config must be a JSON object');
  const f = fields(json, where);
  const heads = f.int('num_attention_heads');
  const hidden = f.int('hidden_size');
  const headDim = f.int('head_dim', Math.floor(hidden / heads));
  const partial = f.num('partial_rotary_factor', 1);
  if (partial !== 1) throw new InputError(where, `partial_rotary_factor ${partial} is not supported (only full rotary embeddings)`);
  if (headDim % 2 !== 0) throw new InputError(where, `head_dim ${headDim} must be even for rotary embeddings`);
  if (headDim > MODEL_LIMITS.headDim) throw new InputError(where, `head_dim ${headDim} is above the limit of ${MODEL_LIMITS.headDim}`);
  const fr = Math.fround;
  const base = fr(ropeTheta(json, where));
  const dim = headDim;
  const inv = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = fr(1 / fr(Math.pow(base, fr(fr(2 * i) / dim))));

  const r = ropeBlock(json, where);
  if (r === null) return inv;
  const type = r.rope_type ?? r.type ?? 'default';
  const rf = fields(r, where, 'rope_scaling.');
  if (type === 'default') return inv;
  if (type === 'linear') {
    const factor = rf.num('factor', NaN);
    if (Number.isNaN(factor)) throw new InputError(where, 'rope_scaling.factor is missing for rope type "linear"');
    for (let i = 0; i < inv.length; i++) inv[i] = fr(inv[i] / fr(factor));
    return inv;
  }
  if (type === 'llama3') {
    for (const k of ['factor', 'low_freq_factor', 'high_freq_factor', 'original_max_position_embeddings']) {
      if (!rf.has(k)) throw new InputError(where, `rope_scaling.${k} is missing for rope type "llama3"`);
    }
    const factor = rf.num('factor', 1);
    const low = rf.num('low_freq_factor', 1);
    const high = rf.num('high_freq_factor', 4);
    const oldCtx = rf.num('original_max_position_embeddings', 8192);
    if (!(high > low)) throw new InputError(where, `rope_scaling.high_freq_factor (${high}) must be greater than low_freq_factor (${low})`);
    const lowWavelen = oldCtx / low,
      highWavelen = oldCtx / high;
    // torch evaluates `scalar / tensor` as `tensor.reciprocal() * scalar`; mirrored here.
    const twoPi = fr(2 * Math.PI);
    for (let i = 0; i < inv.length; i++) {
      const wavelen = fr(fr(1 / inv[i]) * twoPi);
      // Long wavelengths (low frequencies) are slowed by `factor`, short ones kept, and the band
      // between blends the two.
      const scaled = wavelen > lowWavelen ? fr(inv[i] / fr(factor)) : inv[i];
      if (wavelen < highWavelen || wavelen > lowWavelen) {
        inv[i] = scaled;
        continue;
      }
      const smooth = fr(fr(fr(fr(1 / wavelen) * fr(oldCtx)) - fr(low)) / fr(high - low));
      inv[i] = fr(fr(fr(fr(1 - smooth) * scaled) / fr(factor)) + fr(smooth * scaled));
    }
    return inv;
  }
  throw new InputError(where, `rope_scaling type ${show(type)} is not supported (supported: default, linear, llama3)`);
}

function visionFromJson(v: unknown, where: string): VisionConfig {
  if (!isObj(v)) throw new InputError(where, `thinker.vision must be an object, got ${show(v)}`);
  const f = fields(v, where, 'thinker.vision.');
  return {
    imageSize: f.int('image_size'),
    patchSize: f.int('patch_size'),
    channels: f.int('channels'),
    hiddenSize: f.int('hidden_size'),
    intermediateSize: f.int('intermediate_size'),
    numLayers: f.int('num_layers'),
    numHeads: f.int('num_heads'),
    rmsNormEps: f.num('rms_norm_eps', 1e-5),
  };
}

/** Idefics3 (SmolVLM) configs: a Llama text_config and a SigLIP vision_config under one model_type. */
const IDEFICS3 = { modelTypes: ['idefics3', 'smolvlm'], classNames: ['Idefics3ForConditionalGeneration', 'SmolVLMForConditionalGeneration'] };

function isIdefics3Json(json: Json): boolean {
  const archs = Array.isArray(json.architectures) ? json.architectures : [];
  return IDEFICS3.modelTypes.includes(json.model_type as string) || archs.some((a) => IDEFICS3.classNames.includes(a as string));
}

/**
 * The part of a config.json that describes the text decoder: the file itself, or an Idefics3
 * file's text_config (with the top-level token ids it may carry instead), as a Llama config.
 */
export function textConfigJson(json: unknown, where = 'config.json'): Json {
  if (!isObj(json)) throw new InputError(where, 'config must be a JSON object');
  if (!isIdefics3Json(json)) return json;
  const tc = json.text_config;
  if (!isObj(tc)) throw new InputError(where, `text_config must be an object, got ${show(tc)}`);
  if (tc.model_type !== undefined && tc.model_type !== 'llama') {
    throw new InputError(where, `text_config.model_type ${show(tc.model_type)} is not supported (an Idefics3 model's decoder must be llama)`);
  }
  const ids: Json = {};
  for (const k of ['bos_token_id', 'eos_token_id', 'pad_token_id']) if (k in json) ids[k] = json[k];
  // transformers ties the head from the top-level flag when it is set.
  const tie = json.tie_word_embeddings ?? tc.tie_word_embeddings ?? false;
  return { ...ids, ...tc, model_type: 'llama', architectures: undefined, tie_word_embeddings: tie };
}

/** A config.json object (already parsed) as a ModelConfig. `where` names the file in errors. */
export function configFromHfJson(json: unknown, where: string): ModelConfig {
  if (!isObj(json)) throw new InputError(where, 'config must be a JSON object');
  if (isIdefics3Json(json)) return idefics3FromHfJson(json, where);
  const cfg: ModelConfig = { text: textFromHfJson(json, where) };
  if (json.thinker !== undefined && json.thinker !== null) {
    if (!isObj(json.thinker)) throw new InputError(where, `thinker must be an object, got ${show(json.thinker)}`);
    const th = json.thinker;
    if (th.vision !== undefined && th.vision !== null) cfg.vision = visionFromJson(th.vision, where);
    const tf = fields(th, where, 'thinker.');
    if (tf.has('image_token_id')) cfg.imageTokenId = tf.int('image_token_id', undefined, 0);
  }
  // Sizes first (O(1)), then rope_scaling, whose table is head_dim long: an unsupported rope type
  // fails at load, not at the first forward pass.
  validateConfig(cfg, where);
  ropeInvFreqFromConfig(json, where);
  return cfg;
}

function idefics3FromHfJson(json: Json, where: string): ModelConfig {
  const text = textFromHfJson(textConfigJson(json, where), where, 'text_config.');
  const vc = json.vision_config;
  if (!isObj(vc)) throw new InputError(where, `vision_config must be an object, got ${show(vc)}`);
  const f = fields(vc, where, 'vision_config.');
  if (f.has('hidden_act') && vc.hidden_act !== 'gelu_pytorch_tanh') {
    throw new InputError(where, `vision_config.hidden_act ${show(vc.hidden_act)} is not supported (only "gelu_pytorch_tanh", SigLIP's)`);
  }
  const top = fields(json, where);
  // Idefics3VisionConfig's own defaults apply when a key is absent.
  const cfg: ModelConfig = {
    text,
    idefics3: {
      imageSize: f.int('image_size', 224),
      patchSize: f.int('patch_size', 32),
      channels: f.int('num_channels', 3),
      hiddenSize: f.int('hidden_size', 768),
      intermediateSize: f.int('intermediate_size', 3072),
      numLayers: f.int('num_hidden_layers', 12),
      numHeads: f.int('num_attention_heads', 12),
      layerNormEps: f.num('layer_norm_eps', 1e-6),
      scaleFactor: top.int('scale_factor', 2),
    },
    imageTokenId: top.int('image_token_id', 128257, 0),
  };
  validateConfig(cfg, where);
  ropeInvFreqFromConfig(textConfigJson(json, where), where);
  return cfg;
}

/** The decoder of a Llama / Qwen2 config.json (`prefix` names where its keys sit, for errors). */
function textFromHfJson(json: Json, where: string, prefix = ''): TextConfig {
  const arch = detectArchitecture(json, where);
  const f = fields(json, where, prefix);
  if (f.has('hidden_act') && json.hidden_act !== 'silu') {
    throw new InputError(where, `${prefix}hidden_act ${show(json.hidden_act)} is not supported (only "silu")`);
  }
  if (arch === 'qwen2' && f.bool('use_sliding_window', false)) {
    throw new InputError(where, 'use_sliding_window is true; sliding-window attention is not supported');
  }
  const hidden = f.int('hidden_size');
  const heads = f.int('num_attention_heads');
  if (!f.has('head_dim') && hidden % heads !== 0) {
    throw new InputError(where, `${prefix}hidden_size ${hidden} is not a multiple of num_attention_heads ${heads} and head_dim is not given`);
  }
  const attnBias = arch === 'llama' ? f.bool('attention_bias', false) : false;
  const ids = tokenIds(json, where, arch, f.int('vocab_size'));
  const text: TextConfig = {
    architecture: arch,
    vocabSize: f.int('vocab_size'),
    hiddenSize: hidden,
    intermediateSize: f.int('intermediate_size'),
    numLayers: f.int('num_hidden_layers'),
    numHeads: heads,
    numKvHeads: f.int('num_key_value_heads', heads),
    headDim: f.int('head_dim', hidden / heads),
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
    ropeTheta: ropeTheta(json, where),
    maxPositionEmbeddings: f.int('max_position_embeddings', arch === 'llama' ? 2048 : 32768),
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    qkvBias: arch === 'qwen2' ? true : attnBias,
    oBias: arch === 'qwen2' ? false : attnBias,
    mlpBias: arch === 'llama' ? f.bool('mlp_bias', false) : false,
  };
  if (ids.bos !== undefined) text.bosTokenId = ids.bos;
  if (ids.eos !== undefined) text.eosTokenId = ids.eos;
  if (ids.pad !== undefined) text.padTokenId = ids.pad;
  return text;
}

/**
 * A config.json object for a ModelConfig. Llama configs are written as LlamaForCausalLM; Qwen2
 * ones as Qwen2ForCausalLM because Llama cannot express q/k/v bias without o_proj bias. Token ids
 * that are unset are written as null so transformers does not substitute its own defaults.
 */
export function configToHfJson(cfg: ModelConfig, opts: { ropeScaling?: unknown } = {}): Json {
  validateConfig(cfg, 'config to save');
  if (cfg.idefics3) return idefics3ToHfJson(cfg, opts);
  const t = cfg.text;
  if (t.architecture === 'qwen2' && (!t.qkvBias || t.oBias || t.mlpBias)) {
    throw new InputError('config to save', 'a qwen2 model must have q/k/v bias and no o_proj or MLP bias');
  }
  if (t.architecture === 'llama' && t.qkvBias !== t.oBias) {
    throw new InputError('config to save', 'llama attention_bias covers q, k, v and o_proj together; qkvBias and oBias must match');
  }
  const a = ARCHS[t.architecture];
  const out: Json = {
    architectures: [a.className],
    model_type: a.modelType,
    torch_dtype: 'float32',
    vocab_size: t.vocabSize,
    hidden_size: t.hiddenSize,
    intermediate_size: t.intermediateSize,
    num_hidden_layers: t.numLayers,
    num_attention_heads: t.numHeads,
    num_key_value_heads: t.numKvHeads,
    head_dim: t.headDim,
    hidden_act: 'silu',
    rms_norm_eps: t.rmsNormEps,
    rope_theta: t.ropeTheta,
    rope_scaling: opts.ropeScaling ?? null,
    max_position_embeddings: t.maxPositionEmbeddings,
    tie_word_embeddings: t.tieWordEmbeddings,
  };
  if (t.architecture === 'llama') {
    out.attention_bias = t.qkvBias;
    out.mlp_bias = t.mlpBias;
  } else {
    out.use_sliding_window = false;
    out.max_window_layers = t.numLayers;
  }
  Object.assign(out, {
    attention_dropout: 0,
    initializer_range: 0.02,
    use_cache: true,
    bos_token_id: t.bosTokenId ?? null,
    eos_token_id: !t.eosTokenId?.length ? null : t.eosTokenId.length === 1 ? t.eosTokenId[0] : t.eosTokenId.slice(),
    pad_token_id: t.padTokenId ?? null,
  });
  if (cfg.vision || cfg.imageTokenId !== undefined) {
    const th: Json = {};
    if (cfg.vision) {
      const v = cfg.vision;
      th.vision = {
        image_size: v.imageSize,
        patch_size: v.patchSize,
        channels: v.channels,
        hidden_size: v.hiddenSize,
        intermediate_size: v.intermediateSize,
        num_layers: v.numLayers,
        num_heads: v.numHeads,
        rms_norm_eps: v.rmsNormEps,
      };
    }
    if (cfg.imageTokenId !== undefined) th.image_token_id = cfg.imageTokenId;
    out.thinker = th;
  }
  return out;
}

/** An Idefics3 model's config.json: the decoder as text_config, SigLIP as vision_config. */
function idefics3ToHfJson(cfg: ModelConfig, opts: { ropeScaling?: unknown }): Json {
  const v = cfg.idefics3!;
  const text = configToHfJson({ text: cfg.text }, opts);
  delete text.architectures;
  return {
    architectures: [IDEFICS3.classNames[0]],
    model_type: 'idefics3',
    torch_dtype: 'float32',
    image_token_id: cfg.imageTokenId,
    scale_factor: v.scaleFactor,
    tie_word_embeddings: cfg.text.tieWordEmbeddings,
    use_cache: true,
    text_config: text,
    vision_config: {
      model_type: 'idefics3_vision',
      hidden_size: v.hiddenSize,
      intermediate_size: v.intermediateSize,
      num_hidden_layers: v.numLayers,
      num_attention_heads: v.numHeads,
      num_channels: v.channels,
      image_size: v.imageSize,
      patch_size: v.patchSize,
      hidden_act: 'gelu_pytorch_tanh',
      layer_norm_eps: v.layerNormEps,
      attention_dropout: 0,
      initializer_range: 0.02,
    },
  };
}

export function generationConfigJson(cfg: ModelConfig): Json {
  const t = cfg.text;
  const out: Json = { _from_model_config: true };
  if (t.bosTokenId !== undefined) out.bos_token_id = t.bosTokenId;
  if (t.eosTokenId?.length) out.eos_token_id = t.eosTokenId.length === 1 ? t.eosTokenId[0] : t.eosTokenId.slice();
  if (t.padTokenId !== undefined) out.pad_token_id = t.padTokenId;
  return out;
}

const fileForTensor = (name: string) => (name.startsWith('vision.') ? 'vision.safetensors' : 'model.safetensors');

/**
 * Check that every parameter of `cfg` is present with its shape and finite values. `fileOf` says which file a
 * present tensor came from, so errors name the file to fix.
 */
export function checkWeights(cfg: ModelConfig, weights: WeightMap, where: string, fileOf: (name: string) => string = fileForTensor): void {
  for (const p of paramSpecs(cfg)) {
    const w = weights.get(p.name);
    if (!w) {
      const why = p.name === 'lm_head.weight' ? ' (tie_word_embeddings is false in config.json, so the checkpoint needs its own lm_head)' : '';
      throw new InputError(joinWhere(where, fileForTensor(p.name)), `tensor ${p.name} [${p.shape.join(', ')}] is missing${why}`);
    }
    if (w.shape.length !== p.shape.length || w.shape.some((d, i) => d !== p.shape[i])) {
      throw new InputError(
        joinWhere(where, fileOf(p.name)),
        `tensor ${p.name} has shape [${w.shape.join(', ')}] but config.json implies [${p.shape.join(', ')}]`,
      );
    }
    const n = p.shape.reduce((a, b) => a * b, 1);
    if (w.data.length !== n) {
      throw new InputError(joinWhere(where, fileOf(p.name)), `tensor ${p.name} holds ${w.data.length} values for shape [${p.shape.join(', ')}]`);
    }
    // One NaN weight makes every output NaN, and a model that answers nothing looks like a bad model, not a bad file.
    const bad = firstNonFinite(w.data);
    if (bad >= 0) throw new InputError(joinWhere(where, fileOf(p.name)), `tensor ${p.name} holds ${w.data[bad]} (element ${bad}): NaN or infinite weights`);
  }
}

/**
 * Load a model folder: config.json, then model.safetensors or model.safetensors.index.json with
 * its shards, then vision.safetensors when present. Tensors the config does not describe (such as
 * saved rotary inv_freq buffers, or lm_head of a tied model) are dropped.
 */
export async function loadHfFolder(
  src: FileSource,
  where: string = src.name,
  o: {
    /** Runs on the config before any weight is read (e.g. whether the model fits the adapter). */
    checkConfig?: (config: ModelConfig, where: string) => void;
    /** Convert each tensor to f32 when read, never keeping the copy (readSafetensors lazy): for a load straight onto the GPU. */
    lazy?: boolean;
  } = {},
): Promise<{ config: ModelConfig; configJson: Json; weights: WeightMap }> {
  if (!(await src.exists('config.json'))) throw new InputError(where, 'no config.json in this folder');
  const configJson = await readJson(src, 'config.json', where);
  const config = configFromHfJson(configJson, joinWhere(where, 'config.json'));
  o.checkConfig?.(config, where);

  const all: WeightMap = new Map();
  const from = new Map<string, string>();
  const readFile = async (file: string) => {
    const fw = joinWhere(where, file);
    const tensors = readSafetensors(await src.read(file), fw, { lazy: o.lazy });
    for (const [name, t] of tensors) {
      if (all.has(name)) throw new InputError(fw, `tensor ${name} is also in ${from.get(name)}`);
      all.set(name, t);
      from.set(name, file);
    }
  };

  const INDEX = 'model.safetensors.index.json';
  if (await src.exists(INDEX)) {
    const iw = joinWhere(where, INDEX);
    const index = await readJson(src, INDEX, where);
    const map = isObj(index) ? index.weight_map : undefined;
    if (!isObj(map)) throw new InputError(iw, 'weight_map is missing or not an object');
    const shards: string[] = [];
    for (const [name, file] of Object.entries(map)) {
      if (typeof file !== 'string' || file === '') throw new InputError(iw, `weight_map entry for ${name} must be a file name, got ${show(file)}`);
      if (!shards.includes(file)) shards.push(file);
    }
    for (const s of shards) {
      if (!(await src.exists(s))) throw new InputError(joinWhere(where, s), `shard listed in ${INDEX} is missing`);
      await readFile(s);
    }
    for (const [name, file] of Object.entries(map)) {
      if (from.get(name) !== file) {
        throw new InputError(
          joinWhere(where, file as string),
          `${INDEX} puts tensor ${name} in this shard but it is ${from.has(name) ? `in ${from.get(name)}` : 'not there'}`,
        );
      }
    }
  } else if (await src.exists('model.safetensors')) {
    await readFile('model.safetensors');
  } else {
    throw new InputError(where, `no model.safetensors or ${INDEX} in this folder`);
  }
  if (await src.exists('vision.safetensors')) await readFile('vision.safetensors');

  checkWeights(config, all, where, (n) => from.get(n) ?? fileForTensor(n));
  const weights: WeightMap = new Map();
  for (const p of paramSpecs(config)) weights.set(p.name, all.get(p.name)!);
  return { config, configJson: configJson as Json, weights };
}

/**
 * Write a model folder that transformers loads: model.safetensors (every tensor not under
 * "vision."), vision.safetensors (the vision encoder, if any), generation_config.json, any extra
 * files (tokenizer.json, ...), and config.json last, so a folder with a config.json is complete.
 */
export async function saveHfFolder(
  sink: FileSink,
  config: ModelConfig,
  weights: WeightMap,
  extraFiles: Record<string, Uint8Array | string> = {},
  opts: { ropeScaling?: unknown } = {},
): Promise<void> {
  const configJson = configToHfJson(config, opts);
  checkWeights(config, weights, 'weights to save');
  const order = new Map<string, number>(paramSpecs(config).map((p, i) => [p.name, i]));
  const names = [...weights.keys()].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity));
  const pick = (vision: boolean) => names.filter((n) => n.startsWith('vision.') === vision).map((n) => ({ name: n, ...weights.get(n)! }));
  // transformers refuses safetensors files whose metadata lacks format "pt".
  const meta = { format: 'pt' };
  await sink.write('model.safetensors', writeSafetensors(pick(false), meta));
  const vision = pick(true);
  if (vision.length > 0) await sink.write('vision.safetensors', writeSafetensors(vision, meta));
  await sink.write('generation_config.json', encodeJson(generationConfigJson(config)));
  for (const [path, content] of Object.entries(extraFiles)) {
    await sink.write(path, typeof content === 'string' ? new TextEncoder().encode(content) : content);
  }
  await sink.write('config.json', encodeJson(configJson));
}

/**
 * A model folder (a workspace folder, a checkpoint, a picked or Node folder) onto the GPU: the one
 * loader every host uses. The plan is checked against the adapter before any weight is uploaded,
 * and a failed upload releases what it took.
 */
export async function loadModelFolder(gpu: Gpu, src: FileSource, where: string = src.name, o: { frozenF16?: boolean } = {}): Promise<Model> {
  const f16 = o.frozenF16 ?? false;
  // Lazy: each tensor is converted to f32 as it is uploaded, so a BF16/F16 checkpoint never exists in f32 all at once.
  const { config, configJson, weights } = await loadHfFolder(src, where, { checkConfig: (c, w) => checkFits(c, gpu, 'infer', w, null, { f16 }), lazy: true });
  const model = new Model(gpu, config, ropeInvFreqFromConfig(textConfigJson(configJson), joinWhere(where, 'config.json')), { frozenF16: f16 });
  try {
    model.loadWeights(weights, where);
  } catch (e) {
    model.release();
    throw e;
  }
  return model;
}

/** Write a model (config, weights and tokenizer files) as one atomic workspace folder (Workspace.writeFolder). */
export async function writeModelFolder(
  ws: Workspace,
  dir: string,
  cfg: ModelConfig,
  weights: WeightMap,
  extraFiles: Record<string, Uint8Array | string> = {},
): Promise<void> {
  const staged = new MemoryWorkspace(dir);
  await saveHfFolder(staged, cfg, weights, extraFiles);
  await ws.writeFolder(dir, Object.fromEntries(staged.files));
}
