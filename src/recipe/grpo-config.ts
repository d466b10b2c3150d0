// The GRPO run config: every setting of recipe §5 (the released verl runs), the data source,
// held-out evaluation and checkpointing, laid out like the SFT config (src/recipe/sft-config.ts).
// A config is a named preset, or a JSON object (usually a file) that may start from a preset with
// "extends" and overrides only what it names. Everything is checked here, before any data is read
// or any GPU work starts: unknown keys, wrong types and out-of-range values (G < 1, ...) are
// InputErrors naming the config and the key. Each setting is declared once, in GRPO_FIELDS, beside
// its line in GrpoConfig.
import { InputError } from '../engine/errors';
import { validateSynthOptions } from '../data/synth';
import { applySets, bool, checkConfig, configFrom, defaultsOf, int, num, oneOf, specOf, text, type FieldSpec, type FieldTable } from './validate';
import {
  DATA_SOURCE_FIELD,
  DATASET_FIELDS,
  RECIPE_FILE_FIELDS,
  SYNTH_FIELDS,
  SYNTH_PROOF_DATA,
  type DatasetSourceSpec,
  type RecipeFileSpec,
  type SynthSpec,
} from './sft-config';
import { LORA_FIELDS, type LoraSettings } from './lora-config';
import type { GrpoOptions } from './grpo';

export interface GrpoDataSpec {
  /** 'synth' (generated), 'dataset' (a loader by name) or 'file' (JSONL in the recipe schema, e.g. from `thinker curate`). */
  source: 'synth' | 'dataset' | 'file';
  synth: SynthSpec;
  dataset: DatasetSourceSpec;
  file: RecipeFileSpec;
}

export interface GrpoConfig {
  /** Start model folder, usually the SFT checkpoint; also the frozen KL reference. `--model` overrides. */
  model: string;
  /** LoRA adapters on the start model (rank 0 = update every weight); the start model stays the KL reference. */
  lora: LoraSettings;
  data: GrpoDataSpec;
  /** GRPO steps (each: sampling, then updatesPerStep optimizer updates); 0 = `epochs` passes over the prompts. */
  steps: number;
  epochs: number;
  /** Seeds the prompt order and the sampling. */
  seed: number;
  /** Responses per prompt (G). */
  groupSize: number;
  /** Prompts per step. */
  promptsPerStep: number;
  /** Mini-batches, hence optimizer updates, per step. */
  updatesPerStep: number;
  /** Sequences per forward/backward pass (gradient accumulation inside a mini-batch). */
  microBatch: number;
  /** Sequences decoded together while sampling. */
  rolloutBatch: number;
  /** Prompts longer than this (in tokens) are left out of the data. */
  maxPromptTokens: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  /** PPO ratio clip below 1 and above 1; clipHigh > clipLow is DAPO's clip-higher. */
  clipLow: number;
  clipHigh: number;
  /** Dual-clip bound for negative advantages (verl's clip_ratio_c); 0 = off. */
  clipC: number;
  /** k3 KL-to-reference loss coefficient; 0 = no KL and no reference model. */
  klCoef: number;
  /** 'token-mean' (recipe) or 'seq-mean-token-mean' (each response weighs the same). */
  lossAgg: 'token-mean' | 'seq-mean-token-mean';
  /** false = Dr. GRPO (advantage r - mean, no std division). */
  normalizeStd: boolean;
  /** DAPO dynamic sampling: leave out groups whose rewards are all equal. */
  dropEqualGroups: boolean;
  /** Peak learning rate (the recipe: 1e-6, constant). */
  lr: number;
  /** 'constant' (the recipe) or 'cosine': decay to minLrRatio * lr over the run, after warmup. */
  schedule: 'constant' | 'cosine';
  /** Linear warmup over this fraction of the steps. */
  warmupRatio: number;
  /** Where the cosine ends, as a fraction of lr. */
  minLrRatio: number;
  weightDecay: number;
  gradClip: number;
  /** Recompute each text block in the backward instead of keeping its activations (Trainer checkpoint). */
  activationCheckpointing: boolean;
  beta1: number;
  beta2: number;
  eps: number;
  padMultiple: number;
  eval: {
    /** Evaluate every this many steps (0 = only at the start and the end). */
    every: number;
    /** Held-out items evaluated each time (0 = no evaluation). */
    items: number;
    /** Greedy decoding budget per answer. */
    maxNewTokens: number;
    batchSize: number;
    /** Also evaluate the start model (the "before" of the comparison). */
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
  /** Write every group's prompt, responses, rewards, advantages and token ratios to rollouts.jsonl. */
  logRollouts: boolean;
  prompt: {
    /** The instruction's line break: the original literal backslash-n, or a real newline (recipe §3). */
    newline: 'literal' | 'real';
  };
}

/**
 * Every GRPO setting: its type and range, default, and the Train page's label and help; GRPO_DEFAULTS,
 * GRPO_SPEC and the form's labels (src/app/lib/config-form.ts) are derived from it, so a new
 * setting is one entry here plus its line in GrpoConfig. The defaults: the recipe's GRPO settings
 * (§5) with sizes for a micro model on synth, started from an SFT run of the synth-micro preset.
 */
export const GRPO_FIELDS: FieldTable<GrpoConfig> = {
  model: {
    ...text,
    default: '',
    label: 'Start model',
    help: 'The start model folder, usually the SFT checkpoint; also the frozen KL reference (--model overrides it).',
  },
  lora: { type: 'object', fields: LORA_FIELDS },
  data: {
    type: 'object',
    fields: {
      source: DATA_SOURCE_FIELD,
      synth: { type: 'object', fields: SYNTH_FIELDS },
      dataset: { type: 'object', fields: DATASET_FIELDS },
      file: { type: 'object', fields: RECIPE_FILE_FIELDS },
    },
  },
  steps: { ...int(0), default: 100, label: 'Steps', help: 'GRPO steps to run (0 = the epochs decide).' },
  epochs: { ...num(0, 10000), default: 0, label: 'Epochs', help: 'Passes over the questions when steps is 0.' },
  seed: { ...int(0, 2 ** 31 - 1), default: 0, label: 'Seed', help: 'Question order and sampling; a resumed run repeats them exactly.' },
  groupSize: {
    ...int(1, 1024),
    default: 8,
    label: 'Group size G',
    help: 'Answers sampled per question. Each is judged against the others of its group, so G sets how finely better and worse answers are told apart (recipe 8).',
  },
  // The recipe samples 256 prompts a step; 16 keeps a micro-model step to seconds.
  promptsPerStep: {
    ...int(1, 1 << 16),
    default: 16,
    label: 'Questions per step',
    help: 'With G answers each, a step learns from this × G responses. The recipe uses 256; fewer keep a step to seconds on a small GPU.',
  },
  updatesPerStep: {
    ...int(1, 1024),
    default: 2,
    label: 'Updates per step',
    help: "The step's responses are split into this many mini-batches, one optimizer update each; from the second on the policy has moved, which is what the ratio and clip handle (recipe 2).",
  },
  microBatch: { ...int(1, 4096), default: 32, label: 'Micro-batch', help: 'Sequences per forward/backward pass inside a mini-batch (memory vs speed).' },
  rolloutBatch: { ...int(1, 4096), default: 64, label: 'Rollout batch', help: 'Sequences decoded together while sampling.' },
  // The recipe allows 2048 + 4096 tokens; the lab's models have contexts of 256-1024.
  maxPromptTokens: { ...int(1, 1 << 17), default: 192, label: 'Max prompt length', help: 'Questions with longer prompts are left out of the data.' },
  maxNewTokens: {
    ...int(1, 1 << 17),
    default: 64,
    label: 'Response budget',
    help: 'Longest response in tokens; a response cut here has no closing </answer> and gets reward 0.',
  },
  temperature: {
    ...num(1e-3, 100),
    default: 1.0,
    label: 'Temperature',
    help: "1.0 samples from the model's own distribution (recipe). Lower makes the G answers more alike, so fewer groups have any reward spread to learn from.",
  },
  topP: {
    ...num(1e-6, 1),
    default: 1.0,
    label: 'Top-p',
    help: 'Sample only from the smallest set of tokens holding this much probability (recipe 1.0 = all).',
  },
  clipLow: {
    ...num(0, 0.999),
    default: 0.2,
    label: 'Clip (low)',
    help: 'A token whose ratio falls below 1 − this while its advantage is negative gets no further push down: each update stays near the policy that sampled (recipe 0.2).',
  },
  clipHigh: {
    ...num(0, 100),
    default: 0.2,
    label: 'Clip (high)',
    help: "The same bound above 1 for positive advantages. Raising it over the low clip is DAPO's clip-higher: rare good tokens may grow faster, which keeps entropy from collapsing.",
  },
  clipC: {
    ...num(0, 1e6),
    default: 3,
    label: 'Dual clip c',
    help: "For negative advantages, caps the loss of a token whose ratio exceeds c, so one very unlikely token cannot dominate (verl's clip_ratio_c; 0 = off).",
  },
  klCoef: {
    ...num(0, 1e3),
    default: 0.01,
    label: 'KL coefficient',
    help: 'Weight of a k3 KL penalty that pulls the policy back toward the frozen start model (recipe 0.01). 0 drops it and the reference model, as DAPO does.',
  },
  lossAgg: {
    ...oneOf(['token-mean', 'seq-mean-token-mean']),
    default: 'token-mean',
    label: 'Loss aggregation',
    help: 'token-mean averages over every response token of the batch (recipe), so long answers weigh more; seq-mean-token-mean averages within each answer first, so every answer weighs the same.',
  },
  normalizeStd: {
    ...bool,
    default: true,
    label: 'Divide by group std',
    help: "GRPO divides r − mean by the group's reward spread. Off is Dr. GRPO: r − mean only, which does not inflate groups that are nearly all right or all wrong.",
  },
  dropEqualGroups: {
    ...bool,
    default: false,
    label: 'Drop equal groups (DAPO)',
    help: 'A group whose G rewards are all equal has zero advantage and teaches nothing; DAPO leaves such groups out instead of letting them dilute the batch.',
  },
  // lr 1e-6 is tuned for 3B-32B models and does not move one of a few million weights. On a
  // 20k-weight model GRPO learned at 4e-3 after SFT at 2e-2 and was erratic at 1e-2
  // (test/recipe/grpo-learning.test.ts); the SFT presets train at 1e-3, so ~10x below that.
  lr: {
    ...num(0, 1),
    default: 1e-4,
    label: 'Learning rate',
    help: 'Peak step size. The recipe\'s 1e-6 is for 3B+ models and would not move a micro model; about 10× below its SFT rate works here. Too high, and the answer every prompt gets moves instead of the reading: on synth scans 5e-4 turned every answer to "Yes" within 4 steps, 1e-4 fixed half the blind spot and kept the rest (docs/recipe-results.md).',
  },
  schedule: {
    ...oneOf(['constant', 'cosine']),
    default: 'constant',
    label: 'Schedule',
    help: 'constant keeps the rate (the recipe, for billion-parameter models); cosine decays it to its floor over the run, which keeps a small model from undoing its gains late in a short run.',
  },
  warmupRatio: { ...num(0, 0.99), default: 0, label: 'Warmup', help: 'Fraction of the steps over which the rate rises linearly from 0 (recipe 0).' },
  minLrRatio: { ...num(0, 1), default: 0.1, label: 'Cosine floor', help: 'Fraction of the peak rate where the cosine schedule ends.' },
  weightDecay: { ...num(0, 1), default: 0.01, label: 'Weight decay', help: 'AdamW decay toward 0 (recipe 0.01).' },
  gradClip: { ...num(0), default: 1.0, label: 'Gradient clip', help: 'Gradient norm bound (recipe 1.0; 0 = off).' },
  activationCheckpointing: {
    ...bool,
    default: false,
    label: 'Activation checkpointing',
    help: "Keep only each block's input during the forward and recompute the block in the backward: the same gradients in much less activation memory (one block's saved tensors instead of one per layer), for about a third more compute. For pretrained models (SmolVLM) on small GPUs.",
  },
  // verl's actor AdamW betas.
  beta1: { ...num(0, 0.999999), default: 0.9, label: 'Adam β1', help: "verl's actor uses 0.9." },
  beta2: { ...num(0, 0.999999), default: 0.999, label: 'Adam β2', help: "verl's actor uses 0.999." },
  eps: { ...num(1e-12, 1e-3), default: 1e-8, label: 'Adam ε', help: 'Keeps the update finite where the squared-gradient average is ~0.' },
  padMultiple: { ...int(1, 4096), default: 16, label: 'Pad to a multiple of', help: 'Rounds padded lengths up so fewer activation shapes are allocated.' },
  eval: {
    type: 'object',
    fields: {
      every: { ...int(0), default: 25, label: 'Evaluate every', help: 'Steps between greedy answers to held-out questions (0 = only at start and end).' },
      items: { ...int(0), default: 32, label: 'Questions', help: 'Held-out questions answered each time (0 = no evaluation).' },
      maxNewTokens: { ...int(1, 1 << 16), default: 96, label: 'Answer budget', help: 'Longest greedy answer in tokens.' },
      batchSize: { ...int(1, 4096), default: 32, label: 'Evaluation batch', help: 'Held-out answers decoded together.' },
      atStart: { ...bool, default: true, label: 'Evaluate at start', help: 'Also evaluate the start model: the "before" of the comparison.' },
      samples: { ...int(0), default: 4, label: 'Answers kept', help: 'Held-out answers kept in the log per evaluation.' },
    },
  },
  checkpoint: {
    type: 'object',
    fields: {
      every: {
        ...int(0),
        default: 50,
        label: 'Checkpoint every',
        help: 'Steps between checkpoints. Closing the tab mid-run loses at most the steps since the last one; the run resumes from it.',
      },
      keep: { ...int(1), default: 2, label: 'Checkpoints kept', help: 'Older periodic checkpoints are deleted to save space; the final one always stays.' },
      optimizer: {
        ...bool,
        default: true,
        label: 'Save optimizer state',
        help: 'Keep the AdamW moments so a resumed run continues exactly as if never stopped.',
      },
    },
  },
  logRollouts: {
    ...bool,
    default: true,
    label: 'Log rollouts',
    help: 'Write every group (prompt, G responses, rewards, advantages, token ratios) for the Rollouts page.',
  },
  prompt: {
    type: 'object',
    fields: {
      newline: {
        ...oneOf(['literal', 'real']),
        default: 'literal',
        label: 'Prompt line break',
        help: "The recipe's instruction has a literal backslash-n (the released code) or a real newline.",
      },
    },
  },
};

/** Defaults: the recipe's GRPO settings (§5) at micro scale (see GRPO_FIELDS). */
export const GRPO_DEFAULTS: GrpoConfig = defaultsOf(GRPO_FIELDS);
/** Types and ranges of every key, as config files and --set are checked. */
export const GRPO_SPEC: Record<string, FieldSpec> = specOf(GRPO_FIELDS);

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function preset(over: DeepPartial<GrpoConfig>): GrpoConfig {
  return checkConfig(over, GRPO_DEFAULTS, GRPO_SPEC, 'GRPO preset');
}

/** Named starting points; a config file picks one with "extends" and overrides what it needs. */
export const GRPO_PRESETS: Record<string, { describe: string; config: GrpoConfig }> = {
  'synth-micro': {
    describe: 'the recipe on synth text questions at micro scale (start from a synth-micro SFT run with --model); lr decays by cosine, as small models need',
    config: preset({ schedule: 'cosine' }),
  },
  'synth-micro-noisy': {
    describe:
      'GRPO of the learning proof (test/recipe/recipe-synth.test.ts) from a `thinker sft --config synth-micro-noisy` checkpoint (--model): the first 16 of its synth items with the gold answers as the reward, the same held-out set, 8 steps of 4 prompts x 8 responses',
    // lr 5e-4: from the proof's SFT checkpoint held-out accuracy went 76.6% -> 100% by step 4 and
    // stayed (constant rate); at 1e-3 it reached 100% and fell back to 90.6% by step 8 and 75% by
    // step 12 (fan-in init, SwiftShader). The cosine decay keeps late steps from undoing early ones.
    config: preset({
      data: { synth: { ...SYNTH_PROOF_DATA, n: 16 } },
      steps: 8,
      promptsPerStep: 4,
      groupSize: 8,
      microBatch: 16,
      rolloutBatch: 32,
      maxNewTokens: 48,
      lr: 5e-4,
      schedule: 'cosine',
      eval: { every: 4, items: 64, maxNewTokens: 48, batchSize: 32, samples: 64 },
      checkpoint: { every: 0, keep: 1 },
    }),
  },
  'vqa-closed': {
    describe:
      'GRPO after `thinker sft --config vqa-closed` (--model its checkpoint) on the same VQA-RAD + SLAKE closed training questions: 8 prompts x 8 answers a step, cosine lr; set data.dataset.dataDir',
    config: preset({
      data: { source: 'dataset', dataset: { name: 'vqa-rad,slake', split: 'train', heldOut: 64 } },
      steps: 20,
      promptsPerStep: 8,
      groupSize: 8,
      microBatch: 32,
      rolloutBatch: 64,
      maxNewTokens: 16,
      maxPromptTokens: 240,
      lr: 3e-4,
      schedule: 'cosine',
      warmupRatio: 0,
      minLrRatio: 0.1,
      eval: { every: 10, items: 64, maxNewTokens: 16, batchSize: 32, samples: 8 },
      checkpoint: { every: 10, keep: 1 },
    }),
  },
  'synth-micro-dr-grpo': {
    describe: 'synth-micro with Dr. GRPO advantages (r - mean, no std division)',
    config: preset({ normalizeStd: false }),
  },
  'synth-micro-dapo': {
    describe: 'synth-micro with DAPO: clip-higher (0.2 / 0.28), groups with equal rewards dropped, no KL',
    config: preset({ clipHigh: 0.28, dropEqualGroups: true, klCoef: 0 }),
  },
  'smolvlm-lora-grpo': {
    describe:
      'LoRA GRPO of a SmolVLM after `smolvlm-lora-sft` (--model its checkpoint) on the VQA-RAD + SLAKE closed training questions: the recipe (G 8, clip 0.2, KL 0.01 to the start model) scaled to one consumer GPU: 4 prompts x 8 answers a step, answers of at most 32 tokens, rank 16 adapters',
    config: preset({
      data: { source: 'dataset', dataset: { name: 'vqa-rad,slake', split: 'train', heldOut: 64 } },
      steps: 100,
      promptsPerStep: 4,
      groupSize: 8,
      microBatch: 8,
      rolloutBatch: 32,
      maxNewTokens: 32,
      maxPromptTokens: 320,
      lora: { rank: 16, alpha: 32, targets: 'all', base: 'f16' },
      activationCheckpointing: true,
      lr: 2e-5,
      schedule: 'cosine',
      minLrRatio: 0.1,
      eval: { every: 25, items: 64, maxNewTokens: 32, batchSize: 16, samples: 8 },
      checkpoint: { every: 25, keep: 2 },
    }),
  },
  paper: {
    describe:
      'the released runs (G 8, 256 prompts and 2 updates per step, lr 1e-6 constant, clip 0.2, KL 0.01, 2048 + 4096 tokens, 5 epochs); set model and data',
    config: preset({
      data: { source: 'dataset' },
      steps: 0,
      epochs: 5,
      seed: 42,
      promptsPerStep: 256,
      microBatch: 16,
      rolloutBatch: 64,
      maxPromptTokens: 2048,
      maxNewTokens: 4096,
      lr: 1e-6,
      eval: { every: 50, items: 128, maxNewTokens: 4096, batchSize: 16 },
      checkpoint: { every: 50 },
    }),
  },
};

/**
 * A config from a preset name or a parsed JSON object. An object may name a preset in "extends"
 * (default: the plain defaults); its other keys override it. `where` names the file in errors.
 */
export function grpoConfigFrom(input: string | unknown, where = typeof input === 'string' ? `preset "${input}"` : 'GRPO config'): GrpoConfig {
  return configFrom(input, { presets: GRPO_PRESETS, defaults: GRPO_DEFAULTS, spec: GRPO_SPEC, check: checkGrpoConfig, where });
}

/**
 * Apply `key.path=value` overrides (the CLI's --set): the value is JSON when it parses as JSON,
 * else a plain string. Checked like a config file.
 */
export function applyGrpoOverrides(cfg: GrpoConfig, sets: string[], where = '--set', crossCheck = true): GrpoConfig {
  return applySets(cfg, sets, GRPO_SPEC, crossCheck ? checkGrpoConfig : (c) => c, where);
}

/** Checks across fields that the per-field spec cannot express. */
export function checkGrpoConfig(c: GrpoConfig, where: string): GrpoConfig {
  if (c.groupSize < 2) {
    throw new InputError(where, `groupSize must be at least 2: with one response per prompt every advantage (reward - group mean) is 0, so nothing is learned`);
  }
  if (c.clipC !== 0 && c.clipC <= 1) throw new InputError(where, `clipC must be 0 (off) or > 1, got ${c.clipC}`);
  if (c.steps === 0 && c.epochs === 0) throw new InputError(where, 'steps and epochs are both 0: nothing to train');
  if (c.promptsPerStep * c.groupSize < c.updatesPerStep) {
    throw new InputError(
      where,
      `updatesPerStep ${c.updatesPerStep} exceeds the ${c.promptsPerStep * c.groupSize} responses of a step (promptsPerStep x groupSize)`,
    );
  }
  const d = c.data;
  if (d.source === 'dataset') {
    if (!d.dataset.name) throw new InputError(where, 'data.source is "dataset" but data.dataset.name is empty');
    if (!d.dataset.dataDir) throw new InputError(where, 'data.source is "dataset" but data.dataset.dataDir is empty');
  }
  if (d.source === 'file' && !d.file.path) throw new InputError(where, 'data.source is "file" but data.file.path is empty');
  if (d.source === 'synth') {
    const s = d.synth;
    validateSynthOptions({ ...s.options, n: s.n, kind: s.kind, level: s.level, seed: s.seed, split: 'train' }, `${where}: data.synth`);
    if (c.eval.items > 0 && s.evalN === 0) throw new InputError(where, `eval.items is ${c.eval.items} but data.synth.evalN is 0 (no held-out items)`);
  }
  return c;
}

/** Steps of the run: `steps`, or `epochs` passes over n prompts, promptsPerStep at a time. */
export function totalSteps(c: Pick<GrpoConfig, 'steps' | 'epochs' | 'promptsPerStep'>, nItems: number): number {
  return c.steps > 0 ? c.steps : Math.max(1, Math.ceil((c.epochs * nItems) / c.promptsPerStep));
}

/** The trainer's options, for a run of `steps` steps (the schedule spans them). */
export function grpoOptions(c: GrpoConfig, steps: number): GrpoOptions {
  return {
    groupSize: c.groupSize,
    promptsPerStep: c.promptsPerStep,
    updatesPerStep: c.updatesPerStep,
    microBatch: c.microBatch,
    rolloutBatch: c.rolloutBatch,
    maxNewTokens: c.maxNewTokens,
    temperature: c.temperature,
    topP: c.topP,
    loss: { clipLow: c.clipLow, clipHigh: c.clipHigh, clipC: c.clipC, klCoef: c.klCoef, aggregation: c.lossAgg },
    advantage: { normalizeStd: c.normalizeStd, dropEqualGroups: c.dropEqualGroups },
    optim: { lr: c.lr, beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay, gradClip: c.gradClip },
    checkpoint: c.activationCheckpointing,
    seed: c.seed,
    prompt: { newline: c.prompt.newline },
    padMultiple: c.padMultiple,
    schedule: { kind: c.schedule, warmup: Math.ceil(c.warmupRatio * steps), total: steps, minRatio: c.minLrRatio },
  };
}
