// LoRA adapters in PEFT's format, so `peft.PeftModel.from_pretrained(base, DIR)` loads what the lab
// trained: adapter_config.json (peft_type LORA, r, lora_alpha, target_modules) and
// adapter_model.safetensors with PEFT's tensor names (`base_model.model.<module>.lora_A.weight`,
// A [r, in], B [out, r]).
import { InputError } from '../engine/errors';
import { LORA_TARGETS, loraSpecs, type LoraSpec, type LoraTarget } from '../model/lora';
import type { ModelConfig } from '../model/config';
import type { Model, WeightMap } from '../model/model';
import { mergeLora } from '../model/lora';
import { joinWhere, readJson, type FileSource } from './files';
import { readSafetensors, writeSafetensors } from './safetensors';

export const PEFT_CONFIG = 'adapter_config.json';
export const PEFT_WEIGHTS = 'adapter_model.safetensors';
const PREFIX = 'base_model.model.';

/** The two files of an adapter folder, keyed by file name. */
export function peftAdapterFiles(spec: LoraSpec, adapters: WeightMap, baseModel: string): Record<string, string | Uint8Array> {
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseModel,
    r: spec.rank,
    lora_alpha: spec.alpha,
    lora_dropout: 0,
    target_modules: [...spec.targets],
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    use_rslora: false,
    use_dora: false,
  };
  const tensors = [...adapters].map(([name, t]) => ({ name: PREFIX + name, shape: t.shape, data: t.data }));
  return { [PEFT_CONFIG]: `${JSON.stringify(config, null, 2)}\n`, [PEFT_WEIGHTS]: writeSafetensors(tensors, { format: 'pt' }) };
}

/** An adapter folder for a model of shape `cfg`: its spec and weights, every tensor checked. */
export async function readPeftAdapter(src: FileSource, cfg: ModelConfig, where: string = src.name): Promise<{ spec: LoraSpec; adapters: WeightMap }> {
  const c = (await readJson(src, PEFT_CONFIG, where)) as Record<string, unknown>;
  const at = joinWhere(where, PEFT_CONFIG);
  if (c?.peft_type !== 'LORA') throw new InputError(at, `peft_type must be "LORA", got ${JSON.stringify(c?.peft_type)}`);
  const targets = c.target_modules;
  if (!Array.isArray(targets) || targets.some((t) => !(LORA_TARGETS as readonly unknown[]).includes(t))) {
    throw new InputError(at, `target_modules must be a list of ${LORA_TARGETS.join(', ')}, got ${JSON.stringify(targets)}`);
  }
  for (const k of ['use_dora', 'use_rslora'] as const) if (c[k] === true) throw new InputError(at, `${k} is not supported`);
  const spec: LoraSpec = { rank: Number(c.r), alpha: Number(c.lora_alpha), targets: targets as LoraTarget[] };
  const file = joinWhere(where, PEFT_WEIGHTS);
  const tensors = readSafetensors(await src.read(PEFT_WEIGHTS), file);
  const adapters: WeightMap = new Map();
  for (const t of loraSpecs(cfg, spec)) {
    const got = tensors.get(PREFIX + t.name);
    if (!got) throw new InputError(file, `missing tensor ${PREFIX}${t.name}`);
    if (got.shape.join() !== t.shape.join())
      throw new InputError(file, `${PREFIX}${t.name} has shape ${JSON.stringify(got.shape)}, expected ${JSON.stringify(t.shape)}`);
    adapters.set(t.name, got);
  }
  return { spec, adapters };
}

/**
 * What a saved model folder holds of `model`: its weights with any adapters folded in (a plain
 * model every reader loads) and, with LoRA, the adapters as `adapter/` files in PEFT's format.
 * The adapters are read from the GPU once for both. `baseModel` names the start model in the
 * adapter's config.
 */
export async function savedWeights(model: Model, baseModel: string): Promise<{ weights: WeightMap; files: Record<string, string | Uint8Array> }> {
  const base = await model.exportWeights();
  if (!model.lora) return { weights: base, files: {} };
  const adapters = await model.exportLora();
  const files: Record<string, string | Uint8Array> = {};
  for (const [f, b] of Object.entries(peftAdapterFiles(model.lora, adapters, baseModel))) files[`adapter/${f}`] = b;
  return { weights: mergeLora(model.cfg, model.lora, base, adapters), files };
}
