// Building a run request from the Train page's choices: a preset, the start model, the question
// source, checked the way the CLI checks a config file before anything starts.
import type { DatasetInfo, RunKind } from '../../lab/api';
import { countParams, PRESETS, type ModelConfig } from '../../model/config';
import { memoryEstimate } from '../../model/memory';
import type { LoraSpec } from '../../model/lora';
import { loraSpecOf } from '../../recipe/lora-config';
import { GRPO_PRESETS, grpoConfigFrom, type GrpoConfig } from '../../recipe/grpo-config';
import { SFT_PRESETS, sftConfigFrom, type SftConfig } from '../../recipe/sft-config';
import { SYNTH_TEMPLATES, type SynthOptions } from '../../data/synth';
import { errorMessage } from './errors';

/**
 * A preset's config for the browser. Presets that read a CLI data folder (source "dataset") start
 * on synth questions here: browser datasets are chosen with the stored-dataset picker instead.
 */
export function presetConfig(kind: 'sft', name: string): SftConfig;
export function presetConfig(kind: 'grpo', name: string): GrpoConfig;
export function presetConfig(kind: RunKind, name: string): SftConfig | GrpoConfig;
export function presetConfig(kind: RunKind, name: string): SftConfig | GrpoConfig {
  const p = kind === 'sft' ? SFT_PRESETS[name] : GRPO_PRESETS[name];
  if (!p) throw new Error(`no ${kind} preset "${name}"`);
  const c = structuredClone(p.config) as SftConfig | GrpoConfig;
  if (c.data.source === 'dataset') c.data.source = 'synth';
  return c;
}

/**
 * The stored dataset a preset that reads CLI datasets ("vqa-closed": vqa-rad,slake) trains on in
 * the browser: the first imported set of one of its names with a train split, or null (the preset
 * then starts on synth questions until the user imports one on the Data page).
 */
export function presetDataset(kind: RunKind, name: string, datasets: readonly DatasetInfo[]): { dataset: DatasetInfo; split: string } | null {
  const p = kind === 'sft' ? SFT_PRESETS[name] : GRPO_PRESETS[name];
  if (p?.config.data.source !== 'dataset') return null;
  for (const want of p.config.data.dataset.name.split(',').map((x) => x.trim())) {
    const split = p.config.data.dataset.split;
    const d = datasets.find((x) => (x.name === want || x.source === want) && x.splits.some((s) => s.name === split));
    if (d) return { dataset: d, split };
  }
  return null;
}

/**
 * Point a run config at a stored dataset's split (datasets/NAME/SPLIT.jsonl, read as recipe JSONL
 * with its images beside it), with a held-out split for evaluation when the dataset has one.
 */
export function withStoredDataset<C extends SftConfig | GrpoConfig>(c: C, d: DatasetInfo, split: string): C {
  const held = d.splits.find((s) => s.name !== split && /^(test|val|validation|validate|dev)$/i.test(s.name));
  return {
    ...c,
    data: {
      ...c.data,
      source: 'file',
      file: { ...c.data.file, path: `datasets/${d.name}/${split}.jsonl`, evalPath: held ? `datasets/${d.name}/${held.name}.jsonl` : '' },
    },
    // Without held-out items the periodic evaluation has nothing to answer.
    eval: held ? c.eval : { ...c.eval, items: 0 },
  };
}

/** The stored dataset and split a file-source config points at, if any. */
export function storedDatasetOf(c: SftConfig | GrpoConfig): { name: string; split: string } | null {
  if (c.data.source !== 'file') return null;
  const m = /^datasets\/([^/]+)\/([^/]+)\.jsonl$/.exec(c.data.file.path);
  return m ? { name: m[1], split: m[2] } : null;
}

/** The config as the engine will check it, or the first problem (an InputError's message). */
export function checkRunConfig(kind: RunKind, c: SftConfig | GrpoConfig): { ok: true } | { ok: false; error: string } {
  try {
    if (kind === 'sft') sftConfigFrom(c, 'SFT settings');
    else grpoConfigFrom(c, 'GRPO settings');
    return { ok: true };
  } catch (e) {
    return { ok: false, error: errorMessage(e) };
  }
}

/** Synth templates of the kinds a run's questions have. */
export function templatesOfKind(kind: string): (typeof SYNTH_TEMPLATES)[number][] {
  const kinds = kind === 'mixed' ? ['image', 'text'] : [kind];
  return SYNTH_TEMPLATES.filter((t) => kinds.includes(t.kind));
}

/**
 * Drop chosen templates the question kind no longer has (the kind select changed), so the form
 * never holds a combination the generator refuses; an emptied choice means every template.
 */
export function pruneTemplates<C extends SftConfig | GrpoConfig>(c: C): C {
  const chosen = c.data.synth.options.templates;
  if (!Array.isArray(chosen)) return c;
  const names = new Set(templatesOfKind(c.data.synth.kind).map((t) => t.name));
  const kept = chosen.filter((n) => typeof n === 'string' && names.has(n));
  if (kept.length === chosen.length) return c;
  const options = { ...c.data.synth.options };
  if (kept.length) options.templates = kept;
  else delete options.templates;
  return { ...c, data: { ...c.data, synth: { ...c.data.synth, options } } };
}

/**
 * A run config on the Data page's synth settings (its "Train on these questions"): kind, level,
 * count, seed, templates and scan size. The split is the run's business (train, with held-out test
 * items for evaluation), and teacher-trace noise only means something to SFT.
 */
export function withSynthSettings<C extends SftConfig | GrpoConfig>(c: C, s: SynthOptions, kind: RunKind): C {
  const options: Record<string, unknown> = {};
  if (s.templates?.length) options.templates = [...s.templates];
  if (s.imageSize !== undefined) options.imageSize = s.imageSize;
  if (kind === 'sft') {
    if (s.noisyFraction) options.noisyFraction = s.noisyFraction;
    if (s.sloppyFraction) options.sloppyFraction = s.sloppyFraction;
  }
  return {
    ...c,
    data: { ...c.data, source: 'synth', synth: { ...c.data.synth, kind: s.kind, level: s.level, n: s.n, seed: s.seed, options } },
  };
}

/**
 * The model a from-scratch SFT run will build, as far as the form knows it: the preset with the
 * shape overrides (as src/recipe/sft-run.ts applies them), the vocabulary the tokenizer is trained
 * to (it can stop short on few items), and a vision encoder when it is on, or on auto with synth
 * image questions. Its parameters and the training memory they need at least (weights, gradients,
 * two AdamW moments in f32).
 */
export function scratchModelEstimate(c: SftConfig): { params: number; trainBytesAtLeast: number; vocab: number; vision: boolean; custom: boolean } | null {
  const base = PRESETS[c.model.preset];
  if (!base) return null;
  const m = c.model;
  const hidden = m.hiddenSize || base.text.hiddenSize;
  const heads = m.numHeads || base.text.numHeads;
  if (hidden % heads !== 0) return null;
  const vocab = m.vocabSize || base.text.vocabSize;
  const text = {
    ...base.text,
    vocabSize: vocab,
    hiddenSize: hidden,
    numLayers: m.numLayers || base.text.numLayers,
    numHeads: heads,
    numKvHeads: m.numKvHeads || Math.min(base.text.numKvHeads, heads),
    intermediateSize: m.intermediateSize || base.text.intermediateSize,
    headDim: hidden / heads,
    maxPositionEmbeddings: m.context || base.text.maxPositionEmbeddings,
  };
  const vision = !!base.vision && (m.vision === 'on' || (m.vision === 'auto' && c.data.source === 'synth' && c.data.synth.kind !== 'text'));
  const params = countParams({ text, ...(vision ? { vision: base.vision } : {}) });
  const custom = [m.hiddenSize, m.numLayers, m.numHeads, m.numKvHeads, m.intermediateSize, m.vocabSize, m.context].some((v) => v > 0);
  return { params, trainBytesAtLeast: 16 * params, vocab, vision, custom };
}

/**
 * Training memory of a run on a start model, as the run will train it: in full, or LoRA adapters
 * (with the frozen weights in f16 when the config says so), with or without activation
 * checkpointing (src/model/memory.ts memoryEstimate, the plan the run's own fit check uses).
 */
export function startModelEstimate(
  model: ModelConfig,
  kind: RunKind,
  c: SftConfig | GrpoConfig,
): { trainBytes: number; lora: LoraSpec | null; loraParams: number; f16: boolean; checkpoint: boolean } {
  const settings = kind === 'sft' ? (c as SftConfig).model.lora : (c as GrpoConfig).lora;
  let lora: LoraSpec | null = null;
  try {
    lora = loraSpecOf(settings);
  } catch {
    // A bad target list is the form's error to show; the estimate falls back to full fine-tuning.
  }
  const f16 = !!lora && settings.base === 'f16';
  const checkpoint = c.activationCheckpointing;
  // GRPO's logits are for its responses (maxNewTokens each); SFT's answers are not known before
  // its data is encoded, so the estimate counts every token (the run's own check counts its longest answer).
  const headTokens = kind === 'grpo' ? (c as GrpoConfig).maxNewTokens : undefined;
  const est = memoryEstimate(model, lora, { checkpoint, f16, headTokens });
  return { trainBytes: est.trainBytes, lora, loraParams: est.loraParams, f16, checkpoint };
}
