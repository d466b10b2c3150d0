// The lab's models: models/NAME folders (a Hugging Face folder with its tokenizer files) and the
// complete checkpoints of runs (runs/NAME/checkpoint-STEP). Listing, saving a checkpoint as a model,
// deleting, exporting to and importing from a folder the user picked, and scoring a text (per-token
// log-probs, which is how tests show that a model survives those trips bit for bit).
//
// Also the pieces the other lab modules share: workspace names, model paths and their checks, and
// a FileSource over the files of an <input webkitdirectory>.
import { EngineError, InputError } from '../engine/errors';
import { NAME, checkName } from '../util/names';
import { CommandStream } from '../engine/stream';
import { download } from '../engine/tensor';
import { joinWhere, readJson, type FileSink, type FileSource } from '../io/files';
import { browserDirSink, COMPLETE_MARKER, isCompleteFolder, pickedSource, subWorkspace, type Workspace } from '../io/workspace';
import { configFromHfJson, loadHfFolder } from '../io/hf-config';
import { TOKENIZER_FILES, loadTokenizer } from '../io/tokenizer';
import { Activations } from '../model/activations';
import { nextTokenTargets, uploadBatch } from '../model/batch';
import type { ModelConfig } from '../model/config';
import { memoryEstimate, type AdapterBudget } from '../model/memory';
import { logprobs, textForward } from '../model/forward';
import type { DownloadModelRequest, EngineApi, ModelInfo, Progress, RunKind } from './api';
import { hubRepo } from '../data/hub';
import { defaultModelName, downloadHubModel, formatModelProgress, stagingName } from './hub-models';
import type { LabContext, OpenedModel } from './context';

type Calls = Pick<EngineApi, 'listModels' | 'saveModel' | 'deleteModel' | 'exportModel' | 'importModel' | 'downloadModel' | 'scoreText'>;

// ---------------------------------------------------------------------------------------------
// Names, paths and picked folders (shared by the lab's modules).

const MODEL_PATH = /^(models\/[^/]+|runs\/[^/]+\/checkpoint-(\d+))$/;

/** "models/NAME" or "runs/NAME/checkpoint-STEP", with valid names. */
export function checkModelPath(path: unknown): string {
  const m = typeof path === 'string' ? MODEL_PATH.exec(path) : null;
  if (!m) throw new InputError('model', `${JSON.stringify(path)} is not a model path: use "models/NAME" or "runs/NAME/checkpoint-STEP"`);
  const parts = (path as string).split('/');
  checkName('model', parts[1]);
  return path as string;
}

/** The path names a complete model folder of the workspace (a torn write is not a model). */
export async function requireModel(ws: Workspace, path: unknown): Promise<string> {
  const p = checkModelPath(path);
  if (!(await ws.exists(`${p}/config.json`))) throw new InputError(p, 'no model here (config.json is missing)');
  if (!(await isCompleteFolder(ws, p))) throw new InputError(p, 'this model folder is incomplete (its write was interrupted); delete it');
  return p;
}

/** The model's config from its config.json, without touching weights or the GPU. */
export async function readModelConfig(ws: Workspace, path: string): Promise<ModelConfig> {
  return configFromHfJson(await readJson(subWorkspace(ws, path), 'config.json', path), `${path}/config.json`);
}

/** A model on the GPU, after the checks that need no GPU. */
export async function openModel(ctx: LabContext, path: unknown): Promise<OpenedModel> {
  return ctx.loadModel(await requireModel(ctx.ws, path));
}

// ---------------------------------------------------------------------------------------------
// Memory estimates.

/** Training batch the estimate assumes: 8 sequences of the context, capped at 512 tokens. */
// ---------------------------------------------------------------------------------------------
// Folders.

/** Files of a folder that are model content: everything but the completion marker. */
async function folderFiles(ws: Workspace, dir: string): Promise<string[]> {
  return (await subWorkspace(ws, dir).list()).filter((f) => f !== COMPLETE_MARKER);
}

async function folderBytes(ws: Workspace, dir: string): Promise<number> {
  let n = 0;
  for (const f of await folderFiles(ws, dir)) n += (await ws.size(`${dir}/${f}`)) ?? 0;
  return n;
}

/** AdamW moments of a run checkpoint: needed to resume that run, not to use the model. */
const TRAINING_ONLY = new Set(['optimizer.safetensors']);

async function runKind(ws: Workspace, run: string, checkpoint: string): Promise<RunKind | undefined> {
  for (const file of [`runs/${run}/run.json`, `${checkpoint}/trainer_state.json`]) {
    if (!(await ws.exists(file))) continue;
    try {
      const kind = (JSON.parse(new TextDecoder().decode(await ws.read(file))) as { kind?: unknown }).kind;
      if (kind === 'sft' || kind === 'grpo') return kind;
    } catch {
      // A torn or foreign file says nothing about the kind; the next one may.
    }
  }
  return undefined;
}

async function modelInfo(ws: Workspace, path: string): Promise<ModelInfo> {
  const cfg = await readModelConfig(ws, path);
  const { params, trainBytes, inferBytes } = memoryEstimate(cfg);
  const info: ModelInfo = { path, cfg, params, bytes: await folderBytes(ws, path), trainBytes, inferBytes };
  const m = /^runs\/([^/]+)\/checkpoint-(\d+)$/.exec(path);
  if (m) {
    const kind = await runKind(ws, m[1], path);
    if (kind) info.run = { name: m[1], kind, step: Number(m[2]) };
  }
  return info;
}

/** Files a model folder needs: config, weights (single file or index + shards), vision weights, tokenizer. */
const TOKENIZER_FILE = (f: string) => TOKENIZER_FILES.includes(f) || f === 'generation_config.json';

async function modelFilesOf(src: FileSource): Promise<string[]> {
  const files = new Set(await src.list());
  const keep = ['config.json', 'model.safetensors', 'vision.safetensors'].filter((f) => files.has(f));
  const INDEX = 'model.safetensors.index.json';
  if (files.has(INDEX)) {
    keep.push(INDEX);
    const map = ((await readJson(src, INDEX)) as { weight_map?: Record<string, string> }).weight_map ?? {};
    for (const shard of new Set(Object.values(map))) if (files.has(shard)) keep.push(shard);
  }
  for (const f of files) if (TOKENIZER_FILE(f)) keep.push(f);
  return [...new Set(keep)];
}

// ---------------------------------------------------------------------------------------------

/** Where downloads are staged until their model folder is written (hub-models.ts): downloads/models--OWNER--NAME. */
export const DOWNLOADS_DIR = 'downloads';

/** What downloadModel takes from its host; tests inject each. */
export interface DownloadHooks {
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** What the model must fit; default: this lab's GPU (acquired if need be). */
  budget?: AdapterBudget | null;
  /** Storage left; default: navigator.storage.estimate()'s quota less its usage, where there is one. */
  freeBytes?: () => Promise<number | null>;
  /** The most bytes a staged part holds (default 32 MiB). */
  partBytes?: number;
  stallTimeoutMs?: number;
}

async function storageLeft(): Promise<number | null> {
  const est = typeof navigator !== 'undefined' && navigator.storage?.estimate ? await navigator.storage.estimate() : null;
  return est?.quota ? Math.max(0, est.quota - (est.usage ?? 0)) : null;
}

export interface ModelsInternal {
  /** exportModel onto any sink (Node tests have no directory handles). */
  exportModelTo(path: string, sink: FileSink): Promise<void>;
  /** importModel from any source. */
  importModelFrom(name: string, src: FileSource): Promise<ModelInfo>;
  /** downloadModel with injected hooks (tests, hosts with their own fetch). */
  downloadModelWith(req: DownloadModelRequest, onProgress: ((p: Progress) => void) | undefined, hooks: DownloadHooks): Promise<ModelInfo>;
}

export function modelsApi(ctx: LabContext): Calls & ModelsInternal {
  const ws = ctx.ws;

  async function exportModelTo(path: string, sink: FileSink): Promise<void> {
    const p = await requireModel(ws, path);
    const files = (await folderFiles(ws, p)).filter((f) => !TRAINING_ONLY.has(f));
    // config.json last, as saveHfFolder does: a folder with a config.json is a whole model.
    files.sort((a, b) => Number(a === 'config.json') - Number(b === 'config.json'));
    for (const f of files) await sink.write(f, await ws.read(`${p}/${f}`));
  }

  /** `fn` as the one writer of models/NAME: another tab saving or importing the same name is refused. */
  const owningModel = <T>(dir: string, fn: () => Promise<T>): Promise<T> =>
    ctx.locks.hold(dir, dir, 'is being saved by another tab; wait until it ends or choose another name', fn);

  async function importModelFrom(name: string, src: FileSource): Promise<ModelInfo> {
    checkName('import model', name);
    const dir = `models/${name}`;
    return owningModel(dir, async () => {
      if ((await ws.listDir(dir)).length > 0) throw new InputError(dir, 'a model of this name exists; delete it first or choose another name');
      // Everything is checked before anything is written: a folder that does not load leaves no trace.
      const { config } = await loadHfFolder(src, src.name);
      const tok = await loadTokenizer(src, src.name);
      if (tok.vocabSize > config.text.vocabSize) {
        throw new InputError(
          joinWhere(src.name, 'tokenizer.json'),
          `the tokenizer has ids up to ${tok.vocabSize - 1} but the model's embedding has ${config.text.vocabSize} rows`,
        );
      }
      const files: Record<string, Uint8Array> = {};
      for (const f of await modelFilesOf(src)) files[f] = await src.read(f);
      await ws.writeFolder(dir, files);
      return modelInfo(ws, dir);
    });
  }

  async function downloadModelWith(req: DownloadModelRequest, onProgress: ((p: Progress) => void) | undefined, hooks: DownloadHooks): Promise<ModelInfo> {
    if (!req || typeof req.repo !== 'string') throw new InputError('download model', 'name a model repository (owner/name)');
    const revision = req.revision?.trim() || undefined;
    // The repository id, revision and mirror are checked before anything else (no request yet).
    const { repo } = hubRepo({ repo: req.repo, revision, endpoint: req.endpoint?.trim() || undefined }, 'model');
    const name = checkName('download model', req.name?.trim() || defaultModelName(repo));
    const dir = `models/${name}`;
    const staging = `${DOWNLOADS_DIR}/${stagingName(repo, revision)}`;
    return owningModel(dir, async () => {
      if ((await ws.listDir(dir)).length > 0) throw new InputError(dir, 'a model of this name exists; delete it first or choose another name');
      // Two tabs downloading one repository (under any names) would write the same staged files.
      return ctx.locks.hold(staging, `the download of ${repo}`, 'is running in another tab; wait until it ends', () =>
        ctx.cancellable(async (signal) => {
          try {
            await downloadHubModel({
              repo,
              revision,
              endpoint: req.endpoint?.trim() || undefined,
              token: req.token?.trim() || undefined,
              fetch: hooks.fetch,
              signal,
              stallTimeoutMs: hooks.stallTimeoutMs,
              partBytes: hooks.partBytes,
              ws,
              dir,
              staging,
              budget: async () => (hooks.budget !== undefined ? hooks.budget : ctx.gpu()),
              freeBytes: hooks.freeBytes ?? storageLeft,
              onProgress: (p) =>
                onProgress?.({
                  phase: formatModelProgress(p),
                  done: p.bytesDone,
                  // 0 while the weights' sizes are not known yet: the bar shows work without a share.
                  total: p.bytesTotal ?? 0,
                  ...(p.etaSeconds !== null ? { etaSeconds: p.etaSeconds } : {}),
                }),
            });
          } catch (e) {
            // What arrived stays staged; the same download asked for again resumes it.
            if (signal.aborted) throw new EngineError(`the download of ${repo} was cancelled; what arrived is kept, and downloading it again resumes it`);
            throw e;
          }
          return modelInfo(ws, dir);
        }),
      );
    });
  }

  return {
    exportModelTo,
    importModelFrom,
    downloadModelWith,

    async downloadModel(req, onProgress) {
      return downloadModelWith(req, onProgress, {});
    },

    async listModels() {
      const out: ModelInfo[] = [];
      for (const e of await ws.listDir('models')) {
        const p = `models/${e.name}`;
        if (e.kind === 'dir' && NAME.test(e.name) && (await ws.exists(`${p}/config.json`)) && (await isCompleteFolder(ws, p))) out.push(await modelInfo(ws, p));
      }
      for (const r of await ws.listDir('runs')) {
        if (r.kind !== 'dir' || !NAME.test(r.name)) continue;
        const steps = (await ws.listDir(`runs/${r.name}`))
          .map((e) => (e.kind === 'dir' ? /^checkpoint-(\d+)$/.exec(e.name) : null))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => Number(m[1]))
          .sort((a, b) => a - b);
        for (const s of steps) {
          const p = `runs/${r.name}/checkpoint-${s}`;
          if ((await ws.exists(`${p}/config.json`)) && (await isCompleteFolder(ws, p))) out.push(await modelInfo(ws, p));
        }
      }
      return out;
    },

    async saveModel(from, name) {
      const src = await requireModel(ws, from);
      checkName('save model', name);
      const dir = `models/${name}`;
      if (dir === src) throw new InputError(dir, 'a model cannot be saved over itself');
      return owningModel(dir, async () => {
        if ((await ws.listDir(dir)).length > 0) throw new InputError(dir, 'a model of this name exists; delete it first or choose another name');
        const files: Record<string, Uint8Array> = {};
        for (const f of await folderFiles(ws, src)) if (!TRAINING_ONLY.has(f)) files[f] = await ws.read(`${src}/${f}`);
        await ws.writeFolder(dir, files);
        return modelInfo(ws, dir);
      });
    },

    async deleteModel(path) {
      const p = checkModelPath(path);
      if ((await ws.listDir(p)).length === 0) throw new InputError(p, 'no model here');
      // A job may be running on the cached model: deleting needs the GPU to be free. A checkpoint
      // belongs to its run, which another tab may be running (and pruning, saving) now.
      const [top, owner] = p.split('/');
      const folder = top === 'runs' ? `runs/${owner}` : p;
      const elsewhere =
        top === 'runs'
          ? `belongs to run ${owner}, which is running in another tab; delete it there or once it ends`
          : 'is being saved by another tab; wait until it ends';
      await ctx.exclusive(`deleting ${p}`, () =>
        ctx.locks.hold(folder, p, elsewhere, async () => {
          ctx.dropModel(p);
          await ws.remove(p);
        }),
      );
    },

    async exportModel(path, to) {
      if (!to || (to as { kind?: string }).kind !== 'directory') throw new InputError('export model', 'expected a folder (a directory handle) to write into');
      await exportModelTo(path, browserDirSink(to));
    },

    async importModel(name, from) {
      return importModelFrom(name, pickedSource(from));
    },

    async scoreText(path, text) {
      const p = await requireModel(ws, path);
      if (typeof text !== 'string' || text === '') throw new InputError('score text', 'the text is empty');
      return ctx.exclusive('scoring a text', async () => {
        const { model, tok } = await ctx.loadModel(p);
        const ids = tok.encode(text, { addSpecialTokens: true });
        const T = ids.length;
        if (T < 2) throw new InputError('score text', `the text is ${T} token; scoring needs at least two (the first has no context)`);
        const ctxLen = model.cfg.text.maxPositionEmbeddings;
        if (T > ctxLen) throw new InputError('score text', `the text is ${T} tokens, more than the model's context of ${ctxLen}`);
        const acts = new Activations(model.gpu, model.cfg, { B: 1, T, nImages: 0, training: false }, model.lora);
        const s = new CommandStream(model.gpu, 'score-text');
        try {
          const u = Uint32Array.from(ids);
          uploadBatch(model, acts, { B: 1, T, ids: u, targets: nextTokenTargets(u, 1, T) });
          textForward(s, model, acts);
          logprobs(s, model, acts);
          await s.sync();
          // Row t holds log p(ids[t+1] | ids[..t]); the last row predicts past the text.
          return Array.from((await download(model.gpu, acts.get('logp'))).subarray(0, T - 1));
        } finally {
          s.destroy();
          acts.release();
        }
      });
    },
  };
}
