// A model on the GPU: its config, one parameter arena laid out by paramSpecs (the llm.c "one
// contiguous parameter buffer", split into slabs only when it outgrows the adapter's largest
// buffer), and, once training starts, gradient and AdamW-moment arenas of the identical layout.

import type { Gpu } from '../engine/gpu';
import { Arena, download, upload, type Tensor } from '../engine/tensor';
import { InputError } from '../engine/errors';
import { isF16Weight, isFrozen, paramSpecs, textPrefix, type ModelConfig, type ParamSpec } from './config';
import { ropeInvFreq } from '../engine/kernels/rope';
import { checkFits } from './memory';
import { seededRandom } from '../util/random';
import { checkLoraSpec, initLora, loraSpecs, type LoraSpec } from './lora';

export type WeightMap = Map<string, { shape: number[]; data: Float32Array }>;

export class Model {
  readonly specs: ParamSpec[];
  readonly params: Arena;
  /** Constants the kernels read: rotary inverse frequencies. */
  readonly consts: Arena;
  grads: Arena | null = null;
  adamM: Arena | null = null;
  adamV: Arena | null = null;
  /** LoRA adapters on the text decoder (addLora): then only they train, and the base is frozen. */
  lora: LoraSpec | null = null;
  loraParams: Arena | null = null;
  /**
   * While set, forward passes skip the adapters: the model computes its base. LoRA GRPO's KL
   * reference is the start model, which is exactly this, so it needs no second copy of the weights
   * (as PEFT's disable_adapter). Read when a forward is recorded.
   */
  adaptersOff = false;

  /** The base's Linear weights are stored in f16 (isF16Weight): half their memory; the base is then frozen (LoRA or inference). */
  readonly frozenF16: boolean;

  constructor(
    readonly gpu: Gpu,
    readonly cfg: ModelConfig,
    invFreq?: Float32Array,
    o: { frozenF16?: boolean } = {},
  ) {
    this.frozenF16 = o.frozenF16 ?? false;
    checkFits(cfg, gpu, 'infer', 'model', null, { f16: this.frozenF16 });
    this.specs = paramSpecs(cfg);
    const entries = this.specs.map((p) => ({
      name: p.name,
      shape: p.shape,
      dtype: this.frozenF16 && isF16Weight(p.name) ? ('f16' as const) : ('f32' as const),
    }));
    this.params = new Arena(gpu, 'params', entries);
    const hd = cfg.text.headDim;
    this.consts = new Arena(gpu, 'consts', [{ name: 'rope.inv_freq', shape: [hd / 2], dtype: 'f32' }]);
    upload(gpu, this.consts.get('rope.inv_freq'), invFreq ?? ropeInvFreq(cfg.text.ropeTheta, hd));
  }

  p(name: string): Tensor {
    return this.loraParams?.has(name) ? this.loraParams.get(name) : this.params.get(name);
  }
  /** A parameter or adapter tensor, or null when the model has none of that name (a bias it lacks). */
  tensorOrNull(name: string): Tensor | null {
    if (this.params.has(name)) return this.params.get(name);
    return this.loraParams?.has(name) ? this.loraParams.get(name) : null;
  }
  g(name: string): Tensor {
    if (!this.grads) throw new Error('gradients requested before enableTraining()');
    return this.grads.get(name);
  }
  /** The gradient of `name`, or null when it does not train (a frozen base under LoRA). */
  gradOrNull(name: string): Tensor | null {
    return this.grads?.has(name) ? this.grads.get(name) : null;
  }

  /** What the optimizer updates: every parameter but a frozen vision tower (isFrozen), or with LoRA only the adapters. */
  get trainable(): { name: string; shape: number[]; decay: boolean }[] {
    return this.lora ? loraSpecs(this.cfg, this.lora) : this.specs.filter((p) => !isFrozen(p.name));
  }

  /**
   * Attach LoRA adapters to the text decoder (before training starts): `weights` (a saved adapter)
   * or fresh ones (B = 0, so the model still computes exactly what its base does).
   */
  addLora(spec: LoraSpec, seedOrWeights: number | WeightMap = 0): void {
    if (this.grads) throw new InputError('lora', 'adapters must be added before training starts');
    if (this.lora) throw new InputError('lora', 'this model already has adapters');
    checkLoraSpec(spec, this.cfg);
    const specs = loraSpecs(this.cfg, spec);
    const w = typeof seedOrWeights === 'number' ? initLora(this.cfg, spec, seedOrWeights) : seedOrWeights;
    // Every adapter is checked before any memory is taken, so a refused call leaves the model as it was.
    for (const t of specs) {
      const got = w.get(t.name);
      if (got?.shape.join() !== t.shape.join()) {
        throw new InputError('lora', `adapter ${t.name}: expected shape ${JSON.stringify(t.shape)}, got ${got ? JSON.stringify(got.shape) : 'none'}`);
      }
    }
    this.loraParams = new Arena(
      this.gpu,
      'lora',
      specs.map((t) => ({ name: t.name, shape: t.shape, dtype: 'f32' as const })),
    );
    this.lora = spec;
    for (const t of specs) upload(this.gpu, this.loraParams.get(t.name), w.get(t.name)!.data);
  }

  /** The adapters' weights (empty without LoRA). */
  async exportLora(): Promise<WeightMap> {
    const out: WeightMap = new Map();
    if (!this.lora) return out;
    for (const t of loraSpecs(this.cfg, this.lora)) out.set(t.name, { shape: [...t.shape], data: await download(this.gpu, this.p(t.name)) });
    return out;
  }

  /** The output projection: lm_head, or the embedding matrix when tied. */
  get headName() {
    return this.cfg.text.tieWordEmbeddings ? `${textPrefix(this.cfg)}embed_tokens.weight` : 'lm_head.weight';
  }

  /** Allocate gradients and optimizer moments for what trains (the parameters, or the LoRA adapters). */
  enableTraining(o: { checkpoint?: boolean } = {}): void {
    if (this.grads) return;
    if (this.frozenF16 && !this.lora) {
      throw new InputError('model', 'its weights are stored in f16 and frozen: train it with LoRA adapters, or load it in f32 to train every weight');
    }
    // A frozen base needs no gradient or moments: the LoRA plan counts it once, and the adapters four times.
    checkFits(this.cfg, this.gpu, 'train', 'model', this.lora, { ...o, f16: this.frozenF16 });
    const entries = this.trainable.map((p) => ({ name: p.name, shape: p.shape, dtype: 'f32' as const }));
    this.grads = new Arena(this.gpu, 'grads', entries);
    this.adamM = new Arena(this.gpu, 'adam.m', entries);
    this.adamV = new Arena(this.gpu, 'adam.v', entries);
  }

  /** Upload weights by name; every parameter must be present with its exact shape. */
  loadWeights(w: WeightMap, where = 'weights'): void {
    for (const spec of this.specs) {
      const t = w.get(spec.name);
      if (!t) throw new InputError(where, `missing tensor ${spec.name} ${JSON.stringify(spec.shape)}`);
      if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
        throw new InputError(where, `tensor ${spec.name} has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(spec.shape)}`);
      }
      upload(this.gpu, this.p(spec.name), t.data);
    }
  }

  async exportWeights(): Promise<WeightMap> {
    const out: WeightMap = new Map();
    for (const spec of this.specs) out.set(spec.name, { shape: [...spec.shape], data: await download(this.gpu, this.p(spec.name)) });
    return out;
  }

  get numParams(): number {
    return this.specs.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  /** Weights the optimizer updates: numParams, or with LoRA the adapters'. */
  get numTrainable(): number {
    return this.trainable.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  }

  release(): void {
    for (const a of [this.params, this.consts, this.grads, this.adamM, this.adamV, this.loraParams]) a?.release();
    this.grads = this.adamM = this.adamV = this.loraParams = null;
    this.lora = null;
  }
}

/**
 * How each parameter is drawn at init. `std` = a number draws every matrix from N(0, std) (the
 * transformers default is 0.02 at any width); `'fan-in'` (the default) is width-aware:
 *   - a Linear weight [out, in]: N(0, 1/sqrt(in)), so every projection keeps the scale of its input;
 *   - the residual projections (o_proj, down_proj): that, divided by sqrt(2 * layers) (GPT-2's
 *     depth scaling), so the residual stream does not grow with depth;
 *   - embeddings and learned positions: N(0, 1/sqrt(width));
 *   - norms 1, biases 0.
 * Why: 0.02 is 1/sqrt(2500), right for HF-sized models, but at the lab's widths of 48-64 the image
 * path (patch embed -> vision blocks -> projector -> text blocks, a product of ~8 matrices) starts
 * ~1e-5 of the answer logit, and the first Adam steps never find it: scripts/probe-vision.ts with 30
 * tokens before the image stayed at chance (0.69) for 1000 steps with 0.02, in the engine and in an
 * independent PyTorch model alike, and learned with std ~0.1 (0.036 at step 200). At d = 64, 1/sqrt(d)
 * = 0.125; at d = 2048 it is 0.022, the HF value, so fan-in init agrees with HF at scale.
 */
export type InitScheme = 'fan-in' | number;

/** RMSNorm and LayerNorm scales (`input_layernorm`, `norm`, SigLIP's `layer_norm1`, `post_layernorm`): 1 at init. */
const isNormWeight = (name: string) => /norm\d?\.weight$/.test(name);

/** Standard deviation of one parameter under `scheme` (0 = not random: norms are 1, biases 0). */
export function initStd(cfg: ModelConfig, name: string, shape: readonly number[], scheme: InitScheme = 'fan-in'): number {
  if (isNormWeight(name) || name.endsWith('.bias')) return 0;
  if (typeof scheme === 'number') return scheme;
  const width = shape[shape.length - 1];
  let std = 1 / Math.sqrt(width);
  if (/(o_proj|down_proj)\.weight$/.test(name)) {
    const layers = name.startsWith('vision.') ? cfg.vision!.numLayers : cfg.text.numLayers;
    std /= Math.sqrt(2 * layers);
  }
  return std;
}

/** Seeded initial weights: norms 1, biases 0, every other tensor normal with `initStd`'s deviation. */
export function initWeights(cfg: ModelConfig, seed: number, scheme: InitScheme = 'fan-in'): WeightMap {
  const r = seededRandom(seed);
  // Shifted half a step off 0, so log() in the Box-Muller draw below stays finite.
  const uniform = () => r() + 2 ** -33;
  const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  const out: WeightMap = new Map();
  for (const p of paramSpecs(cfg)) {
    const n = p.shape.reduce((x, y) => x * y, 1);
    const data = new Float32Array(n);
    const std = initStd(cfg, p.name, p.shape, scheme);
    if (isNormWeight(p.name)) data.fill(1);
    else if (std > 0) for (let i = 0; i < n; i++) data[i] = normal() * std;
    out.set(p.name, { shape: [...p.shape], data });
  }
  return out;
}
