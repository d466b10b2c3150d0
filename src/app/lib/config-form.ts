// The Train page's settings forms: which config fields it shows, grouped, each with the sentence or
// two that explains it, so the page teaches the recipe while it is being set. Types, ranges and
// choices come from the configs' own specs (SFT_SPEC, GRPO_SPEC), and the whole config is checked
// by sftConfigFrom / grpoConfigFrom before a run starts, exactly as the CLI checks a file.
import type { FieldSpec } from '../../recipe/validate';

export interface FieldDoc {
  /** Dotted path into the config. */
  path: string;
  label: string;
  help: string;
  /** For keys under an `any` field (synth options), the field's own spec. */
  spec?: FieldSpec;
  /** Shown only when this holds (e.g. synth settings when the data source is synth). */
  when?: (cfg: unknown) => boolean;
  /** A control of its own instead of the one the spec's type gives. */
  control?: 'templates';
}

export interface FieldGroup {
  title: string;
  intro?: string;
  fields: FieldDoc[];
  /** Collapsed by default: settings most people keep. */
  advanced?: boolean;
}

/** The value at a dotted path, or undefined. */
export function getPath(obj: unknown, path: string): unknown {
  let at: unknown = obj;
  for (const k of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[k];
  }
  return at;
}

/**
 * A copy of `obj` with `value` at `path` (objects on the way are copied, missing ones created);
 * `undefined` removes the key, so an emptied synth option falls back to the generator's default.
 */
export function setPath<T>(obj: T, path: string, value: unknown): T {
  const keys = path.split('.');
  const root = { ...(obj as Record<string, unknown>) };
  let at = root;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) {
      if (value === undefined) delete at[k];
      else at[k] = value;
      return;
    }
    const next = at[k];
    const copy = next !== null && typeof next === 'object' && !Array.isArray(next) ? { ...(next as Record<string, unknown>) } : {};
    at[k] = copy;
    at = copy;
  });
  return root as T;
}

/** The spec of the field at a dotted path, or undefined when the path leaves the spec. */
export function specAt(spec: Record<string, FieldSpec>, path: string): FieldSpec | undefined {
  let fields: Record<string, FieldSpec> | undefined = spec;
  let f: FieldSpec | undefined;
  for (const k of path.split('.')) {
    if (!fields) return undefined;
    f = fields[k];
    if (!f) return undefined;
    fields = f.type === 'object' ? f.fields : undefined;
  }
  return f;
}

const frac: FieldSpec = { type: 'number', min: 0, max: 1 };
const synthSource = (c: unknown) => getPath(c, 'data.source') === 'synth';
const fileSource = (c: unknown) => getPath(c, 'data.source') === 'file';

const SYNTH_FIELDS: FieldDoc[] = [
  { path: 'data.synth.kind', label: 'Question kind', when: synthSource, help: 'Text questions (doses, lab values, vital signs), drawn scans (image), or both alternating (mixed). Image questions need a model with a vision encoder.' },
  { path: 'data.synth.level', label: 'Level', when: synthSource, help: 'Difficulty 1 to 3: more options, subtler differences, and more reasoning steps in the traces.' },
  { path: 'data.synth.n', label: 'Training items', when: synthSource, help: 'Questions generated for the train split.' },
  { path: 'data.synth.evalN', label: 'Held-out items', when: synthSource, help: 'Questions of the test split, whose content never occurs in training, for the periodic evaluation.' },
  { path: 'data.synth.seed', label: 'Data seed', when: synthSource, help: 'The same seed gives the same items in every browser and in the CLI.' },
  { path: 'data.synth.options.templates', label: 'Templates', spec: { type: 'any' }, control: 'templates', when: synthSource, help: 'The question templates items are drawn from; none ticked means every template of the kind. One template is the smallest task, the quickest to learn.' },
  { path: 'data.synth.options.noisyFraction', label: 'Wrong traces', spec: frac, when: synthSource, help: "Share of items whose teacher trace reasons to a wrong letter: a stand-in for a teacher's mistakes that SFT copies and a verifiable reward does not." },
  { path: 'data.synth.options.sloppyFraction', label: 'Sloppy traces', spec: frac, when: synthSource, help: 'Share of items whose trace skips its intermediate steps but still concludes correctly.' },
];

export const SFT_GROUPS: FieldGroup[] = [
  {
    title: 'Model',
    intro: 'SFT trains a model from scratch at the chosen size, or continues from a saved model or checkpoint (chosen above).',
    fields: [
      { path: 'model.preset', label: 'Size', help: 'micro (~0.3M parameters) learns the answer format in minutes even without a fast GPU; tiny (~2M) and up also learn accuracy, given a real GPU.' },
      { path: 'model.vision', label: 'Vision encoder', help: "auto adds a small image encoder when any training item has an image; on/off force it. A saved model brings its own." },
    ],
  },
  {
    title: 'Data',
    intro: "SFT imitates a teacher's reasoning traces: the target is <think> trace </think> <answer> letter </answer>.",
    fields: [
      ...SYNTH_FIELDS,
      { path: 'data.file.limit', label: 'Item limit', when: fileSource, help: 'Use at most this many training items (0 = all).' },
      { path: 'data.requireReasoning', label: 'Only items with traces', help: 'Leave out items without a reasoning trace: an empty <think> teaches the format but none of the reasoning.' },
      { path: 'data.answer', label: 'Answer letter', help: 'gold: the item\'s correct letter. trace: the letter the teacher\'s reasoning concludes with, right or wrong (unfiltered distillation; a noisy synth teacher\'s mistakes are then copied).' },
    ],
  },
  {
    title: 'Optimizer',
    fields: [
      { path: 'lr', label: 'Learning rate', help: "Peak step size. The paper's 1e-5 is for fine-tuning billion-parameter models; a micro model from scratch needs about 1e-3." },
      { path: 'schedule', label: 'Schedule', help: 'cosine decays the rate to its floor over the run after warmup (the paper); constant keeps it.' },
      { path: 'warmupRatio', label: 'Warmup', help: 'Fraction of the steps over which the rate rises linearly from 0, which keeps the first updates of a fresh model from blowing up (paper 0.05).' },
      { path: 'batchSize', label: 'Batch size', help: 'Examples per forward/backward pass; the paper uses 16 per optimizer step.' },
      { path: 'gradAccum', label: 'Gradient accumulation', help: 'Passes summed into one optimizer step: the effective batch is batch size × this, at the memory cost of one pass.' },
      { path: 'weightDecay', label: 'Weight decay', help: 'AdamW pulls every weight slightly toward 0 each step (paper 1e-4).' },
      { path: 'gradClip', label: 'Gradient clip', help: 'The gradient is scaled down when its norm exceeds this, so one odd batch cannot wreck the model (0 = off).' },
    ],
  },
  {
    title: 'Length and checkpoints',
    fields: [
      { path: 'epochs', label: 'Epochs', help: 'Passes over the training items (the paper: 5, checkpoints released at 3).' },
      { path: 'maxSteps', label: 'Max steps', help: 'Stop after this many optimizer steps instead (0 = the epochs decide).' },
      { path: 'checkpoint.every', label: 'Checkpoint every', help: 'Steps between checkpoints. Closing the tab mid-run loses at most the steps since the last one; the run resumes from it.' },
      { path: 'checkpoint.keep', label: 'Checkpoints kept', help: 'Older periodic checkpoints are deleted to save space; the final one always stays.' },
    ],
  },
  {
    title: 'Held-out evaluation',
    fields: [
      { path: 'eval.every', label: 'Evaluate every', help: 'Steps between greedy answers to the held-out questions: the accuracy and format curves (0 = only at start and end).' },
      { path: 'eval.items', label: 'Questions', help: 'Held-out questions answered each time (0 = no evaluation).' },
      { path: 'eval.maxNewTokens', label: 'Answer budget', help: 'Longest greedy answer in tokens; an answer cut here has no closing tag and fails the format.' },
    ],
  },
  {
    title: 'Advanced',
    advanced: true,
    fields: [
      { path: 'maxLength', label: 'Max example length', help: 'Longest prompt + answer in tokens.' },
      { path: 'overflow', label: 'Too-long examples', help: 'Drop them, or cut them at the max length (both are counted in the log).' },
      { path: 'pad', label: 'Padding', help: 'Pad each batch to its longest example, or always to the max length (fewer shapes, more work).' },
      { path: 'padMultiple', label: 'Pad to a multiple of', help: 'Rounds padded lengths up so fewer activation shapes are allocated.' },
      { path: 'minLrRatio', label: 'Cosine floor', help: 'Fraction of the peak rate where the cosine ends (paper 0).' },
      { path: 'beta1', label: 'Adam β1', help: 'Momentum of the gradient average (paper 0.9).' },
      { path: 'beta2', label: 'Adam β2', help: 'Decay of the squared-gradient average (paper 0.95).' },
      { path: 'eps', label: 'Adam ε', help: 'Keeps the update finite where the squared-gradient average is ~0.' },
      { path: 'seed', label: 'Seed', help: 'Initial weights and data order.' },
      { path: 'model.context', label: 'Context length', help: 'Longest sequence the model can read (0 = the preset\'s).' },
      { path: 'model.vocabSize', label: 'Vocabulary', help: 'Size of the byte-level BPE tokenizer trained on the items (0 = the preset\'s).' },
      { path: 'model.hiddenSize', label: 'Hidden size', help: 'Width override (0 = the preset\'s).' },
      { path: 'model.numLayers', label: 'Layers', help: 'Depth override (0 = the preset\'s).' },
      { path: 'model.numHeads', label: 'Attention heads', help: 'Heads override (0 = the preset\'s).' },
      { path: 'model.numKvHeads', label: 'KV heads', help: 'Grouped-query attention: heads sharing keys and values (0 = the preset\'s).' },
      { path: 'model.intermediateSize', label: 'MLP size', help: 'Feed-forward width override (0 = the preset\'s).' },
      { path: 'eval.batchSize', label: 'Evaluation batch', help: 'Held-out answers decoded together.' },
      { path: 'eval.atStart', label: 'Evaluate at start', help: 'Also answer the held-out questions before the first step: the "before" of the curves.' },
      { path: 'eval.samples', label: 'Answers kept', help: 'Held-out answers kept in the log per evaluation, for reading.' },
      { path: 'checkpoint.optimizer', label: 'Save optimizer state', help: 'Keep the AdamW moments in checkpoints so a resumed run continues exactly as if never stopped (triples their size).' },
      { path: 'prompt.newline', label: 'Prompt line break', help: "The recipe's instruction has a literal backslash-n (as in the released code) or, if you prefer, a real newline." },
    ],
  },
];

export const GRPO_GROUPS: FieldGroup[] = [
  {
    title: 'Data',
    intro: 'GRPO needs only questions with a checkable answer: the reward is computed, no teacher traces are used.',
    fields: [
      ...SYNTH_FIELDS.filter((f) => !/Fraction$/.test(f.path)),
      { path: 'data.file.limit', label: 'Item limit', when: fileSource, help: 'Use at most this many training items (0 = all).' },
    ],
  },
  {
    title: 'Sampling (rollouts)',
    intro: 'Each step samples G answers to each of a few questions from the current model and scores them with the verifiable reward.',
    fields: [
      { path: 'groupSize', label: 'Group size G', help: 'Answers sampled per question. Each is judged against the others of its group, so G sets how finely better and worse answers are told apart (recipe 8).' },
      { path: 'promptsPerStep', label: 'Questions per step', help: 'With G answers each, a step learns from this × G responses. The recipe uses 256; fewer keep a step to seconds on a small GPU.' },
      { path: 'temperature', label: 'Temperature', help: "1.0 samples from the model's own distribution (recipe). Lower makes the G answers more alike, so fewer groups have any reward spread to learn from." },
      { path: 'topP', label: 'Top-p', help: 'Sample only from the smallest set of tokens holding this much probability (recipe 1.0 = all).' },
      { path: 'maxNewTokens', label: 'Response budget', help: 'Longest response in tokens; a response cut here has no closing </answer> and gets reward 0.' },
    ],
  },
  {
    title: 'Advantage',
    intro: 'An answer\'s advantage is how much better its reward is than its group\'s average; its tokens are made likelier in proportion.',
    fields: [
      { path: 'normalizeStd', label: 'Divide by group std', help: 'GRPO divides r − mean by the group\'s reward spread. Off is Dr. GRPO: r − mean only, which does not inflate groups that are nearly all right or all wrong.' },
      { path: 'dropEqualGroups', label: 'Drop equal groups (DAPO)', help: 'A group whose G rewards are all equal has zero advantage and teaches nothing; DAPO leaves such groups out instead of letting them dilute the batch.' },
    ],
  },
  {
    title: 'Policy loss',
    intro: 'The PPO-style objective: the probability ratio new/old of each token times its advantage, clipped.',
    fields: [
      { path: 'clipLow', label: 'Clip (low)', help: 'A token whose ratio falls below 1 − this while its advantage is negative gets no further push down: each update stays near the policy that sampled (recipe 0.2).' },
      { path: 'clipHigh', label: 'Clip (high)', help: 'The same bound above 1 for positive advantages. Raising it over the low clip is DAPO\'s clip-higher: rare good tokens may grow faster, which keeps entropy from collapsing.' },
      { path: 'klCoef', label: 'KL coefficient', help: 'Weight of a k3 KL penalty that pulls the policy back toward the frozen start model (recipe 0.01). 0 drops it and the reference model, as DAPO does.' },
      { path: 'lossAgg', label: 'Loss aggregation', help: 'token-mean averages over every response token of the batch (recipe), so long answers weigh more; seq-mean-token-mean averages within each answer first, so every answer weighs the same.' },
      { path: 'clipC', label: 'Dual clip c', help: 'For negative advantages, caps the loss of a token whose ratio exceeds c, so one very unlikely token cannot dominate (verl\'s clip_ratio_c; 0 = off).' },
    ],
  },
  {
    title: 'Optimizer',
    fields: [
      { path: 'lr', label: 'Learning rate', help: 'Peak step size. The recipe\'s 1e-6 is for 3B+ models and would not move a micro model; about 10× below its SFT rate works here.' },
      { path: 'schedule', label: 'Schedule', help: 'constant keeps the rate (the recipe, for billion-parameter models); cosine decays it to its floor over the run, which keeps a small model from undoing its gains late in a short run.' },
      { path: 'updatesPerStep', label: 'Updates per step', help: 'The step\'s responses are split into this many mini-batches, one optimizer update each; from the second on the policy has moved, which is what the ratio and clip handle (recipe 2).' },
      { path: 'weightDecay', label: 'Weight decay', help: 'AdamW decay toward 0 (recipe 0.01).' },
      { path: 'gradClip', label: 'Gradient clip', help: 'Gradient norm bound (recipe 1.0; 0 = off).' },
    ],
  },
  {
    title: 'Length and checkpoints',
    fields: [
      { path: 'steps', label: 'Steps', help: 'GRPO steps to run (0 = the epochs decide).' },
      { path: 'checkpoint.every', label: 'Checkpoint every', help: 'Steps between checkpoints. Closing the tab mid-run loses at most the steps since the last one; the run resumes from it.' },
      { path: 'checkpoint.keep', label: 'Checkpoints kept', help: 'Older periodic checkpoints are deleted to save space; the final one always stays.' },
    ],
  },
  {
    title: 'Held-out evaluation',
    fields: [
      { path: 'eval.every', label: 'Evaluate every', help: 'Steps between greedy answers to held-out questions (0 = only at start and end).' },
      { path: 'eval.items', label: 'Questions', help: 'Held-out questions answered each time (0 = no evaluation).' },
      { path: 'eval.maxNewTokens', label: 'Answer budget', help: 'Longest greedy answer in tokens.' },
    ],
  },
  {
    title: 'Advanced',
    advanced: true,
    fields: [
      { path: 'epochs', label: 'Epochs', help: 'Passes over the questions when steps is 0.' },
      { path: 'seed', label: 'Seed', help: 'Question order and sampling; a resumed run repeats them exactly.' },
      { path: 'microBatch', label: 'Micro-batch', help: 'Sequences per forward/backward pass inside a mini-batch (memory vs speed).' },
      { path: 'rolloutBatch', label: 'Rollout batch', help: 'Sequences decoded together while sampling.' },
      { path: 'maxPromptTokens', label: 'Max prompt length', help: 'Questions with longer prompts are left out of the data.' },
      { path: 'beta1', label: 'Adam β1', help: 'verl\'s actor uses 0.9.' },
      { path: 'beta2', label: 'Adam β2', help: 'verl\'s actor uses 0.999.' },
      { path: 'eps', label: 'Adam ε', help: 'Keeps the update finite where the squared-gradient average is ~0.' },
      { path: 'padMultiple', label: 'Pad to a multiple of', help: 'Rounds padded lengths up so fewer activation shapes are allocated.' },
      { path: 'warmupRatio', label: 'Warmup', help: 'Fraction of the steps over which the rate rises linearly from 0 (recipe 0).' },
      { path: 'minLrRatio', label: 'Cosine floor', help: 'Fraction of the peak rate where the cosine schedule ends.' },
      { path: 'eval.batchSize', label: 'Evaluation batch', help: 'Held-out answers decoded together.' },
      { path: 'eval.atStart', label: 'Evaluate at start', help: 'Also evaluate the start model: the "before" of the comparison.' },
      { path: 'eval.samples', label: 'Answers kept', help: 'Held-out answers kept in the log per evaluation.' },
      { path: 'checkpoint.optimizer', label: 'Save optimizer state', help: 'Keep the AdamW moments so a resumed run continues exactly as if never stopped.' },
      { path: 'logRollouts', label: 'Log rollouts', help: 'Write every group (prompt, G responses, rewards, advantages, token ratios) for the Rollouts page.' },
      { path: 'prompt.newline', label: 'Prompt line break', help: "The recipe's instruction has a literal backslash-n (the released code) or a real newline." },
    ],
  },
];

/** Leaf paths of a spec ("a.b.c"), for checking that a form covers a config. */
export function leafPaths(spec: Record<string, FieldSpec>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, f] of Object.entries(spec)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (f.type === 'object') out.push(...leafPaths(f.fields, p));
    else out.push(p);
  }
  return out;
}

/**
 * Config keys the forms leave to other controls or to their defaults, with why; every other key of
 * the spec has a field above (test/app/config-form.test.ts holds the forms to that).
 */
export const SFT_NOT_IN_FORM: Record<string, string> = {
  'model.init': 'the start model picker above the form',
  'model.tokenizer': 'comes with the start model, or is trained on the items',
  'data.source': 'the question-source picker above the form (synth, or a stored dataset)',
  'data.dataset': 'folder datasets of the CLI; the browser keeps datasets in its own storage',
  'data.file.path': 'the question-source picker',
  'data.file.evalPath': 'the question-source picker',
  'data.synth.options': 'its keys are fields of their own (templates, wrong and sloppy traces)',
};

export const GRPO_NOT_IN_FORM: Record<string, string> = {
  model: 'the start model picker above the form',
  'data.source': 'the question-source picker above the form (synth, or a stored dataset)',
  'data.dataset': 'folder datasets of the CLI; the browser keeps datasets in its own storage',
  'data.file.path': 'the stored-dataset picker',
  'data.file.evalPath': 'the stored-dataset picker',
  'data.synth.options': 'templates has a field; the trace options matter only to SFT, as GRPO uses no traces',
};
