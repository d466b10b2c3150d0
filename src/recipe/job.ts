// What every run driver (SFT, GRPO, and any later stage) shares: the job a host hands it (run
// folder, folder resolver, GPU, stop signal, events), its output, the end of a run, the items of a
// data source, and a model folder's config and tokenizer files.
import { InputError } from '../engine/errors';
import type { Gpu } from '../engine/gpu';
import type { QAItem } from '../task/schema';
import { generateSynth } from '../data/synth';
import { findDataset, DATASETS } from '../data/loaders';
import { joinWhere, readJson, type FileSource } from '../io/files';
import { configFromHfJson } from '../io/hf-config';
import { TOKENIZER_FILES } from '../io/tokenizer';
import { subWorkspace, type Workspace } from '../io/workspace';
import type { ModelConfig } from '../model/config';
import type { Model } from '../model/model';
import { checkLoraSpec, type LoraSpec } from '../model/lora';
import { readPeftAdapter } from '../io/peft';
import { seededRandom } from '../util/random';
import { loadRecipeJsonl } from '../data/loaders/recipe';
import type { SftConfig, SynthSpec } from './sft-config';
import type { RunEvent, RunInfo } from './run-events';
import type { ResumePoint, RunRecord } from './run-io';

/** The synth generator's call (src/data/synth generateSynth); it may return the items or { items }. */
export type SynthGenerator = (
  o: { n: number; kind: string; level: number; seed: number; split: 'train' | 'test' } & Record<string, unknown>,
) => QAItem[] | { items: QAItem[] } | Promise<QAItem[] | { items: QAItem[] }>;

/** Maps a folder named in a config (model.init, model.tokenizer, data.dataset.dataDir, the GRPO start model) to a workspace; `where` is the key, for errors. */
export type FolderResolver = (ref: string, where: string) => Workspace;

/** What every run driver takes besides its config. */
export interface RunJob {
  /** The run folder (run.json, metrics, checkpoints). */
  run: Workspace;
  /** The run's name in run.json (default: the folder's last name). */
  name?: string;
  open: FolderResolver;
  /** The device, or how to get one: called only once every input has been checked. */
  gpu: Gpu | (() => Promise<Gpu>);
  /** Ends the run after its current step with a checkpoint. */
  signal?: AbortSignal;
  /** The status a run ended by `signal` gets (default 'stopped'). */
  stopStatus?: () => 'paused' | 'stopped';
  onEvent?: (e: RunEvent) => void;
  /** Progress lines (the CLI prints them). */
  log?: (line: string) => void;
  /** No per-step log lines (the step events still come). */
  quiet?: boolean;
  generateSynth?: SynthGenerator;
  /** Names the config in messages (a file, a preset). */
  configWhere?: string;
  /** The run folder holds an older run, to clear (clearRun) once every input has been checked. */
  replace?: boolean;
}

/** Logging and events of a job. A UI callback that throws or rejects must not end a run. */
export function jobOutput(job: Pick<RunJob, 'onEvent' | 'log'>) {
  const log = job.log ?? (() => undefined);
  const emit = (e: RunEvent) => {
    if (!job.onEvent) return;
    try {
      const r = job.onEvent(e) as unknown;
      // Through comlink the callback returns a promise, which rejects when the page is gone.
      if (r && typeof (r as Promise<unknown>).then === 'function') (r as Promise<unknown>).catch(() => undefined);
    } catch {
      /* see above */
    }
  };
  return {
    log,
    emit,
    /** A line for the log and the UI. */
    say: (line: string) => {
      log(line);
      emit({ type: 'log', line });
    },
    progress: (phase: string, done: number, total: number) => emit({ type: 'progress', progress: { phase, done, total } }),
  };
}

export const runNameOf = (run: Workspace) => run.name.split(/[\\/]/).filter(Boolean).pop() ?? run.name;
export const acquireGpu = (g: RunJob['gpu']): Promise<Gpu> => (typeof g === 'function' ? g() : Promise.resolve().then(() => g));

/**
 * The end of a job: the final status in run.json and the 'end' event; a failure is recorded
 * (when the run had started) and rethrown.
 */
export async function finishRun(
  record: RunRecord | null,
  out: ReturnType<typeof jobOutput>,
  outcome: { stopped: boolean; stopStatus?: () => 'paused' | 'stopped' } | { error: unknown },
): Promise<RunInfo | null> {
  if (!record) return null;
  let info: RunInfo;
  if ('error' in outcome) {
    const msg = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
    info = await record.update({ status: 'failed', error: msg }).catch(() => record.info);
  } else {
    info = await record.update({ status: outcome.stopped ? (outcome.stopStatus?.() ?? 'stopped') : 'completed' });
  }
  out.emit({ type: 'end', run: info });
  return info;
}

// ---------------------------------------------------------------------------------------------
// Items

async function synthItems(gen: SynthGenerator, s: SynthSpec, split: 'train' | 'test', n: number): Promise<QAItem[]> {
  if (n === 0) return [];
  const r = await gen({ ...s.options, n, kind: s.kind, level: s.level, seed: s.seed, split });
  const items = Array.isArray(r) ? r : r?.items;
  if (!Array.isArray(items)) throw new InputError('data.synth', 'the synth generator returned no item list');
  return items;
}

/** The dataset's folder: DIR/<usual folder> when present, else DIR itself (DIR is the dataset folder). */
async function datasetFolder(ws: Workspace, sub: string, dataDir: string): Promise<Workspace> {
  if ((await ws.listDir('')).length === 0) throw new InputError(dataDir, 'data folder not found (or empty)');
  return (await ws.listDir(sub)).length > 0 ? subWorkspace(ws, sub) : ws;
}

/** The data source settings SFT and GRPO configs share. */
export type RunDataSource = Pick<SftConfig['data'], 'source' | 'synth' | 'dataset' | 'file'>;

/**
 * Training and held-out items of a run's data source, the same for SFT and GRPO so both stages of
 * a recipe see the same items: at most `evalItems` held out, a dataset's held-out pick seeded by `seed`.
 */
export async function loadRunItems(
  d: RunDataSource,
  o: { evalItems: number; seed: number; generateSynth?: SynthGenerator; open: FolderResolver },
): Promise<{ train: QAItem[]; eval: QAItem[]; dropped: number; notes: string[] }> {
  if (d.source === 'file') {
    const read = async (ref: string, key: string, limit: number) => {
      // The file's folder is the source, so image paths in it resolve beside it.
      const cut = Math.max(ref.lastIndexOf('/'), ref.lastIndexOf('\\'));
      const dir = cut < 0 ? '.' : ref.slice(0, cut) || '/';
      const base = ref.slice(cut + 1);
      const src = o.open(dir, key);
      if (!base || !(await src.exists(base))) throw new InputError(ref, 'data file not found');
      return loadRecipeJsonl(src, base, { limit: limit || undefined });
    };
    const train = await read(d.file.path, 'data.file.path', d.file.limit);
    const held = d.file.evalPath && o.evalItems > 0 ? await read(d.file.evalPath, 'data.file.evalPath', o.evalItems) : null;
    const notes = [`${d.file.path}: ${train.items.length} items (${train.report.dropped.length} dropped)`];
    if (held) notes.push(`${d.file.evalPath}: ${held.items.length} held-out items`);
    return { train: train.items, eval: held?.items ?? [], dropped: train.report.dropped.length, notes };
  }
  if (d.source === 'synth') {
    const gen = o.generateSynth ?? (generateSynth as unknown as SynthGenerator);
    const train = await synthItems(gen, d.synth, 'train', d.synth.n);
    const evalItems = await synthItems(gen, d.synth, 'test', Math.min(d.synth.evalN, o.evalItems));
    return {
      train,
      eval: evalItems,
      dropped: 0,
      notes: [`synth ${d.synth.kind} level ${d.synth.level}: ${train.length} train, ${evalItems.length} held-out (seed ${d.synth.seed})`],
    };
  }
  const ds = d.dataset;
  // Several datasets ("vqa-rad,slake") train together: their items in the order named, each
  // with its own split and limit, held-out items drawn from the union.
  const names = ds.name.split(',').map((x) => x.trim());
  let train: QAItem[] = [];
  let evalItems: QAItem[] = [];
  let dropped = 0;
  const notes: string[] = [];
  for (const name of names) {
    const spec = findDataset(name);
    if (!spec)
      throw new InputError('data.dataset.name', `unknown dataset "${name}" (choose ${DATASETS.map((x) => x.name).join(', ')}; several: "vqa-rad,slake")`);
    const src: FileSource = await datasetFolder(o.open(ds.dataDir, 'data.dataset.dataDir'), spec.dir, ds.dataDir);
    const loaded = await spec.load(src, { split: ds.split, limit: ds.limit || undefined });
    train = train.concat(loaded.items);
    dropped += loaded.report.dropped.length;
    notes.push(`${spec.name} ${ds.split}: ${loaded.report.out} items (${loaded.report.dropped.length} dropped by the loader)`);
    if (ds.evalSplit) {
      const held = (await spec.load(src, { split: ds.evalSplit, limit: ds.evalLimit || undefined })).items;
      evalItems = evalItems.concat(held);
      notes.push(`${spec.name} ${ds.evalSplit}: ${held.length} held-out items`);
    }
  }
  if (!ds.evalSplit) {
    // A seeded selection, so a sorted source file does not hand evaluation only its last topic.
    const random = seededRandom(o.seed + 7);
    const idx = train.map((_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    const held = new Set(idx.slice(0, Math.min(ds.heldOut, Math.floor(train.length / 2))));
    evalItems = train.filter((_, i) => held.has(i));
    train = train.filter((_, i) => !held.has(i));
    notes.push(`${held.size} items of ${ds.split} held out for evaluation`);
  }
  return { train, eval: evalItems, dropped, notes };
}

// ---------------------------------------------------------------------------------------------
// Model folders

/** The tokenizer files of a model folder, to copy into every checkpoint. */
export async function tokenizerFiles(src: FileSource): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for (const f of TOKENIZER_FILES) if (await src.exists(f)) files[f] = await src.read(f);
  return files;
}

/** config.json of a model folder, parsed and checked. */
export async function modelConfigOf(src: FileSource, where: string): Promise<ModelConfig> {
  if (!(await src.exists('config.json'))) throw new InputError(where, 'no config.json: not a model folder');
  return configFromHfJson(await readJson(src, 'config.json', where), joinWhere(where, 'config.json'));
}

/**
 * Put a run's LoRA adapters on its start model: the resumed checkpoint's (its adapter/ folder) or
 * fresh ones, and say what trains. `where` names the config key in errors.
 */
export async function attachLora(model: Model, lora: LoraSpec, where: string, resume: ResumePoint | null, seed: number, say: (line: string) => void) {
  const spec = checkLoraSpec(lora, model.cfg, where);
  if (resume) model.addLora(spec, (await readPeftAdapter(subWorkspace(resume.from, 'adapter'), model.cfg, joinWhere(resume.where, 'adapter'))).adapters);
  else model.addLora(spec, seed);
  say(
    `LoRA rank ${spec.rank} (alpha ${spec.alpha}) on ${spec.targets.join(', ')}: ${model.numTrainable.toLocaleString('en-US')} trainable weights, the start model frozen`,
  );
}
