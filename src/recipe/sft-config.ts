// The SFT run config: every setting of recipe §4 with defaults scaled for the lab's small models,
// the data source, evaluation and checkpointing. A config is a named preset, or a JSON object
// (usually a file) that may start from a preset with "extends" and overrides only what it names.
// Everything is checked here, before any data is read or any GPU work starts: unknown keys, wrong
// types and out-of-range values are InputErrors naming the config and the key. Each setting is
// declared once, in SFT_FIELDS (type, range, default, the form's label and help), beside its line in
// SftConfig; the defaults, the spec and the Train page's form text are derived from the table.
import { InputError } from '../engine/errors';
import { PRESETS, validateConfig, type ModelConfig, type TextConfig } from '../model/config';
import { validateSynthOptions } from '../data/synth';
import { LORA_FIELDS, loraSpecOf, type LoraSettings } from './lora-config';
import {
  applySets,
  bool,
  checkConfig,
  configFrom,
  defaultsOf,
  int,
  num,
  oneOf,
  specOf,
  text,
  type FieldFor,
  type FieldSpec,
  type FieldTable,
} from './validate';

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
  /**
   * SmolVLM (Idefics3) start models: 'model' splits images as the checkpoint's processor says (up
   * to 4 x 4 tiles plus a global view for SmolVLM-256M: 1,088 image tokens); 'off' reads each image
   * as one tile (64 tokens). The checkpoints keep the choice.
   */
  imageSplitting: 'model' | 'off';
  /** LoRA adapters on the start model's text decoder (rank 0 = train every weight). */
  lora: LoraSettings;
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
  /** Recompute each text block in the backward instead of keeping its activations (Trainer checkpoint). */
  activationCheckpointing: boolean;
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

// The field tables: each setting's type and range, default, and the Train page's label and help.
// SFT_DEFAULTS and SFT_SPEC are derived from SFT_FIELDS, the form's labels too
// (src/app/lib/config-form.ts), so a new setting is one entry here plus its line in SftConfig.

/** The synth source's settings (SFT and GRPO alike). */
export const SYNTH_FIELDS: FieldTable<SynthSpec> = {
  kind: {
    ...oneOf(['text', 'image', 'mixed']),
    default: 'text',
    label: 'Question kind',
    help: 'Text questions (doses, lab values, vital signs), drawn scans (image), or both alternating (mixed). Image questions need a model with a vision encoder.',
  },
  level: { ...int(1, 3), default: 1, label: 'Level', help: 'Difficulty 1 to 3: more options, subtler differences, and more reasoning steps in the traces.' },
  n: { ...int(1), default: 512, label: 'Training items', help: 'Questions generated for the train split.' },
  evalN: {
    ...int(0),
    default: 32,
    label: 'Held-out items',
    help: 'Questions of the test split, whose content never occurs in training, for the periodic evaluation.',
  },
  seed: { ...int(0), default: 1, label: 'Data seed', help: 'The same seed gives the same items in every browser and in the CLI.' },
  options: {
    type: 'record',
    default: {},
    label: 'Generator options',
    help: 'Further options of the synth generator (templates, noisyFraction, sloppyFraction, imageSize, ...), checked by the generator.',
    keys: {
      templates: {
        spec: { type: 'any' },
        label: 'Templates',
        help: 'The question templates items are drawn from; none ticked means every template of the kind. One template is the smallest task, the quickest to learn.',
      },
      noisyFraction: {
        spec: { type: 'number', min: 0, max: 1 },
        label: 'Wrong traces',
        help: "Share of items whose teacher trace concludes with a wrong letter: a stand-in for a teacher's mistakes, which SFT copies and a verifiable reward can correct.",
      },
      noisyKind: {
        spec: oneOf(['misreading', 'conclusion'] as const),
        label: 'How traces are wrong',
        help: 'misreading: a wrong trace misreads the input and reasons on from it, so the student copies the misreading. conclusion: every step right, then another letter; the student learns to read the input from the steps and copies only the last mapping, which GRPO at lab sizes corrects far more easily.',
      },
      sloppyFraction: {
        spec: { type: 'number', min: 0, max: 1 },
        label: 'Sloppy traces',
        help: 'Share of items whose trace skips its intermediate steps but still concludes correctly.',
      },
    },
  },
};

/** The dataset source's settings (a loader by name over a data folder; the CLI's). */
export const DATASET_FIELDS: FieldTable<DatasetSourceSpec> = {
  name: { ...text, default: '', label: 'Dataset', help: 'A dataset the loaders know, e.g. medqa (several joined by commas: vqa-rad,slake).' },
  dataDir: { ...text, default: '', label: 'Data folder', help: "The folder holding the dataset's folder, or the dataset folder itself." },
  split: { ...text, default: 'train', label: 'Split', help: 'The split whose items are trained on.' },
  limit: { ...int(0), default: 0, label: 'Item limit', help: 'Use at most this many training items (0 = all).' },
  evalSplit: { ...text, default: '', label: 'Evaluation split', help: 'The split evaluated on (empty = hold out items of the training split).' },
  evalLimit: { ...int(0), default: 0, label: 'Evaluation limit', help: 'Evaluate at most this many items of the evaluation split (0 = all).' },
  heldOut: { ...int(0), default: 32, label: 'Held-out items', help: 'Items of the training split held out for evaluation when no evaluation split is named.' },
};

/** The file source's settings (JSONL in the recipe schema). */
export const RECIPE_FILE_FIELDS: FieldTable<RecipeFileSpec> = {
  path: { ...text, default: '', label: 'Training file', help: 'The training items, JSONL in the recipe schema.' },
  evalPath: { ...text, default: '', label: 'Held-out file', help: 'Held-out items for the periodic evaluation (empty = none).' },
  limit: { ...int(0), default: 0, label: 'Item limit', help: 'Use at most this many training items (0 = all).' },
};

/** The data source's choice, SFT and GRPO alike. */
export const DATA_SOURCE_FIELD: FieldFor<'synth' | 'dataset' | 'file'> = {
  ...oneOf(['synth', 'dataset', 'file']),
  default: 'synth',
  label: 'Question source',
  help: 'synth (generated), dataset (a loader by name over a data folder) or file (JSONL in the recipe schema: thinker curate, thinker distill, a lab dataset).',
};

/**
 * Every SFT setting. The defaults: the paper's optimizer settings (§4) with lr and sizes for a
 * micro model on synth.
 */
export const SFT_FIELDS: FieldTable<SftConfig> = {
  model: {
    type: 'object',
    fields: {
      preset: {
        ...oneOf(Object.keys(PRESETS)),
        default: 'micro',
        label: 'Size',
        help: 'micro (~0.3M parameters) learns the answer format in minutes even without a fast GPU; tiny (~2M) and up also learn accuracy, given a real GPU.',
      },
      init: {
        ...text,
        default: '',
        label: 'Start model',
        help: 'A Hugging Face folder to start from instead of training from scratch (empty = from scratch); its tokenizer comes with it.',
      },
      tokenizer: {
        ...text,
        default: '',
        label: 'Tokenizer',
        help: "A folder with tokenizer.json (empty = the start model's, or a byte-level BPE trained on the training items).",
      },
      hiddenSize: { ...int(0), default: 0, label: 'Hidden size', help: "Width override (0 = the preset's)." },
      numLayers: { ...int(0), default: 0, label: 'Layers', help: "Depth override (0 = the preset's)." },
      numHeads: { ...int(0), default: 0, label: 'Attention heads', help: "Heads override (0 = the preset's)." },
      numKvHeads: { ...int(0), default: 0, label: 'KV heads', help: "Grouped-query attention: heads sharing keys and values (0 = the preset's)." },
      intermediateSize: { ...int(0), default: 0, label: 'MLP size', help: "Feed-forward width override (0 = the preset's)." },
      context: { ...int(0), default: 0, label: 'Context length', help: "Longest sequence the model can read (0 = the preset's)." },
      vocabSize: { ...int(0), default: 0, label: 'Vocabulary', help: "Size of the byte-level BPE tokenizer trained on the items (0 = the preset's)." },
      vision: {
        ...oneOf(['auto', 'on', 'off']),
        default: 'auto',
        label: 'Vision encoder',
        help: 'auto adds a small image encoder when any training item has an image; on/off force it. A saved model brings its own.',
      },
      imageSplitting: {
        ...oneOf(['model', 'off']),
        default: 'model',
        label: 'Image tiles',
        help: "SmolVLM start models: 'model' splits each image into tiles as its processor does (up to 17 tiles, 1,088 tokens for SmolVLM-256M); 'off' reads it as one tile (64 tokens), ten times shorter sequences. Checkpoints keep the choice.",
      },
      lora: { type: 'object', fields: LORA_FIELDS },
    },
  },
  data: {
    type: 'object',
    fields: {
      source: DATA_SOURCE_FIELD,
      synth: { type: 'object', fields: SYNTH_FIELDS },
      dataset: { type: 'object', fields: DATASET_FIELDS },
      file: { type: 'object', fields: RECIPE_FILE_FIELDS },
      requireReasoning: {
        ...bool,
        default: true,
        label: 'Only items with traces',
        help: 'Leave out items without a reasoning trace: an empty <think> teaches the format but none of the reasoning.',
      },
      answer: {
        ...oneOf(['gold', 'trace']),
        default: 'gold',
        label: 'Answer letter',
        help: "gold: the item's correct letter. trace: the letter the teacher's reasoning concludes with, right or wrong (unfiltered distillation; a noisy synth teacher's mistakes are then copied).",
      },
    },
  },
  lr: {
    ...num(0, 1),
    default: 1e-3,
    label: 'Learning rate',
    help: "Peak step size. The paper's 1e-5 is for fine-tuning billion-parameter models; a micro model from scratch needs about 1e-3.",
  },
  warmupRatio: {
    ...num(0, 0.99),
    default: 0.05,
    label: 'Warmup',
    help: 'Fraction of the steps over which the rate rises linearly from 0, which keeps the first updates of a fresh model from blowing up (paper 0.05).',
  },
  schedule: {
    ...oneOf(['cosine', 'constant']),
    default: 'cosine',
    label: 'Schedule',
    help: 'cosine decays the rate to its floor over the run after warmup (the paper); constant keeps it.',
  },
  minLrRatio: { ...num(0, 1), default: 0, label: 'Cosine floor', help: 'Fraction of the peak rate where the cosine ends (paper 0).' },
  weightDecay: { ...num(0, 1), default: 1e-4, label: 'Weight decay', help: 'AdamW pulls every weight slightly toward 0 each step (paper 1e-4).' },
  beta1: { ...num(0, 0.999999), default: 0.9, label: 'Adam β1', help: 'Momentum of the gradient average (paper 0.9).' },
  beta2: { ...num(0, 0.999999), default: 0.95, label: 'Adam β2', help: 'Decay of the squared-gradient average (paper 0.95).' },
  eps: { ...num(1e-12, 1e-3), default: 1e-8, label: 'Adam ε', help: 'Keeps the update finite where the squared-gradient average is ~0.' },
  gradClip: {
    ...num(0),
    default: 1.0,
    label: 'Gradient clip',
    help: 'The gradient is scaled down when its norm exceeds this, so one odd batch cannot wreck the model (0 = off).',
  },
  activationCheckpointing: {
    ...bool,
    default: false,
    label: 'Activation checkpointing',
    help: "Keep only each block's input during the forward and recompute the block in the backward: the same gradients in much less activation memory (one block's saved tensors instead of one per layer), for about a third more compute. For pretrained models (SmolVLM) on small GPUs.",
  },
  batchSize: { ...int(1, 4096), default: 8, label: 'Batch size', help: 'Examples per forward/backward pass; the paper uses 16 per optimizer step.' },
  gradAccum: {
    ...int(1, 4096),
    default: 1,
    label: 'Gradient accumulation',
    help: 'Passes summed into one optimizer step: the effective batch is batch size × this, at the memory cost of one pass.',
  },
  epochs: { ...num(0, 10000), default: 3, label: 'Epochs', help: 'Passes over the training items (the paper: 5, checkpoints released at 3).' },
  maxSteps: { ...int(0), default: 0, label: 'Max steps', help: 'Stop after this many optimizer steps instead (0 = the epochs decide).' },
  maxLength: { ...int(8, 1 << 17), default: 256, label: 'Max example length', help: 'Longest prompt + answer in tokens.' },
  overflow: {
    ...oneOf(['drop', 'truncate']),
    default: 'drop',
    label: 'Too-long examples',
    help: 'Drop them, or cut them at the max length (both are counted in the log).',
  },
  pad: {
    ...oneOf(['longest', 'max']),
    default: 'longest',
    label: 'Padding',
    help: 'Pad each batch to its longest example, or always to the max length (fewer shapes, more work).',
  },
  padMultiple: { ...int(1, 4096), default: 8, label: 'Pad to a multiple of', help: 'Rounds padded lengths up so fewer activation shapes are allocated.' },
  seed: { ...int(0, 2 ** 31 - 1), default: 0, label: 'Seed', help: 'Initial weights and data order.' },
  eval: {
    type: 'object',
    fields: {
      every: {
        ...int(0),
        default: 50,
        label: 'Evaluate every',
        help: 'Steps between greedy answers to the held-out questions: the accuracy and format curves (0 = only at start and end).',
      },
      items: { ...int(0), default: 32, label: 'Questions', help: 'Held-out questions answered each time (0 = no evaluation).' },
      maxNewTokens: {
        ...int(1, 1 << 16),
        default: 96,
        label: 'Answer budget',
        help: 'Longest greedy answer in tokens; an answer cut here has no closing tag and fails the format.',
      },
      batchSize: { ...int(1, 4096), default: 32, label: 'Evaluation batch', help: 'Held-out answers decoded together.' },
      atStart: {
        ...bool,
        default: true,
        label: 'Evaluate at start',
        help: 'Also answer the held-out questions before the first step: the "before" of the curves.',
      },
      samples: { ...int(0), default: 4, label: 'Answers kept', help: 'Held-out answers kept in the log per evaluation, for reading.' },
    },
  },
  checkpoint: {
    type: 'object',
    fields: {
      every: {
        ...int(0),
        default: 100,
        label: 'Checkpoint every',
        help: 'Steps between checkpoints. Closing the tab mid-run loses at most the steps since the last one; the run resumes from it.',
      },
      keep: { ...int(1), default: 2, label: 'Checkpoints kept', help: 'Older periodic checkpoints are deleted to save space; the final one always stays.' },
      optimizer: {
        ...bool,
        default: true,
        label: 'Save optimizer state',
        help: 'Keep the AdamW moments in checkpoints so a resumed run continues exactly as if never stopped (triples their size).',
      },
    },
  },
  prompt: {
    type: 'object',
    fields: {
      newline: {
        ...oneOf(['literal', 'real']),
        default: 'literal',
        label: 'Prompt line break',
        help: "The recipe's instruction has a literal backslash-n (as in the released code) or, if you prefer, a real newline.",
      },
    },
  },
};

/** Defaults: the paper's optimizer settings (§4) with lr and sizes for a micro model on synth. */
export const SFT_DEFAULTS: SftConfig = defaultsOf(SFT_FIELDS);
/** Types and ranges of every key, as config files and --set are checked. */
export const SFT_SPEC: Record<string, FieldSpec> = specOf(SFT_FIELDS);

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

function preset(over: DeepPartial<SftConfig>): SftConfig {
  return checkConfig(over, SFT_DEFAULTS, SFT_SPEC, 'SFT preset');
}

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
  kind: 'text',
  level: 1,
  n: 2000,
  evalN: 64,
  seed: 1,
  options: { templates: ['triage_signs'], noisyFraction: 0.6, noisyAnswers: ['Yellow'], sloppyFraction: 0, fixedOptionOrder: true },
};
const SYNTH_PROOF_SFT: DeepPartial<SftConfig> = {
  model: { hiddenSize: 64, numHeads: 4, numKvHeads: 2, intermediateSize: 128, context: 192, vocabSize: 768 },
  data: { synth: SYNTH_PROOF_DATA, answer: 'trace' },
  lr: 3e-3,
  minLrRatio: 0.1,
  batchSize: 8,
  maxSteps: 120,
  maxLength: 192,
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
    describe:
      'the learning proof of test/recipe/recipe-synth.test.ts: a ~110k-parameter model from scratch on synth triage notes (fixed option order) whose teacher has a blind spot (misreads 60% of the yellow patients); SFT on its conclusions, then `thinker grpo --config synth-micro-noisy`',
    config: preset(SYNTH_PROOF_SFT),
  },
  'vqa-closed': {
    describe:
      'a tiny VLM (~180k parameters) from scratch on the closed training questions of VQA-RAD and SLAKE (English), answer only (they have no traces); set data.dataset.dataDir, or pick an imported set as the questions. `thinker demo vqa-closed` runs it and scores it on the closed test splits beside the majority and blind baselines',
    config: preset({
      // Width 64 (the micro preset's is 96) keeps the run within ~40 minutes on a 2-core CPU adapter;
      // the README's measured table is at this size.
      model: { preset: 'micro', vision: 'on', hiddenSize: 64, intermediateSize: 192, numHeads: 4, context: 256, vocabSize: 768 },
      data: { source: 'dataset', dataset: { name: 'vqa-rad,slake', split: 'train', heldOut: 64 }, requireReasoning: false, answer: 'gold' },
      lr: 3e-3,
      minLrRatio: 0.1,
      batchSize: 16,
      epochs: 2,
      maxLength: 256,
      eval: { every: 60, items: 64, maxNewTokens: 16, batchSize: 32, samples: 8 },
      checkpoint: { every: 100, keep: 1 },
    }),
  },
  'synth-tiny': {
    describe: 'tiny model (~2M) on more synth items: accuracy as well as format, on a real GPU',
    config: preset({
      model: { preset: 'tiny' },
      lr: 5e-4,
      batchSize: 16,
      epochs: 3,
      maxLength: 384,
      data: { synth: { n: 4000, evalN: 128 } },
      eval: { every: 200, items: 128 },
      checkpoint: { every: 500 },
    }),
  },
  'smolvlm-lora-sft': {
    describe:
      'LoRA SFT of a pretrained SmolVLM (set model.init to a HuggingFaceTB/SmolVLM-256M-Instruct or -500M folder: Models page download, or `thinker hub model`) on the VQA-RAD and SLAKE closed training questions, answer only; sized for one consumer GPU: rank 16 on every decoder projection, one tile per image, 4 x 4 sequences a step',
    config: preset({
      model: { imageSplitting: 'off', lora: { rank: 16, alpha: 32, targets: 'all', base: 'f16' } },
      activationCheckpointing: true,
      data: { source: 'dataset', dataset: { name: 'vqa-rad,slake', split: 'train', heldOut: 64 }, requireReasoning: false, answer: 'gold' },
      // LoRA trains at ~10-20x the full-fine-tuning rate (the paper's 1e-5 is for every weight).
      lr: 2e-4,
      minLrRatio: 0.1,
      batchSize: 4,
      gradAccum: 4,
      epochs: 1,
      maxLength: 384,
      overflow: 'drop',
      eval: { every: 50, items: 64, maxNewTokens: 16, batchSize: 8, samples: 8 },
      checkpoint: { every: 50, keep: 2 },
    }),
  },
  paper: {
    describe:
      "the paper's SFT settings (lr 1e-5, cosine, warmup 5%, weight decay 1e-4, betas 0.9/0.95, batch 16, 5 epochs) for fine-tuning a pretrained model; set model.init and data",
    config: preset({
      lr: 1e-5,
      batchSize: 16,
      gradAccum: 1,
      epochs: 5,
      maxLength: 4096,
      overflow: 'truncate',
      data: { source: 'dataset' },
      eval: { every: 500, items: 128, maxNewTokens: 1024, batchSize: 16 },
      checkpoint: { every: 1000 },
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
  if (loraSpecOf(c.model.lora, `${where}: model.lora`) && !c.model.init) {
    throw new InputError(where, 'model.lora adapts a start model: set model.init (a saved model or checkpoint), or set model.lora.rank to 0');
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
    vocabSize,
    hiddenSize: hidden,
    numLayers: m.numLayers || base.text.numLayers,
    numHeads: heads,
    numKvHeads: m.numKvHeads || Math.min(base.text.numKvHeads, heads),
    intermediateSize: m.intermediateSize || base.text.intermediateSize,
    headDim: hidden / heads,
    maxPositionEmbeddings: m.context || base.text.maxPositionEmbeddings,
  };
}

/** The schedule's warmup in steps: ceil(ratio * total), as transformers computes it. */
export const warmupSteps = (c: Pick<SftConfig, 'warmupRatio'>, totalSteps: number) => Math.ceil(c.warmupRatio * totalSteps);
