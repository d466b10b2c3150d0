// LoRA as the SFT and GRPO configs set it: one field table both share, and the spec it gives
// (src/model/lora.ts builds the adapters).
import { InputError } from '../engine/errors';
import { LORA_TARGETS, type LoraSpec, type LoraTarget } from '../model/lora';
import { int, num, oneOf, text, type FieldTable } from './validate';

/** LoRA as a config sets it (src/model/lora.ts): rank 0 is off; targets "all" or a comma list of q_proj, k_proj, ... */
export interface LoraSettings {
  rank: number;
  alpha: number;
  targets: string;
  /** Storage of the frozen start model's Linear weights: f32 (exact), or f16 (half the memory; Model frozenF16). */
  base: 'f32' | 'f16';
}

/** The shared LoRA fields of the SFT and GRPO configs. */
export const LORA_FIELDS: FieldTable<LoraSettings> = {
  rank: {
    ...int(0, 1024),
    default: 0,
    label: 'LoRA rank',
    help: 'Train small adapter matrices of this rank on the start model instead of every weight (0 = full fine-tuning). The base stays frozen: no gradient or optimizer memory for it.',
  },
  alpha: {
    ...num(1e-6),
    default: 16,
    label: 'LoRA alpha',
    help: "The adapters update the weights by (alpha / rank)·B·A; PEFT's usual choice is twice the rank.",
  },
  base: {
    ...oneOf(['f32', 'f16']),
    default: 'f32',
    label: 'Frozen weights',
    help: "How the frozen start model's Linear weights are stored: f16 takes half their memory (SmolVLM-256M: about 1.0 GB -> 0.55 GB) and widens them to f32 in every product; f32 keeps them exact. Adapters, gradients and arithmetic are f32 either way.",
  },
  targets: {
    ...text,
    default: 'all',
    label: 'LoRA targets',
    help: `The decoder layers to adapt: "all", or a comma list of ${LORA_TARGETS.join(', ')}.`,
  },
};

/** The adapters a config asks for, or null (rank 0); target names are checked, the shapes at run time. */
export function loraSpecOf(l: LoraSettings, where = 'model.lora'): LoraSpec | null {
  if (l.rank === 0) return null;
  const targets = (
    l.targets.trim() === 'all'
      ? [...LORA_TARGETS]
      : l.targets
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
  ) as LoraTarget[];
  const bad = targets.find((t) => !(LORA_TARGETS as readonly string[]).includes(t));
  if (bad !== undefined || targets.length === 0)
    throw new InputError(`${where}.targets`, `"${l.targets}": use "all" or a comma list of ${LORA_TARGETS.join(', ')}`);
  return { rank: l.rank, alpha: l.alpha, targets };
}
