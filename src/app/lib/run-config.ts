// Building a run request from the Train page's choices: a preset, the start model, the question
// source, checked the way the CLI checks a config file before anything starts.
import type { DatasetInfo, RunKind } from '../../../workers/api';
import { countParams, PRESETS } from '../../model/config';
import { GRPO_PRESETS, grpoConfigFrom, type GrpoConfig } from '../../recipe/grpo-config';
import { SFT_PRESETS, sftConfigFrom, type SftConfig } from '../../recipe/sft-config';
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

/** Parameters of a model preset, and the memory training it needs at least: weights, gradients, two AdamW moments in f32. */
export function presetMemory(preset: string): { params: number; trainBytesAtLeast: number } | null {
  const cfg = PRESETS[preset];
  if (!cfg) return null;
  const params = countParams(cfg);
  return { params, trainBytesAtLeast: 16 * params };
}
