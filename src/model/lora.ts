// LoRA (Hu et al. 2021) on the text decoder's linear layers, as PEFT defines it: for a target
// Linear y = x·Wᵀ + b the adapted layer is y = x·Wᵀ + b + (alpha/r)·(x·Aᵀ)·Bᵀ, with A [r, in]
// drawn like PEFT's default (kaiming-uniform, a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in))) and B [out, r]
// zero, so an adapted model starts exactly equal to its base. Only A and B train: the base has no
// gradient or optimizer memory. Merging folds the update into W for export (W + (alpha/r)·B·A).
import { InputError } from '../engine/errors';
import { seededRandom } from '../util/random';
import { textPrefix, type ModelConfig } from './config';

/** The linear layers of a decoder block LoRA can adapt (PEFT's target_modules names). */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export interface LoraSpec {
  /** Rank r of A [r, in] and B [out, r]. */
  rank: number;
  /** Scale numerator: the update is (alpha / rank)·B·A. */
  alpha: number;
  targets: readonly LoraTarget[];
}

export const DEFAULT_LORA: LoraSpec = { rank: 8, alpha: 16, targets: LORA_TARGETS };

/** The HF module path of a target in layer `l` (without `.weight`); `prefix` is the decoder's (textPrefix). */
export function loraModule(l: number, target: LoraTarget, prefix = 'model.'): string {
  const group = target === 'gate_proj' || target === 'up_proj' || target === 'down_proj' ? 'mlp' : 'self_attn';
  return `${prefix}layers.${l}.${group}.${target}`;
}

/** [out, in] of a target's base weight. */
export function loraShape(cfg: ModelConfig, target: LoraTarget): { out: number; in: number } {
  const t = cfg.text;
  const q = t.numHeads * t.headDim;
  const kv = t.numKvHeads * t.headDim;
  switch (target) {
    case 'q_proj':
      return { out: q, in: t.hiddenSize };
    case 'k_proj':
    case 'v_proj':
      return { out: kv, in: t.hiddenSize };
    case 'o_proj':
      return { out: t.hiddenSize, in: q };
    case 'gate_proj':
    case 'up_proj':
      return { out: t.intermediateSize, in: t.hiddenSize };
    case 'down_proj':
      return { out: t.hiddenSize, in: t.intermediateSize };
  }
}

export interface LoraTensorSpec {
  /** `<module>.lora_A.weight` or `<module>.lora_B.weight` (PEFT's names, less its `base_model.model.` prefix). */
  name: string;
  shape: number[];
  decay: boolean;
}

/** Every adapter tensor, layer by layer, target by target, A then B. */
export function loraSpecs(cfg: ModelConfig, spec: LoraSpec): LoraTensorSpec[] {
  const out: LoraTensorSpec[] = [];
  for (let l = 0; l < cfg.text.numLayers; l++) {
    for (const target of LORA_TARGETS) {
      if (!spec.targets.includes(target)) continue;
      const m = loraModule(l, target, textPrefix(cfg));
      const s = loraShape(cfg, target);
      out.push({ name: `${m}.lora_A.weight`, shape: [spec.rank, s.in], decay: true }, { name: `${m}.lora_B.weight`, shape: [s.out, spec.rank], decay: true });
    }
  }
  return out;
}

export function checkLoraSpec(spec: LoraSpec, cfg: ModelConfig, where = 'lora'): LoraSpec {
  if (!Number.isInteger(spec.rank) || spec.rank < 1) throw new InputError(where, `rank must be an integer >= 1, got ${spec.rank}`);
  if (!Array.isArray(spec.targets) || spec.targets.length === 0) throw new InputError(where, `targets: name at least one of ${LORA_TARGETS.join(', ')}`);
  const bad = spec.targets.find((t) => !(LORA_TARGETS as readonly string[]).includes(t));
  if (bad !== undefined) throw new InputError(where, `unknown target "${bad}"; any of ${LORA_TARGETS.join(', ')}`);
  const smallest = Math.min(...spec.targets.map((t) => Math.min(loraShape(cfg, t).out, loraShape(cfg, t).in)));
  if (spec.rank > smallest)
    throw new InputError(where, `rank ${spec.rank} is larger than the smallest adapted matrix side (${smallest}): nothing to gain over full fine-tuning`);
  if (!Number.isFinite(spec.alpha) || spec.alpha <= 0) throw new InputError(where, `alpha must be a number > 0, got ${spec.alpha}`);
  return spec;
}

/** Fresh adapters: A ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming-uniform with a = sqrt(5)), B = 0. */
export function initLora(cfg: ModelConfig, spec: LoraSpec, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const r = seededRandom(seed);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of loraSpecs(cfg, spec)) {
    const data = new Float32Array(t.shape[0] * t.shape[1]);
    if (t.name.endsWith('lora_A.weight')) {
      const bound = 1 / Math.sqrt(t.shape[1]);
      for (let i = 0; i < data.length; i++) data[i] = (2 * r() - 1) * bound;
    }
    out.set(t.name, { shape: t.shape, data });
  }
  return out;
}

/**
 * Base weights with every adapter folded in: W + (alpha/r)·B·A, accumulated in float64 and
 * rounded once. The result is a plain model of the base's shape (what export writes).
 */
export function mergeLora(
  cfg: ModelConfig,
  spec: LoraSpec,
  base: Map<string, { shape: number[]; data: Float32Array }>,
  adapters: Map<string, { shape: number[]; data: Float32Array }>,
): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map(base);
  const scale = spec.alpha / spec.rank;
  const r = spec.rank;
  for (let l = 0; l < cfg.text.numLayers; l++) {
    for (const target of spec.targets) {
      const m = loraModule(l, target, textPrefix(cfg));
      const { out: O, in: I } = loraShape(cfg, target);
      const W = base.get(`${m}.weight`);
      const A = adapters.get(`${m}.lora_A.weight`);
      const B = adapters.get(`${m}.lora_B.weight`);
      if (!W || !A || !B) throw new InputError('lora merge', `missing ${!W ? `${m}.weight` : !A ? `${m}.lora_A.weight` : `${m}.lora_B.weight`}`);
      const merged = new Float32Array(O * I);
      for (let o = 0; o < O; o++) {
        for (let i = 0; i < I; i++) {
          let acc = 0;
          for (let k = 0; k < r; k++) acc += B.data[o * r + k] * A.data[k * I + i];
          merged[o * I + i] = W.data[o * I + i] + scale * acc;
        }
      }
      out.set(`${m}.weight`, { shape: [O, I], data: merged });
    }
  }
  return out;
}
