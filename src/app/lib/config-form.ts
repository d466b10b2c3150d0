// The Train page's settings forms: which config fields it shows, in which groups, each with the
// sentence or two that explains it, so the page teaches the recipe while it is being set. A field's
// label and help, type, range and choices come from the config's field table (SFT_FIELDS,
// GRPO_FIELDS in src/recipe/), where the setting is declared; this file only lays the fields out.
// The whole config is checked by sftConfigFrom / grpoConfigFrom before a run starts, exactly as the
// CLI checks a file.
import { fieldAt, type AnyTable, type FieldSpec } from '../../recipe/validate';
import { SFT_FIELDS } from '../../recipe/sft-config';
import { GRPO_FIELDS } from '../../recipe/grpo-config';

export interface FieldDoc {
  /** Dotted path into the config. */
  path: string;
  label: string;
  help: string;
  /** For a documented key of a record (a synth option): its own spec, as the config spec has none. */
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

const synthSource = (c: unknown) => getPath(c, 'data.source') === 'synth';
const fileSource = (c: unknown) => getPath(c, 'data.source') === 'file';
// LoRA adapts a start model: its fields show once one is picked, and alpha/targets once a rank is set.
const hasStartModel = (c: unknown) => !!getPath(c, 'model.init');
const loraOn = (c: unknown) => hasStartModel(c) && Number(getPath(c, 'model.lora.rank')) > 0;

/** A form field: a path into the config's field table, which gives its label and help. */
export type FormField = string | { path: string; when?: FieldDoc['when']; control?: FieldDoc['control'] };

/** A group of the form as laid out here: title, intro and the fields' paths. */
export interface FormGroup {
  title: string;
  intro?: string;
  fields: FormField[];
  advanced?: boolean;
}

/**
 * The form's groups with each field's label and help from `table` (and, for a documented key of a
 * record such as a synth option, its own spec). A path the table does not document is an error.
 */
export function formGroups(table: AnyTable, layout: FormGroup[]): FieldGroup[] {
  return layout.map(({ fields, ...g }) => ({
    ...g,
    fields: fields.map((ff) => {
      const { path, when, control } = typeof ff === 'string' ? { path: ff, when: undefined, control: undefined } : ff;
      const f = fieldAt(table, path);
      if (!f) throw new Error(`form field ${path} is not in the config's field table`);
      return {
        path,
        label: f.label,
        help: f.help,
        ...(f.inRecord ? { spec: f.spec } : {}),
        ...(when ? { when } : {}),
        ...(control ? { control } : {}),
      };
    }),
  }));
}

const synthFields = (options: string[]): FormField[] => [
  ...['kind', 'level', 'n', 'evalN', 'seed'].map((k) => ({ path: `data.synth.${k}`, when: synthSource })),
  { path: 'data.synth.options.templates', control: 'templates', when: synthSource },
  ...options.map((k) => ({ path: `data.synth.options.${k}`, when: synthSource })),
];

export const SFT_GROUPS: FieldGroup[] = formGroups(SFT_FIELDS, [
  {
    title: 'Model',
    intro:
      'SFT trains a model from scratch at the chosen size, or continues from a saved model or checkpoint (chosen above): every weight, or LoRA adapters on a frozen start model.',
    fields: [
      'model.preset',
      'model.vision',
      { path: 'model.imageSplitting', when: hasStartModel },
      { path: 'model.lora.rank', when: hasStartModel },
      { path: 'model.lora.alpha', when: loraOn },
      { path: 'model.lora.targets', when: loraOn },
      { path: 'model.lora.base', when: loraOn },
    ],
  },
  {
    title: 'Data',
    intro: "SFT imitates a teacher's reasoning traces: the target is <think> trace </think> <answer> letter </answer>.",
    fields: [
      ...synthFields(['noisyFraction', 'noisyKind', 'sloppyFraction']),
      { path: 'data.file.limit', when: fileSource },
      'data.requireReasoning',
      'data.answer',
    ],
  },
  { title: 'Optimizer', fields: ['lr', 'schedule', 'warmupRatio', 'batchSize', 'gradAccum', 'weightDecay', 'gradClip', 'activationCheckpointing'] },
  { title: 'Length and checkpoints', fields: ['epochs', 'maxSteps', 'checkpoint.every', 'checkpoint.keep'] },
  { title: 'Held-out evaluation', fields: ['eval.every', 'eval.items', 'eval.maxNewTokens'] },
  {
    title: 'Advanced',
    advanced: true,
    fields: [
      'maxLength',
      'overflow',
      'pad',
      'padMultiple',
      'minLrRatio',
      'beta1',
      'beta2',
      'eps',
      'seed',
      'model.context',
      'model.vocabSize',
      'model.hiddenSize',
      'model.numLayers',
      'model.numHeads',
      'model.numKvHeads',
      'model.intermediateSize',
      'eval.batchSize',
      'eval.atStart',
      'eval.samples',
      'checkpoint.optimizer',
      'prompt.newline',
    ],
  },
]);

export const GRPO_GROUPS: FieldGroup[] = formGroups(GRPO_FIELDS, [
  {
    title: 'Data',
    intro: 'GRPO needs only questions with a checkable answer: the reward is computed, no teacher traces are used.',
    fields: [...synthFields([]), { path: 'data.file.limit', when: fileSource }],
  },
  {
    title: 'Sampling (rollouts)',
    intro: 'Each step samples G answers to each of a few questions from the current model and scores them with the verifiable reward.',
    fields: ['groupSize', 'promptsPerStep', 'temperature', 'topP', 'maxNewTokens'],
  },
  {
    title: 'Advantage',
    intro: "An answer's advantage is how much better its reward is than its group's average; its tokens are made likelier in proportion.",
    fields: ['normalizeStd', 'dropEqualGroups'],
  },
  {
    title: 'Policy loss',
    intro: 'The PPO-style objective: the probability ratio new/old of each token times its advantage, clipped.',
    fields: ['clipLow', 'clipHigh', 'klCoef', 'lossAgg', 'clipC'],
  },
  { title: 'Optimizer', fields: ['lr', 'schedule', 'updatesPerStep', 'weightDecay', 'gradClip', 'activationCheckpointing'] },
  {
    title: 'Adapters (LoRA)',
    intro: 'Train small adapters on the frozen start model instead of every weight: less memory, and the start model stays the KL reference.',
    fields: [
      'lora.rank',
      { path: 'lora.alpha', when: (c) => Number(getPath(c, 'lora.rank')) > 0 },
      { path: 'lora.targets', when: (c) => Number(getPath(c, 'lora.rank')) > 0 },
      { path: 'lora.base', when: (c) => Number(getPath(c, 'lora.rank')) > 0 },
    ],
  },
  { title: 'Length and checkpoints', fields: ['steps', 'checkpoint.every', 'checkpoint.keep'] },
  { title: 'Held-out evaluation', fields: ['eval.every', 'eval.items', 'eval.maxNewTokens'] },
  {
    title: 'Advanced',
    advanced: true,
    fields: [
      'epochs',
      'seed',
      'microBatch',
      'rolloutBatch',
      'maxPromptTokens',
      'beta1',
      'beta2',
      'eps',
      'padMultiple',
      'warmupRatio',
      'minLrRatio',
      'eval.batchSize',
      'eval.atStart',
      'eval.samples',
      'checkpoint.optimizer',
      'logRollouts',
      'prompt.newline',
    ],
  },
]);

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
