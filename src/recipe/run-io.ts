// What a training run leaves in its run folder, over a Workspace (src/io/workspace.ts), so the
// same code writes a directory in Node and OPFS in the browser. A run folder holds:
//
//   run.json                 RunInfo (src/recipe/run-events.ts): name, kind, status, step, checkpoints
//   run_config.json          the resolved config the run started with
//   metrics.jsonl            one JSON object per line; rows with a "step" are per-step metrics
//   rollouts.jsonl           GRPO: one group record per line (prompt, responses, rewards, ratios)
//   summary.json             written at the end (also when stopped)
//   checkpoint-<step>/       Hugging Face model folders (config.json, model.safetensors,
//                            tokenizer.json, ...) plus:
//     trainer_state.json     RunState: step, epoch, seed, data position, config
//     optimizer.safetensors  AdamW moments m.<param> / v.<param> (optional)
//     .complete              written last by Workspace.writeFolder
//
// A checkpoint is whole when writeFolder finished it (isCompleteFolder), so a tab closed or a
// process killed mid-save leaves the previous checkpoint as the last good one. transformers
// ignores the extra files, so every checkpoint is also a plain model folder.
//
// Resuming: `findResume(ws, kind)` takes a checkpoint folder or a run folder (then its newest
// complete checkpoint) and parses trainer_state.json; load the weights, then `restoreOptimizer`
// puts the AdamW moments back and `trainer.step = state.step` restores the bias-correction step,
// after which a deterministic data order continued from `state.position` reproduces the
// uninterrupted run. Without optimizer.safetensors the moments restart from zero (the run then
// differs slightly from an uninterrupted one).
import { InputError } from '../engine/errors';
import { download, upload } from '../engine/tensor';
import { encodeJson, joinWhere, readText } from '../io/files';
import { MemoryWorkspace, COMPLETE_MARKER, nodeWorkspace, subWorkspace, type Workspace } from '../io/workspace';
import { saveHfFolder } from '../io/hf-config';
import { savedWeights } from '../io/peft';
import { firstNonFinite, readSafetensors, writeSafetensors } from '../io/safetensors';
import type { Model } from '../model/model';
import type { RunInfo, RunKind, RunStatus } from './run-events';

export const RUN_FILE = 'run.json';
export const RUN_STATE_FILE = 'trainer_state.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const METRICS_FILE = 'metrics.jsonl';
export const ROLLOUTS_FILE = 'rollouts.jsonl';
export const SUMMARY_FILE = 'summary.json';
export const RUN_CONFIG_FILE = 'run_config.json';

export type CheckpointReason = 'periodic' | 'final' | 'interrupted';

/** trainer_state.json: enough to continue a run where it stopped. */
export interface RunState {
  format: 'thinker-run-state';
  version: 1;
  /** Which command wrote it: 'sft', 'grpo', 'curate'. A resume refuses another kind's state. */
  kind: string;
  /** Optimizer steps done. */
  step: number;
  /** Steps the run was planned for (the learning-rate schedule spans these). */
  totalSteps: number;
  /** Epochs done, fractional. */
  epoch: number;
  seed: number;
  /** Where the data stream stands, kind-specific (SFT: { epoch, index } in that epoch's shuffled order). */
  position: Record<string, number>;
  /** Identifies the training items (e.g. a hash of their hashes), so a resume on other data is refused. */
  dataFingerprint: string;
  /** The run's full config. */
  config: unknown;
  /** optimizer.safetensors is in the folder. */
  optimizer: boolean;
  reason: CheckpointReason;
  /** Training seconds so far, across resumes. */
  elapsedSeconds: number;
  savedAt: string;
  /** The latest metrics, for a quick look. */
  metrics?: Record<string, unknown>;
}

export const checkpointName = (step: number) => `checkpoint-${step}`;
const CHECKPOINT_RE = /^checkpoint-(\d+)$/;

/** The files a run writes in its folder, beside its checkpoint-<step> folders. */
export const RUN_ENTRY_FILES = [RUN_FILE, RUN_CONFIG_FILE, METRICS_FILE, ROLLOUTS_FILE, SUMMARY_FILE];
/** A name a run writes in its folder. */
export const isRunEntry = (name: string) => RUN_ENTRY_FILES.includes(name) || CHECKPOINT_RE.test(name);

/** Remove what a run left in its folder (a run that replaces an older one, RunJob.replace); other files stay. */
export async function clearRun(run: Workspace): Promise<void> {
  for (const e of await run.listDir('')) if (isRunEntry(e.name)) await run.remove(e.name);
}
/**
 * Remove what interrupted saves left in a run folder: checkpoint-<step> folders without their
 * marker (the tab closed or the process died mid-save) and the workspace's temp files of writes
 * cut off. They are never read, but they hold storage, and a checkpoint is most of it. Call before
 * a run writes to the folder, when no save is in progress. Returns the names removed.
 */
export async function cleanRunFolder(run: Workspace): Promise<string[]> {
  const removed = await run.removeLeftovers('');
  for (const e of await run.listDir('')) {
    if (e.kind === 'dir' && CHECKPOINT_RE.test(e.name) && !(await run.exists(`${e.name}/${COMPLETE_MARKER}`))) {
      await run.remove(e.name);
      removed.push(e.name);
    }
  }
  return removed.sort();
}

/** `file` inside folder `dir` of a workspace ('' = its root). */
const inDir = (dir: string, file: string) => (dir === '' ? file : `${dir}/${file}`);

/** A complete checkpoint: writeFolder finished it and it carries a trainer state. */
export async function isCheckpoint(ws: Workspace, dir: string): Promise<boolean> {
  return (await ws.exists(inDir(dir, COMPLETE_MARKER))) && (await ws.exists(inDir(dir, RUN_STATE_FILE)));
}

/** Steps of the complete checkpoint-<step> folders of a run folder, ascending. */
export async function listCheckpoints(run: Workspace): Promise<number[]> {
  const steps: number[] = [];
  for (const e of await run.listDir('')) {
    const m = e.kind === 'dir' ? CHECKPOINT_RE.exec(e.name) : null;
    if (m && (await isCheckpoint(run, e.name))) steps.push(Number(m[1]));
  }
  return steps.sort((a, b) => a - b);
}

/** The files of a checkpoint: the HF folder, trainer_state.json and (optionally) the AdamW moments. */
async function checkpointFiles(model: Model, state: RunState, extraFiles: Record<string, Uint8Array | string>, withOptimizer: boolean, baseModel: string) {
  const sink = new MemoryWorkspace('checkpoint');
  const extra: Record<string, Uint8Array | string> = { ...extraFiles };
  if (withOptimizer) {
    const tensors: { name: string; shape: number[]; data: Float32Array }[] = [];
    for (const spec of model.trainable) {
      tensors.push({ name: `m.${spec.name}`, shape: spec.shape, data: await download(model.gpu, model.adamM!.get(spec.name)) });
      tensors.push({ name: `v.${spec.name}`, shape: spec.shape, data: await download(model.gpu, model.adamV!.get(spec.name)) });
    }
    extra[OPTIMIZER_FILE] = writeSafetensors(tensors, { format: 'pt', step: String(state.step) });
  }
  extra[RUN_STATE_FILE] = JSON.stringify(state, null, 2) + '\n';
  // A LoRA run's checkpoint is the merged model (what Evaluate, Ask and export read) with the
  // adapters beside it in PEFT's format (what a resume and PEFT read).
  const { weights, files } = await savedWeights(model, baseModel);
  await saveHfFolder(sink, model.cfg, weights, { ...extra, ...files });
  return Object.fromEntries(sink.files);
}

/**
 * Save weights, tokenizer files (`extraFiles`), trainer_state.json and, when `optimizer` is set and
 * the model is training, the AdamW moments, as folder `dir` of `ws`, atomically.
 */
export async function saveRunCheckpoint(
  ws: Workspace,
  dir: string,
  model: Model,
  state: Omit<RunState, 'format' | 'version' | 'optimizer' | 'savedAt'>,
  extraFiles: Record<string, Uint8Array | string>,
  /** `baseModel`: the start model a LoRA run adapts, named in its adapter's config. */
  o: { optimizer: boolean; baseModel?: string },
): Promise<RunState> {
  const withOptimizer = o.optimizer && model.adamM !== null && model.adamV !== null;
  const full: RunState = { format: 'thinker-run-state', version: 1, ...state, optimizer: withOptimizer, savedAt: new Date().toISOString() };
  await ws.writeFolder(dir, await checkpointFiles(model, full, extraFiles, withOptimizer, o.baseModel ?? ''));
  return full;
}

/**
 * The checkpoint folder to resume from, relative to `ws` ('' = `ws` itself): `dir` when it is a
 * complete checkpoint, else the complete `checkpoint-<step>` inside it with the highest step.
 */
export async function findCheckpoint(ws: Workspace, dir = ''): Promise<string> {
  const where = dir === '' ? ws.name : joinWhere(ws.name, dir);
  if ((await ws.listDir(dir)).length === 0) throw new InputError(where, 'folder not found (or empty)');
  if (await isCheckpoint(ws, dir)) return dir;
  if (await ws.exists(inDir(dir, 'config.json'))) {
    if (await ws.exists(inDir(dir, RUN_STATE_FILE))) {
      throw new InputError(
        where,
        `an incomplete checkpoint (no ${COMPLETE_MARKER} marker: its save did not finish); resume from the run folder to take the last complete one`,
      );
    }
    throw new InputError(where, `a model folder without ${RUN_STATE_FILE}: not a run checkpoint to resume (start a new run from it with model.init)`);
  }
  const sub = dir === '' ? ws : subWorkspace(ws, dir);
  const steps = await listCheckpoints(sub);
  if (steps.length === 0) throw new InputError(where, `no complete checkpoint-<step> folder (with ${RUN_STATE_FILE} and ${COMPLETE_MARKER}) to resume from`);
  return inDir(dir, checkpointName(steps[steps.length - 1]));
}

/** Parse and check trainer_state.json of checkpoint folder `dir` of `ws`; `kind` must match the run resuming it. */
export async function readRunState(ws: Workspace, dir: string, kind?: string): Promise<RunState>;
/** Node convenience: the checkpoint folder by its path. */
export async function readRunState(dir: string, kind?: string): Promise<RunState>;
export async function readRunState(a: Workspace | string, b?: string, c?: string): Promise<RunState> {
  const [ws, dir, kind] = typeof a === 'string' ? [nodeWorkspace(a), '', b] : [a, b ?? '', c];
  const rel = inDir(dir, RUN_STATE_FILE);
  const file = joinWhere(ws.name, rel);
  if (!(await ws.exists(rel))) throw new InputError(dir === '' ? ws.name : joinWhere(ws.name, dir), `no ${RUN_STATE_FILE}: not a run checkpoint`);
  let s: Record<string, unknown>;
  try {
    s = JSON.parse(await readText(ws, rel));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (s === null || typeof s !== 'object' || s.format !== 'thinker-run-state')
    throw new InputError(file, 'not a thinker run state (format is not "thinker-run-state")');
  if (s.version !== 1) throw new InputError(file, `unsupported version ${JSON.stringify(s.version)} (this build reads 1)`);
  const count = (k: string) => {
    const v = s[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new InputError(file, `${k} must be a number >= 0, got ${JSON.stringify(v)}`);
  };
  ['step', 'totalSteps', 'epoch', 'seed', 'elapsedSeconds'].forEach(count);
  if (!Number.isInteger(s.step)) throw new InputError(file, `step must be an integer, got ${s.step}`);
  if (typeof s.kind !== 'string') throw new InputError(file, 'kind is missing');
  if (kind !== undefined && s.kind !== kind) throw new InputError(file, `this is a "${s.kind}" run; it cannot be resumed by "${kind}"`);
  const pos = s.position;
  if (pos === null || typeof pos !== 'object' || Object.values(pos).some((v) => typeof v !== 'number' || !Number.isInteger(v) || v < 0)) {
    throw new InputError(file, `position must be an object of integers >= 0, got ${JSON.stringify(pos)}`);
  }
  if (typeof s.dataFingerprint !== 'string') throw new InputError(file, 'dataFingerprint is missing');
  if (typeof s.optimizer !== 'boolean') throw new InputError(file, 'optimizer must be true or false');
  return s as unknown as RunState;
}

/** A checkpoint to continue from. */
export interface ResumePoint {
  /** The checkpoint folder. */
  from: Workspace;
  /** Its name in messages and summaries (a path in Node, "…/runs/NAME/checkpoint-S" in a workspace). */
  where: string;
  state: RunState;
}

/** The checkpoint `ws` is, or the newest complete one in it (a run folder), with its checked state. */
export async function findResume(ws: Workspace, kind: string): Promise<ResumePoint> {
  const dir = await findCheckpoint(ws);
  const from = dir === '' ? ws : subWorkspace(ws, dir);
  return { from, where: from.name, state: await readRunState(from, '', kind) };
}

/**
 * Put the AdamW moments of checkpoint folder `dir` of `ws` back into a training model (call after
 * model.enableTraining()). Returns false, leaving zero moments, when the folder has none.
 */
export async function restoreOptimizer(model: Model, ws: Workspace, dir = ''): Promise<boolean> {
  const rel = inDir(dir, OPTIMIZER_FILE);
  if (!(await ws.exists(rel))) return false;
  if (!model.adamM || !model.adamV) throw new Error('restoreOptimizer: call model.enableTraining() (or create the Trainer) first');
  const file = joinWhere(ws.name, rel);
  const tensors = readSafetensors(await ws.read(rel), file);
  // Every tensor is checked before any is uploaded, so a bad file leaves the moments untouched.
  const pending: { data: Float32Array; arena: NonNullable<Model['adamM']>; name: string }[] = [];
  for (const spec of model.trainable) {
    for (const [prefix, arena] of [
      ['m', model.adamM],
      ['v', model.adamV],
    ] as const) {
      const t = tensors.get(`${prefix}.${spec.name}`);
      if (!t) throw new InputError(file, `tensor ${prefix}.${spec.name} is missing`);
      if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
        throw new InputError(file, `tensor ${prefix}.${spec.name} has shape [${t.shape.join(', ')}], the model needs [${spec.shape.join(', ')}]`);
      }
      const bad = firstNonFinite(t.data);
      if (bad >= 0) throw new InputError(file, `tensor ${prefix}.${spec.name} holds ${t.data[bad]} (element ${bad}): NaN or infinite moments`);
      pending.push({ data: t.data, arena, name: spec.name });
    }
  }
  for (const p of pending) upload(model.gpu, p.arena.get(p.name), p.data);
  return true;
}

/**
 * Delete all but the newest `keep` complete checkpoint-<step> folders of a run folder (never the
 * steps in `protect`), and any incomplete one: a save that never finished. Call it right after a
 * save, when no other save is in progress. Returns the removed steps.
 */
export async function pruneCheckpoints(run: Workspace, keep: number, protect: number[] = []): Promise<number[]> {
  const complete = new Set(await listCheckpoints(run));
  const all = (await run.listDir(''))
    .map((e) => (e.kind === 'dir' ? CHECKPOINT_RE.exec(e.name) : null))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => b - a);
  const kept = all.filter((s) => complete.has(s)).slice(0, Math.max(0, keep));
  const removed: number[] = [];
  for (const s of all) {
    if (kept.includes(s) || protect.includes(s)) continue;
    await run.remove(checkpointName(s));
    removed.push(s);
  }
  return removed;
}

/** Write JSON as one file (every Workspace write is atomic: a reader sees the old file or the new one). */
export async function writeJson(ws: Workspace, file: string, value: unknown): Promise<void> {
  await ws.write(file, encodeJson(value));
}

/**
 * A JSON-lines log (metrics.jsonl, rollouts.jsonl), appended one line per row. Opening it to
 * resume from step N drops the rows of steps after N (written after the checkpoint being resumed,
 * and about to be redone) and a torn last line, so the file reads as one run and the next append
 * starts on a line of its own.
 */
export class MetricsLog {
  private constructor(
    readonly ws: Workspace,
    readonly file: string,
  ) {}

  static async open(ws: Workspace, file: string, o: { resumeStep?: number } = {}): Promise<MetricsLog> {
    if (o.resumeStep === undefined) {
      await ws.write(file, new Uint8Array(0));
    } else if (await ws.exists(file)) {
      const keep = (await readText(ws, file)).split('\n').filter((line) => {
        if (!line.trim()) return false;
        try {
          const row = JSON.parse(line);
          return typeof row.step !== 'number' || row.step <= o.resumeStep!;
        } catch {
          return false;
        }
      });
      await ws.write(file, new TextEncoder().encode(keep.map((l) => l + '\n').join('')));
    }
    return new MetricsLog(ws, file);
  }

  async append(row: unknown): Promise<void> {
    await this.ws.append(this.file, JSON.stringify(row) + '\n');
  }

  /**
   * Every row of a log; [] when there is none. A last line that does not parse is a row whose
   * append was cut off (the process or tab died mid-write) and is skipped; a bad line before it
   * is damage, an InputError naming the line.
   */
  static async read(ws: Workspace, file: string): Promise<Record<string, unknown>[]>;
  /** Node convenience: the log by its path. */
  static async read(file: string): Promise<Record<string, unknown>[]>;
  static async read(a: Workspace | string, b?: string): Promise<Record<string, unknown>[]> {
    let ws: Workspace, file: string;
    if (typeof a === 'string') {
      const cut = Math.max(a.lastIndexOf('/'), a.lastIndexOf('\\'));
      ws = nodeWorkspace(cut < 0 ? '.' : a.slice(0, cut) || '/');
      file = a.slice(cut + 1);
    } else {
      ws = a;
      file = b!;
    }
    if (!(await ws.exists(file))) return [];
    const lines = (await readText(ws, file)).split('\n');
    const last = lines.map((l) => l.trim() !== '').lastIndexOf(true);
    const rows: Record<string, unknown>[] = [];
    for (let i = 0; i <= last; i++) {
      if (!lines[i].trim()) continue;
      try {
        rows.push(JSON.parse(lines[i]));
      } catch {
        if (i === last) break;
        throw new InputError(`${joinWhere(ws.name, file)}:${i + 1}`, 'not valid JSON');
      }
    }
    return rows;
  }
}

const RUN_KINDS: RunKind[] = ['sft', 'grpo'];
/** What run.json may say ('running-elsewhere' is only ever reported, never written). */
const RUN_STATUSES: RunStatus[] = ['running', 'paused', 'stopped', 'completed', 'interrupted', 'failed'];

/** run.json of a run folder, checked; null when there is none. */
export async function readRunInfo(run: Workspace): Promise<RunInfo | null> {
  if (!(await run.exists(RUN_FILE))) return null;
  const file = joinWhere(run.name, RUN_FILE);
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(await readText(run, RUN_FILE));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (r === null || typeof r !== 'object') throw new InputError(file, 'not a JSON object');
  if (typeof r.name !== 'string') throw new InputError(file, 'name is missing');
  if (!RUN_KINDS.includes(r.kind as RunKind)) throw new InputError(file, `kind must be one of ${RUN_KINDS.join(', ')}, got ${JSON.stringify(r.kind)}`);
  if (!RUN_STATUSES.includes(r.status as RunStatus))
    throw new InputError(file, `status must be one of ${RUN_STATUSES.join(', ')}, got ${JSON.stringify(r.status)}`);
  for (const k of ['step', 'totalSteps']) {
    if (!Number.isInteger(r[k]) || (r[k] as number) < 0) throw new InputError(file, `${k} must be an integer >= 0, got ${JSON.stringify(r[k])}`);
  }
  if (!Array.isArray(r.checkpoints) || r.checkpoints.some((s) => !Number.isInteger(s))) throw new InputError(file, 'checkpoints must be a list of steps');
  if (r.config === null || typeof r.config !== 'object') throw new InputError(file, 'config is missing');
  return r as unknown as RunInfo;
}

/** run.json, kept up to date by a running job: each change is written at once. */
export class RunRecord {
  private constructor(
    private readonly run: Workspace,
    public info: RunInfo,
  ) {}

  /** Start (or restart, keeping createdAt) the record of the run in folder `run`, as 'running'. */
  static async begin(run: Workspace, o: Pick<RunInfo, 'name' | 'kind' | 'step' | 'totalSteps' | 'config'>): Promise<RunRecord> {
    // A damaged old record must not stop a resume; it is replaced.
    const old = await readRunInfo(run).catch(() => null);
    const now = new Date().toISOString();
    const r = new RunRecord(run, {
      name: o.name,
      kind: o.kind,
      status: 'running',
      step: o.step,
      totalSteps: o.totalSteps,
      checkpoints: await listCheckpoints(run),
      config: o.config,
      createdAt: old?.createdAt ?? now,
      updatedAt: now,
    });
    await r.write();
    return r;
  }

  async update(patch: Partial<Omit<RunInfo, 'name' | 'kind' | 'createdAt' | 'updatedAt'>>): Promise<RunInfo> {
    this.info = { ...this.info, ...patch, updatedAt: new Date().toISOString() };
    if (patch.status !== undefined && patch.status !== 'failed') delete this.info.error;
    await this.write();
    return this.info;
  }

  /** After a checkpoint was saved or pruned. */
  async checkpointsChanged(): Promise<RunInfo> {
    return this.update({ checkpoints: await listCheckpoints(this.run) });
  }

  private write() {
    return writeJson(this.run, RUN_FILE, this.info);
  }
}
