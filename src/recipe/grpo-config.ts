// The GRPO run config: every setting of recipe §5 (the released verl runs), the data source,
// held-out evaluation and checkpointing, laid out like the SFT config (src/recipe/sft-config.ts).
// A config is a named preset, or a JSON object (usually a file) that may start from a preset with
// "extends" and overrides only what it names. Everything is checked here, before any data is read
// or any GPU work starts: unknown keys, wrong types and out-of-range values (G < 1, ...) are
// InputErrors naming the config and the key.
import { InputError } from '../engine/errors';
import { validateSynthOptions } from '../data/synth';
import { applySets, checkConfig, configFrom, type FieldSpec } from './validate';
import { SYNTH_PROOF_DATA, type DatasetSourceSpec, type RecipeFileSpec, type SynthSpec } from './sft-config';
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
 * Defaults: the recipe's GRPO settings (§5) with sizes for a micro model on synth, started from
 * an SFT run of the synth-micro preset.
 */
export const GRPO_DEFAULTS: GrpoConfig = {
  model: '',
  data: {
    source: 'synth',
    synth: { kind: 'text', level: 1, n: 512, evalN: 32, seed: 1, options: {} },
    dataset: { name: '', dataDir: '', split: 'train', limit: 0, evalSplit: '', evalLimit: 0, heldOut: 32 },
    file: { path: '', evalPath: '', limit: 0 },
  },
  steps: 100,
  epochs: 0,
  seed: 0,
  groupSize: 8,
  // The recipe samples 256 prompts a step; 16 keeps a micro-model step to seconds.
  promptsPerStep: 16,
  updatesPerStep: 2,
  microBatch: 32,
  rolloutBatch: 64,
  // The recipe allows 2048 + 4096 tokens; the lab's models have contexts of 256-1024.
  maxPromptTokens: 192,
  maxNewTokens: 64,
  temperature: 1.0,
  topP: 1.0,
  clipLow: 0.2,
  clipHigh: 0.2,
  clipC: 3,
  klCoef: 0.01,
  lossAgg: 'token-mean',
  normalizeStd: true,
  dropEqualGroups: false,
  // lr 1e-6 is tuned for 3B-32B models and does not move one of a few million weights. On a
  // 20k-weight model GRPO learned at 4e-3 after SFT at 2e-2 and was erratic at 1e-2
  // (test/recipe/grpo-learning.test.ts); the SFT presets train at 1e-3, so ~10x below that.
  lr: 1e-4,
  schedule: 'constant',
  warmupRatio: 0,
  minLrRatio: 0.1,
  weightDecay: 0.01,
  gradClip: 1.0,
  // verl's actor AdamW betas.
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  padMultiple: 16,
  eval: { every: 25, items: 32, maxNewTokens: 96, batchSize: 32, atStart: true, samples: 4 },
  checkpoint: { every: 50, keep: 2, optimizer: true },
  logRollouts: true,
  prompt: { newline: 'literal' },
};

const num = (min?: number, max?: number, integer = false): FieldSpec => ({ type: 'number', min, max, integer });
const int = (min?: number, max?: number): FieldSpec => num(min, max, true);
const str = (oneOf?: readonly string[]): FieldSpec => ({ type: 'string', oneOf });
const obj = (fields: Record<string, FieldSpec>): FieldSpec => ({ type: 'object', fields });
const bool: FieldSpec = { type: 'boolean' };

export const GRPO_SPEC: Record<string, FieldSpec> = {
  model: str(),
  data: obj({
    source: str(['synth', 'dataset', 'file']),
    synth: obj({ kind: str(['text', 'image', 'mixed']), level: int(1, 3), n: int(1), evalN: int(0), seed: int(0), options: { type: 'record' } }),
    dataset: obj({ name: str(), dataDir: str(), split: str(), limit: int(0), evalSplit: str(), evalLimit: int(0), heldOut: int(0) }),
    file: obj({ path: str(), evalPath: str(), limit: int(0) }),
  }),
  steps: int(0), epochs: num(0, 10000), seed: int(0, 2 ** 31 - 1),
  groupSize: int(1, 1024), promptsPerStep: int(1, 1 << 16), updatesPerStep: int(1, 1024), microBatch: int(1, 4096), rolloutBatch: int(1, 4096),
  maxPromptTokens: int(1, 1 << 17), maxNewTokens: int(1, 1 << 17), temperature: num(1e-3, 100), topP: num(1e-6, 1),
  clipLow: num(0, 0.999), clipHigh: num(0, 100), clipC: num(0, 1e6), klCoef: num(0, 1e3),
  lossAgg: str(['token-mean', 'seq-mean-token-mean']), normalizeStd: bool, dropEqualGroups: bool,
  lr: num(0, 1), schedule: str(['constant', 'cosine']), warmupRatio: num(0, 0.99), minLrRatio: num(0, 1), weightDecay: num(0, 1), gradClip: num(0), beta1: num(0, 0.999999), beta2: num(0, 0.999999), eps: num(1e-12, 1e-3),
  padMultiple: int(1, 4096),
  eval: obj({ every: int(0), items: int(0), maxNewTokens: int(1, 1 << 16), batchSize: int(1, 4096), atStart: bool, samples: int(0) }),
  checkpoint: obj({ every: int(0), keep: int(1), optimizer: bool }),
  logRollouts: bool,
  prompt: obj({ newline: str(['literal', 'real']) }),
};

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
    describe: 'GRPO of the learning proof (test/recipe/recipe-synth.test.ts) from a `thinker sft --config synth-micro-noisy` checkpoint (--model): the first 16 of its synth items with the gold answers as the reward, the same held-out set, 8 steps of 4 prompts x 8 responses',
    // lr 5e-4: from the proof's SFT checkpoint held-out accuracy went 76.6% -> 100% by step 4 and
    // stayed (constant rate); at 1e-3 it reached 100% and fell back to 90.6% by step 8 and 75% by
    // step 12 (fan-in init, SwiftShader). The cosine decay keeps late steps from undoing early ones.
    config: preset({
      data: { synth: { ...SYNTH_PROOF_DATA, n: 16 } },
      steps: 8, promptsPerStep: 4, groupSize: 8, microBatch: 16, rolloutBatch: 32, maxNewTokens: 48, lr: 5e-4, schedule: 'cosine',
      eval: { every: 4, items: 64, maxNewTokens: 48, batchSize: 32, samples: 64 },
      checkpoint: { every: 0, keep: 1 },
    }),
  },
  'vqa-closed': {
    describe: 'GRPO after `thinker sft --config vqa-closed` (--model its checkpoint) on the same VQA-RAD + SLAKE closed training questions: 8 prompts x 8 answers a step, cosine lr; set data.dataset.dataDir',
    config: preset({
      data: { source: 'dataset', dataset: { name: 'vqa-rad,slake', split: 'train', heldOut: 64 } },
      steps: 20, promptsPerStep: 8, groupSize: 8, microBatch: 32, rolloutBatch: 64, maxNewTokens: 16, maxPromptTokens: 240,
      lr: 3e-4, schedule: 'cosine', warmupRatio: 0, minLrRatio: 0.1,
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
  'paper': {
    describe: 'the released runs (G 8, 256 prompts and 2 updates per step, lr 1e-6 constant, clip 0.2, KL 0.01, 2048 + 4096 tokens, 5 epochs); set model and data',
    config: preset({
      data: { source: 'dataset' }, steps: 0, epochs: 5, seed: 42, promptsPerStep: 256, microBatch: 16, rolloutBatch: 64,
      maxPromptTokens: 2048, maxNewTokens: 4096, lr: 1e-6,
      eval: { every: 50, items: 128, maxNewTokens: 4096, batchSize: 16 }, checkpoint: { every: 50 },
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
    throw new InputError(where, `updatesPerStep ${c.updatesPerStep} exceeds the ${c.promptsPerStep * c.groupSize} responses of a step (promptsPerStep x groupSize)`);
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
    seed: c.seed,
    prompt: { newline: c.prompt.newline },
    padMultiple: c.padMultiple,
    schedule: { kind: c.schedule, warmup: Math.ceil(c.warmupRatio * steps), total: steps, minRatio: c.minLrRatio },
  };
}
