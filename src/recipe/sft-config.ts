// The SFT run config: every setting of recipe §4 with defaults scaled for the lab's small models,
// the data source, evaluation and checkpointing. A config is a named preset, or a JSON object
// (usually a file) that may start from a preset with "extends" and overrides only what it names.
// Everything is checked here, before any data is read or any GPU work starts: unknown keys, wrong
// types and out-of-range values are InputErrors naming the config and the key.
import { InputError } from '../engine/errors';
import { PRESETS, validateConfig, type ModelConfig, type TextConfig } from '../model/config';
import { validateSynthOptions } from '../data/synth';
import { applySets, checkConfig, configFrom, type FieldSpec } from './validate';

export interface SftModelSpec {
  /** Model size when training from scratch (src/model/config.ts PRESETS). */
  preset: string;
  /** A Hugging Face folder to start from instead ('' = from scratch). Its tokenizer comes with it. */
  init: string;
  /** A folder with tokenizer.json ('' = the init folder's, or a byte-level BPE trained on the training items). */
  tokenizer: string;
  /** Shape overrides of the preset for from-scratch runs; 0 keeps the preset's value. */
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  /** Context length (max_position_embeddings). */
  context: number;
  /** Vocabulary of the trained tokenizer (0 = the preset's). */
  vocabSize: number;
  /** Vision encoder for from-scratch runs: 'auto' adds one when any training item has images. */
  vision: 'auto' | 'on' | 'off';
}

export interface SynthSpec {
  /** src/data/synth kind: 'text', 'image' or 'mixed'. */
  kind: string;
  level: number;
  /** Training items (split "train"). */
  n: number;
  /** Held-out items (split "test"), used by the periodic evaluation. */
  evalN: number;
  seed: number;
  /** Further generateSynth options (noisyFraction, sloppyFraction, templates, imageSize, ...), checked by the generator. */
  options: Record<string, unknown>;
}

export interface DatasetSourceSpec {
  /** A dataset the loaders know (src/data/loaders DATASETS), e.g. "medqa". */
  name: string;
  /** Folder holding the dataset's folder (or the dataset folder itself). */
  dataDir: string;
  split: string;
  /** At most this many training items (0 = all). */
  limit: number;
  /** Split for evaluation ('' = hold out `heldOut` items of the training split). */
  evalSplit: string;
  /** At most this many evaluation items from evalSplit (0 = all). */
  evalLimit: number;
  /** Items held out of the training split when evalSplit is ''. */
  heldOut: number;
}

export interface RecipeFileSpec {
  /** Training items. */
  path: string;
  /** Held-out items for evaluation ('' = none). */
  evalPath: string;
  /** At most this many training items (0 = all). */
  limit: number;
}

export interface SftDataSpec {
  /** 'synth' (generated), 'dataset' (a loader by name) or 'file' (JSONL in the recipe schema: `thinker curate`, `thinker distill`, a lab dataset). */
  source: 'synth' | 'dataset' | 'file';
  synth: SynthSpec;
  dataset: DatasetSourceSpec;
  file: RecipeFileSpec;
  /** Drop training items without a reasoning trace (SFT distils traces; an empty <think> teaches nothing of them). */
  requireReasoning: boolean;
  /**
   * The letter of the SFT target's <answer>: 'gold' (the item's answer_label), or 'trace': the one
   * the reasoning concludes with ("So the answer is X.", as synth teachers write), i.e. unfiltered
   * distillation that copies the teacher's own answers, right or wrong. Items whose reasoning has
   * no such conclusion keep the gold.
   */
  answer: 'gold' | 'trace';
}

export interface SftConfig {
  model: SftModelSpec;
  data: SftDataSpec;
  /** Peak learning rate. The paper's 1e-5 is for fine-tuning 3B-7B pretrained models; from scratch a micro model needs ~1e-3. */
  lr: number;
  /** Linear warmup over this fraction of all steps (paper 0.05). */
  warmupRatio: number;
  schedule: 'cosine' | 'constant';
  /** Cosine floor as a fraction of lr (paper 0). */
  minLrRatio: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Global gradient-norm clip (0 = off; transformers' Trainer default is 1.0). */
  gradClip: number;
  /** Examples per micro-batch (one forward/backward). */
  batchSize: number;
  /** Micro-batches per optimizer step: the effective batch is batchSize * gradAccum (paper 16). */
  gradAccum: number;
  epochs: number;
  /** Stop after this many optimizer steps (0 = epochs decide); the schedule spans this many. */
  maxSteps: number;
  /** Longest example (prompt + answer) in tokens. */
  maxLength: number;
  /** Examples over maxLength: dropped, or cut (both reported). */
  overflow: 'drop' | 'truncate';
  /** Pad rows to the longest of the micro-batch, or always to maxLength. */
  pad: 'longest' | 'max';
  padMultiple: number;
  /** Seeds the initial weights, the data order (reshuffled every epoch) and the tokenizer-free parts of the run. */
  seed: number;
  eval: {
    /** Evaluate every this many steps (0 = only at the start and the end). */
    every: number;
    /** Held-out items evaluated each time (0 = none, no evaluation). */
    items: number;
    /** Greedy decoding budget per answer. */
    maxNewTokens: number;
    /** Sequences decoded together. */
    batchSize: number;
    /** Also evaluate the model before the first step (the "before" of a learning curve). */
    atStart: boolean;
    /** Responses kept per evaluation for inspection. */
    samples: number;
  };
  checkpoint: {
    /** Save every this many steps (0 = only at the end, and when stopped). */
    every: number;
    /** Periodic checkpoints kept (older ones are deleted; the final one always stays). */
    keep: number;
    /** Save AdamW moments too, so a resumed run continues exactly as if never stopped. */
    optimizer: boolean;
  };
  prompt: {
    /** The instruction's line break: the original literal backslash-n, or a real newline (recipe §3). */
    newline: 'literal' | 'real';
  };
}

/** Defaults: the paper's optimizer settings (§4) with lr and sizes for a micro model on synth. */
export const SFT_DEFAULTS: SftConfig = {
  model: {
    preset: 'micro', init: '', tokenizer: '', hiddenSize: 0, numLayers: 0, numHeads: 0, numKvHeads: 0, intermediateSize: 0,
    context: 0, vocabSize: 0, vision: 'auto',
  },
  data: {
    source: 'synth',
    synth: { kind: 'text', level: 1, n: 512, evalN: 32, seed: 1, options: {} },
    dataset: { name: '', dataDir: '', split: 'train', limit: 0, evalSplit: '', evalLimit: 0, heldOut: 32 },
    file: { path: '', evalPath: '', limit: 0 },
    requireReasoning: true,
    answer: 'gold',
  },
  lr: 1e-3, warmupRatio: 0.05, schedule: 'cosine', minLrRatio: 0, weightDecay: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, gradClip: 1.0,
  batchSize: 8, gradAccum: 1, epochs: 3, maxSteps: 0,
  maxLength: 256, overflow: 'drop', pad: 'longest', padMultiple: 8,
  seed: 0,
  eval: { every: 50, items: 32, maxNewTokens: 96, batchSize: 32, atStart: true, samples: 4 },
  checkpoint: { every: 100, keep: 2, optimizer: true },
  prompt: { newline: 'literal' },
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function preset(over: DeepPartial<SftConfig>): SftConfig {
  return checkConfig(over, SFT_DEFAULTS, SFT_SPEC, 'SFT preset');
}

const num = (min?: number, max?: number, integer = false): FieldSpec => ({ type: 'number', min, max, integer });
const int = (min?: number, max?: number): FieldSpec => num(min, max, true);
const str = (oneOf?: readonly string[]): FieldSpec => ({ type: 'string', oneOf });
const obj = (fields: Record<string, FieldSpec>): FieldSpec => ({ type: 'object', fields });

export const SFT_SPEC: Record<string, FieldSpec> = {
  model: obj({
    preset: str(Object.keys(PRESETS)), init: str(), tokenizer: str(),
    hiddenSize: int(0), numLayers: int(0), numHeads: int(0), numKvHeads: int(0), intermediateSize: int(0),
    context: int(0), vocabSize: int(0), vision: str(['auto', 'on', 'off']),
  }),
  data: obj({
    source: str(['synth', 'dataset', 'file']),
    synth: obj({ kind: str(['text', 'image', 'mixed']), level: int(1, 3), n: int(1), evalN: int(0), seed: int(0), options: { type: 'record' } }),
    dataset: obj({ name: str(), dataDir: str(), split: str(), limit: int(0), evalSplit: str(), evalLimit: int(0), heldOut: int(0) }),
    file: obj({ path: str(), evalPath: str(), limit: int(0) }),
    requireReasoning: { type: 'boolean' },
    answer: str(['gold', 'trace']),
  }),
  lr: num(0, 1), warmupRatio: num(0, 0.99), schedule: str(['cosine', 'constant']), minLrRatio: num(0, 1),
  weightDecay: num(0, 1), beta1: num(0, 0.999999), beta2: num(0, 0.999999), eps: num(1e-12, 1e-3), gradClip: num(0),
  batchSize: int(1, 4096), gradAccum: int(1, 4096), epochs: num(0, 10000), maxSteps: int(0),
  maxLength: int(8, 1 << 17), overflow: str(['drop', 'truncate']), pad: str(['longest', 'max']), padMultiple: int(1, 4096),
  seed: int(0, 2 ** 31 - 1),
  eval: obj({ every: int(0), items: int(0), maxNewTokens: int(1, 1 << 16), batchSize: int(1, 4096), atStart: { type: 'boolean' }, samples: int(0) }),
  checkpoint: obj({ every: int(0), keep: int(1), optimizer: { type: 'boolean' } }),
  prompt: obj({ newline: str(['literal', 'real']) }),
};

/**
 * The learning proof's setting (test/recipe/recipe-synth.test.ts), small enough for a CPU WebGPU in
 * a few minutes with the recipe's full prompt (~91 tokens of ~125 per example): a ~110k-parameter
 * model from scratch on synth triage questions on a nursing note's words (`triage_signs`, level 1:
 * a model of minutes reads words, not yet numbers), options in their fixed order (Red / Yellow /
 * Green: the letter follows from the category, one lookup less), from a teacher with a blind spot:
 * it misreads 60% of the yellow patients and reasons on to a wrong category, and SFT trains on the
 * letter its reasoning concludes with (data.answer "trace": unfiltered distillation). A random slip
 * would average out under greedy decoding; a systematic one is what a student copies and a
 * verifiable reward can correct.
 * - 2000 items, each seen about once in 120 steps of 8: on 400 items seen 2.4 times the model
 *   memorised which case numbers had wrong traces and answered held-out cases (whose numbers it
 *   never saw) at random (red items 16 of 25 right, at lr 3e-3 and 5e-3, batch 8 and 16).
 * - lr 3e-3 with the fan-in init (1e-2 was this preset's rate under the old N(0, 0.02) init).
 * `thinker grpo --config synth-micro-noisy` reads the first 16 of these items (same seed and
 * options: an item depends on its index only) and the same held-out set.
 */
export const SYNTH_PROOF_DATA: SynthSpec = {
  kind: 'text', level: 1, n: 2000, evalN: 64, seed: 1,
  options: { templates: ['triage_signs'], noisyFraction: 0.6, noisyAnswers: ['Yellow'], sloppyFraction: 0, fixedOptionOrder: true },
};
const SYNTH_PROOF_SFT: DeepPartial<SftConfig> = {
  model: { hiddenSize: 64, numHeads: 4, numKvHeads: 2, intermediateSize: 128, context: 192, vocabSize: 768 },
  data: { synth: SYNTH_PROOF_DATA, answer: 'trace' },
  lr: 3e-3, minLrRatio: 0.1, batchSize: 8, maxSteps: 120, maxLength: 192,
  eval: { every: 0, items: 64, maxNewTokens: 48, batchSize: 32, samples: 64 },
  checkpoint: { every: 0, keep: 1 },
};

/** Named starting points; a config file picks one with "extends" and overrides what it needs. */
export const SFT_PRESETS: Record<string, { describe: string; config: SftConfig }> = {
  'synth-micro': {
    describe: 'micro model (~0.3M) from scratch on synth text questions: the format is learned in minutes on a laptop',
    config: preset({}),
  },
  'synth-micro-vision': {
    describe: 'micro model with its vision encoder on synth image questions',
    config: preset({ data: { synth: { kind: 'image' } }, model: { vision: 'on' } }),
  },
  'synth-micro-noisy': {
    describe: 'the learning proof of test/recipe/recipe-synth.test.ts: a ~110k-parameter model from scratch on synth triage notes (fixed option order) whose teacher has a blind spot (misreads 60% of the yellow patients); SFT on its conclusions, then `thinker grpo --config synth-micro-noisy`',
    config: preset(SYNTH_PROOF_SFT),
  },
  'vqa-closed': {
    describe: 'a tiny VLM (~180k parameters) from scratch on the closed training questions of VQA-RAD and SLAKE (English), answer only (they have no traces); set data.dataset.dataDir, or pick an imported set as the questions. `thinker demo vqa-closed` runs it and scores it on the closed test splits beside the majority and blind baselines',
    config: preset({
      // Width 64 (the micro preset's is 96) keeps the run within ~40 minutes on a 2-core CPU adapter;
      // the README's measured table is at this size.
      model: { preset: 'micro', vision: 'on', hiddenSize: 64, intermediateSize: 192, numHeads: 4, context: 256, vocabSize: 768 },
      data: { source: 'dataset', dataset: { name: 'vqa-rad,slake', split: 'train', heldOut: 64 }, requireReasoning: false, answer: 'gold' },
      lr: 3e-3, minLrRatio: 0.1, batchSize: 16, epochs: 2, maxLength: 256,
      eval: { every: 60, items: 64, maxNewTokens: 16, batchSize: 32, samples: 8 },
      checkpoint: { every: 100, keep: 1 },
    }),
  },
  'synth-tiny': {
    describe: 'tiny model (~2M) on more synth items: accuracy as well as format, on a real GPU',
    config: preset({
      model: { preset: 'tiny' }, lr: 5e-4, batchSize: 16, epochs: 3, maxLength: 384,
      data: { synth: { n: 4000, evalN: 128 } }, eval: { every: 200, items: 128 }, checkpoint: { every: 500 },
    }),
  },
  'paper': {
    describe: "the paper's SFT settings (lr 1e-5, cosine, warmup 5%, weight decay 1e-4, betas 0.9/0.95, batch 16, 5 epochs) for fine-tuning a pretrained model; set model.init and data",
    config: preset({
      lr: 1e-5, batchSize: 16, gradAccum: 1, epochs: 5, maxLength: 4096, overflow: 'truncate',
      data: { source: 'dataset' }, eval: { every: 500, items: 128, maxNewTokens: 1024, batchSize: 16 }, checkpoint: { every: 1000 },
    }),
  },
};

/**
 * A config from a preset name or a parsed JSON object. An object may name a preset in "extends"
 * (default: the plain defaults); its other keys override it. `where` names the file in errors.
 */
export function sftConfigFrom(input: string | unknown, where = typeof input === 'string' ? `preset "${input}"` : 'SFT config'): SftConfig {
  return configFrom(input, { presets: SFT_PRESETS, defaults: SFT_DEFAULTS, spec: SFT_SPEC, check: checkSftConfig, where });
}

/**
 * Apply `key.path=value` overrides (the CLI's --set): the value is JSON when it parses as JSON,
 * else a plain string. Checked like a config file.
 */
export function applyOverrides(cfg: SftConfig, sets: string[], where = '--set', crossCheck = true): SftConfig {
  return applySets(cfg, sets, SFT_SPEC, crossCheck ? checkSftConfig : (c) => c, where);
}

/** Checks across fields that the per-field spec cannot express. */
export function checkSftConfig(c: SftConfig, where: string): SftConfig {
  if (c.data.source === 'dataset') {
    if (!c.data.dataset.name) throw new InputError(where, 'data.source is "dataset" but data.dataset.name is empty');
    if (!c.data.dataset.dataDir) throw new InputError(where, 'data.source is "dataset" but data.dataset.dataDir is empty');
  }
  if (c.data.source === 'file' && !c.data.file.path) throw new InputError(where, 'data.source is "file" but data.file.path is empty');
  if (c.data.source === 'synth') {
    // The generator's own check, so a bad kind or option fails here rather than after a tokenizer is trained.
    const s = c.data.synth;
    validateSynthOptions({ ...s.options, n: s.n, kind: s.kind, level: s.level, seed: s.seed, split: 'train' }, `${where}: data.synth`);
  }
  if (c.model.init && c.model.vision === 'on') {
    throw new InputError(where, 'model.vision applies to from-scratch runs; a model.init folder brings its own (leave vision "auto")');
  }
  if (c.model.numHeads && c.model.hiddenSize && c.model.hiddenSize % c.model.numHeads !== 0) {
    throw new InputError(where, `model.hiddenSize ${c.model.hiddenSize} is not a multiple of model.numHeads ${c.model.numHeads}`);
  }
  // The from-scratch shape, sized now (O(1)) with the config's vocabulary, so an absurd override
  // (model.numLayers=100000) is refused before any item is loaded or tokenizer trained.
  if (!c.model.init) {
    const base = PRESETS[c.model.preset];
    const shape: ModelConfig = { text: scratchTextConfig(c.model, c.model.vocabSize || base.text.vocabSize) };
    if (c.model.vision === 'on' && base.vision) shape.vision = base.vision;
    validateConfig(shape, `${where}: model (preset ${c.model.preset} with the model.* overrides)`);
  }
  if (c.epochs === 0 && c.maxSteps === 0) throw new InputError(where, 'epochs and maxSteps are both 0: nothing to train');
  if (c.eval.items > 0 && c.data.source === 'synth' && c.data.synth.evalN === 0) {
    throw new InputError(where, `eval.items is ${c.eval.items} but data.synth.evalN is 0 (no held-out items)`);
  }
  return c;
}

/** The text shape of a from-scratch model: the preset, with the config's non-zero overrides. */
export function scratchTextConfig(m: SftModelSpec, vocabSize: number): TextConfig {
  const base = PRESETS[m.preset];
  if (!base) throw new InputError('model.preset', `unknown preset ${m.preset}`);
  const hidden = m.hiddenSize || base.text.hiddenSize;
  const heads = m.numHeads || base.text.numHeads;
  return {
    ...base.text,
    vocabSize, hiddenSize: hidden, numLayers: m.numLayers || base.text.numLayers, numHeads: heads,
    numKvHeads: m.numKvHeads || Math.min(base.text.numKvHeads, heads), intermediateSize: m.intermediateSize || base.text.intermediateSize,
    headDim: hidden / heads, maxPositionEmbeddings: m.context || base.text.maxPositionEmbeddings,
  };
}

/** The schedule's warmup in steps: ceil(ratio * total), as transformers computes it. */
export const warmupSteps = (c: Pick<SftConfig, 'warmupRatio'>, totalSteps: number) => Math.ceil(c.warmupRatio * totalSteps);
