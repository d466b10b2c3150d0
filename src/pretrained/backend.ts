// The second inference backend: pretrained models run by transformers.js (v4) on ONNX Runtime
// (WebGPU or WASM in a browser, onnxruntime-node's CPU backend in Node). It mirrors the lab
// engine's worker calls: load a model with download progress, ask one question with the answer
// streamed, sample responses for the same evaluation runner and grader as lab models
// (src/eval/run.ts), and distill teacher traces (distill.ts).
//
// Where files come from: a hub or a mirror of it (`endpoint`, the Hugging Face URL scheme
// `<endpoint>/<id>/resolve/main/<file>`), kept in transformers.js's cache (the browser's Cache API,
// a folder in Node) so a second load is offline; or a local folder (a path in Node, a folder the
// user picked in the browser), which never touches the network. The ONNX Runtime WASM files come
// from the lab's own origin (`wasmPaths`), never from a CDN.
//
// transformers.js's configuration (`env`) is one global object, so a backend owns it: one backend
// per worker or process, and it sets `env` afresh on every load.

import {
  AutoConfig,
  AutoModelForCausalLM,
  AutoModelForImageTextToText,
  AutoProcessor,
  AutoTokenizer,
  BaseStreamer,
  LogitsWarper,
  ModelFileNotFoundError,
  ModelRegistry,
  RawImage,
  env,
  random,
} from '@huggingface/transformers';
import type { QAItem } from '../task/schema';
import { decodeRgba } from '../io/images';
import { InputError } from '../engine/errors';
import { runEval, type BenchmarkInput, type EvalOptions, type EvalResult, type Sampler } from '../eval/run';
import type { FileSource } from '../io/files';
import type { TextTokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import type { ItemSamples } from '../task/rollout';
import { askText, promptText, type PromptOptions } from '../task/prompt';
import { chatPrompt } from '../io/chat';
import { askVerdict, type AskVerdict } from '../task/reward';
import { folderCache, parseHubUrl, type ModelCacheStore } from './cache';
import {
  catalogEntry,
  memoryProblem,
  NotEnoughMemoryError,
  pickDtype,
  type AdapterLimits,
  type CatalogEntry,
  type Device,
  type Dtype,
  type ModelKind,
} from './catalog';
import { distill, type DistillOptions, type DistillResult, type DistillSample } from './distill';

export const DEFAULT_ENDPOINT = 'https://huggingface.co/';

/** A failure a user can act on, naming the model and, where one is to blame, the file. */
export class PretrainedError extends Error {
  constructor(
    readonly kind: 'unsupported' | 'missing-file' | 'network' | 'offline' | 'cancelled',
    readonly modelId: string,
    readonly file: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'PretrainedError';
  }
}

// ---------------------------------------------------------------------------------------------
// Requests and replies (the worker API uses these shapes).

export interface PretrainedLoadRequest {
  /** A Hugging Face model id (a catalog entry or any other), or, in Node, a local folder path. */
  model: string;
  /** Hub mirror base URL (default https://huggingface.co). */
  endpoint?: string;
  /** Default: chosen from the adapter (catalog models) or the model's own config. */
  dtype?: Dtype;
  device?: Device;
  /** Use only what is cached: no network. */
  offline?: boolean;
  /** A folder the user picked (browser) or any file source: read from it, never from the network. */
  folder?: FileSource;
}

/** Progress of a load, in bytes over all files; `files` has each file's share. */
export interface LoadProgress {
  phase: string;
  done: number;
  total: number;
  etaSeconds?: number;
  files: { file: string; loaded: number; total: number; done: boolean }[];
}

export interface PlannedFile {
  file: string;
  bytes: number | null;
  cached: boolean;
}

export interface LoadPlan {
  id: string;
  files: PlannedFile[];
  /** Bytes still to download (files not cached whose size the server reported). */
  downloadBytes: number;
  totalBytes: number;
}

export interface LoadedModel {
  id: string;
  kind: ModelKind;
  modelType: string;
  dtype: string | null;
  device: string;
  /** Files read, and how many of them came over the network (not from the cache or a folder). */
  files: string[];
  downloaded: number;
  bytes: number;
  contextLength: number;
  catalog?: CatalogEntry;
}

export interface PretrainedAskRequest {
  question: string;
  options?: Record<string, string>;
  /** An encoded image (PNG or JPEG). */
  image?: Uint8Array;
  /** Wrap the question in the recipe's prompt (recipe §3) so the model answers with think/answer tags. */
  recipePrompt: boolean;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  seed?: number;
  prompt?: PromptOptions;
}

export interface PretrainedAskReply extends Partial<AskVerdict> {
  text: string;
  tokens: number;
  finished: boolean;
}

export interface BackendOptions {
  /** The cache transformers.js writes (browserCacheStore / nodeCacheStore); null: no listing. */
  store: ModelCacheStore | null;
  /** Node: the folder transformers.js caches downloads in. */
  cacheDir?: string;
  /** Browser: URLs of ONNX Runtime's WASM files served by the lab itself. */
  wasmPaths?: { mjs: string; wasm: string };
  /** The WebGPU adapter's features and limits (null: no WebGPU here). */
  adapter?: { features: string[]; limits: AdapterLimits } | null;
  /** Memory the machine can give a model, when known. */
  memoryBytes?: number;
  /** Device when a request names none: Node 'cpu'; browsers 'webgpu' when an adapter exists, else 'wasm'. */
  defaultDevice?: Device;
  /** ONNX Runtime threads (WASM / CPU). */
  numThreads?: number;
}

// ---------------------------------------------------------------------------------------------
// transformers.js objects, typed as far as this file uses them.

interface TjTensor {
  dims: number[];
  data: ArrayLike<number | bigint>;
  tolist(): unknown[];
}
interface TjTokenizer {
  (text: string | string[], o?: Record<string, unknown>): { input_ids: TjTensor; attention_mask: TjTensor };
  encode(text: string, o?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[] | bigint[], o?: { skip_special_tokens?: boolean }): string;
  apply_chat_template(messages: unknown[], o: Record<string, unknown>): string;
  chat_template?: string | null;
  eos_token_id?: number | null;
  model?: { tokens_to_ids?: Map<string, number> };
}
interface TjProcessor {
  (...args: unknown[]): Promise<Record<string, TjTensor>>;
  tokenizer: TjTokenizer;
  chat_template?: string | null;
  apply_chat_template(messages: unknown[], o: Record<string, unknown>): string;
  construct_prompts?(task: string): string[];
  post_process_generation?(text: string, task: string, size: [number, number]): Record<string, unknown>;
  batch_decode(ids: unknown, o?: Record<string, unknown>): string[];
}
interface TjModel {
  generate(o: Record<string, unknown>): Promise<TjTensor | { sequences: TjTensor }>;
  dispose(): Promise<unknown>;
  config: Record<string, unknown>;
  generation_config?: Record<string, unknown> | null;
}
interface TjConfig {
  model_type?: string;
  architectures?: string[];
  [k: string]: unknown;
}
interface ProgressInfo {
  status: string;
  file?: string;
  loaded?: number;
  total?: number;
  name?: string;
}

type Loaded = LoadedModel & {
  model: TjModel;
  tokenizer: TjTokenizer;
  processor: TjProcessor | null;
  eos: Set<number>;
  captionTask: string;
};

// ---------------------------------------------------------------------------------------------

const BASE_FETCH = env.fetch;
let wasmSet = false;

/** fetch that answers 404 for the model host and passes other URLs (the lab's own ONNX Runtime files) through. */
function noNetworkFetch(host: string): typeof env.fetch {
  return (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request).url;
    if (url.startsWith(host) && url.includes('/resolve/'))
      return Promise.resolve(new Response('not fetched: no network for this load', { status: 404, statusText: NO_NETWORK }));
    return BASE_FETCH(input, init);
  };
}
const NO_NETWORK = 'No network for this load';

const normEndpoint = (e?: string) => (e ?? DEFAULT_ENDPOINT).replace(/\/*$/, '/');

/** Node: a path-like model (absolute, ./, ../, ~) rather than a hub id. */
const isPathLike = (m: string) => /^(\/|\.{1,2}\/|~\/|[A-Za-z]:[\\/])/.test(m);

const numList = (v: unknown): number[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]).filter((x): x is number => typeof x === 'number');

/** Nucleus sampling: transformers.js 4.3 declares top_p but does not apply it. */
class NucleusWarper extends LogitsWarper {
  constructor(private readonly p: number) {
    super();
  }
  override _call(_ids: unknown, logits: TjTensor): TjTensor {
    const V = logits.dims[logits.dims.length - 1];
    const data = logits.data as Float32Array;
    for (let row = 0; row < data.length / V; row++) {
      const base = row * V;
      const idx = Array.from({ length: V }, (_, i) => i).sort((a, b) => data[base + b] - data[base + a]);
      const max = data[base + idx[0]];
      let z = 0;
      for (const i of idx) z += Math.exp(data[base + i] - max);
      let cum = 0;
      let keep = 0;
      // The smallest set of top tokens whose mass reaches p (at least one).
      while (keep < V && (keep === 0 || cum < this.p)) cum += Math.exp(data[base + idx[keep++]] - max) / z;
      for (let k = keep; k < V; k++) data[base + idx[k]] = -Infinity;
    }
    return logits;
  }
}

/** Collects generated ids (the first put is the prompt) and reports the text so far. */
class IdStreamer extends BaseStreamer {
  ids: number[] = [];
  private first = true;
  constructor(
    private readonly onIds: (ids: number[]) => void,
    private readonly signal?: AbortSignal,
  ) {
    super();
  }
  override put(value: bigint[][]): void {
    if (this.signal?.aborted) throw new PretrainedError('cancelled', '', null, 'generation cancelled');
    if (this.first) {
      this.first = false;
      return;
    }
    for (const v of value[0]) this.ids.push(Number(v));
    this.onIds(this.ids);
  }
  override end(): void {}
}

/** The file a transformers.js error is about, from the URL or path it quotes. */
function fileOfError(msg: string, id: string): string | null {
  const quoted = /"([^"]+)"/.exec(msg)?.[1] ?? /(https?:\/\/\S+)/.exec(msg)?.[1];
  if (!quoted) return null;
  const u = parseHubUrl(quoted);
  if (u) return u.file;
  const at = quoted.indexOf(`${id}/`);
  return at >= 0 ? quoted.slice(at + id.length + 1) : (quoted.split('/').pop() ?? null);
}

export class PretrainedBackend {
  private current: Loaded | null = null;
  private busy: string | null = null;
  private abort: AbortController | null = null;

  constructor(private readonly o: BackendOptions) {}

  get loaded(): LoadedModel | null {
    if (!this.current) return null;
    const { model: _m, tokenizer: _t, processor: _p, eos: _e, captionTask: _c, ...info } = this.current;
    return info;
  }

  private device(req: { device?: Device }): Device {
    return req.device ?? this.o.defaultDevice ?? (this.o.adapter ? 'webgpu' : 'wasm');
  }

  /** Point transformers.js at one source of files, with caching as this host does it. */
  private configure(req: PretrainedLoadRequest, id: string): void {
    env.remoteHost = normEndpoint(req.endpoint);
    env.remotePathTemplate = '{model}/resolve/{revision}/';
    const folder = !!req.folder;
    const nodePath = !folder && isPathLike(req.model);
    // A Node folder is read by path. Everything else goes through the cache first (a picked folder
    // is served as a cache) and then the remote host, where a request is answered 404 on the spot
    // when there must be no network (offline, a cached model's second visit, a picked folder), so
    // transformers.js's usual "optional file missing" handling applies and nothing leaves the
    // machine. transformers.js's local-path lookups stay off: on a static host they would fetch
    // the app's own URLs, which may answer with its index page.
    env.allowLocalModels = nodePath;
    env.allowRemoteModels = !nodePath;
    const host = normEndpoint(req.endpoint);
    env.fetch = folder || req.offline ? noNetworkFetch(host) : BASE_FETCH;
    env.useCustomCache = folder;
    env.customCache = folder ? folderCache(req.folder!, id) : null;
    if (this.o.cacheDir !== undefined) {
      env.cacheDir = this.o.cacheDir;
      env.useFSCache = !folder;
    } else {
      env.useFSCache = false;
    }
    env.useBrowserCache = !folder && typeof caches !== 'undefined';
    // Once, before ONNX Runtime starts (it reads them when its first session is made).
    const wasm = env.backends.onnx.wasm;
    if (wasm && !wasmSet) {
      if (this.o.wasmPaths) {
        wasm.wasmPaths = { ...this.o.wasmPaths };
        // Otherwise transformers.js would import the .mjs from a blob: URL of a cached copy, which
        // the site's CSP refuses as a script source; the files are the site's own, in the HTTP cache.
        env.useWasmCache = false;
      }
      if (this.o.numThreads) wasm.numThreads = this.o.numThreads;
      wasmSet = true;
    }
  }

  private checkIdle(what: string) {
    if (this.busy) throw new InputError('pretrained model', `busy ${this.busy}; wait for it or cancel it before ${what}`);
  }

  private async exclusive<T>(what: string, f: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.checkIdle(what);
    this.busy = what;
    this.abort = new AbortController();
    try {
      return await f(this.abort.signal);
    } finally {
      this.busy = null;
      this.abort = null;
    }
  }

  cancel(): void {
    this.abort?.abort();
  }

  /** Wrap whatever transformers.js threw into an error that names the model and the file. */
  private wrap(e: unknown, id: string, req: PretrainedLoadRequest, pending: string[]): Error {
    if (e instanceof PretrainedError || e instanceof InputError) return e;
    const err = e as Error & { status?: number; cause?: unknown };
    const msg = err?.message ?? String(e);
    const host = req.folder ? `the folder ${req.folder.name}` : isPathLike(req.model) ? 'the folder' : normEndpoint(req.endpoint);
    if (/Unsupported model type|Unknown model class|Unsupported architecture/i.test(msg) && !(e instanceof ModelFileNotFoundError)) {
      return new PretrainedError('unsupported', id, null, `${id}: transformers.js ${env.version} cannot run this model (${msg})`);
    }
    if (e instanceof ModelFileNotFoundError || /file was not found locally|404/.test(msg)) {
      const file = fileOfError(msg, id) ?? pending[0] ?? null;
      if (req.folder || isPathLike(req.model)) return new PretrainedError('missing-file', id, file, `${id}: ${file ?? 'a file'} is missing from ${host}`);
      if (req.offline) {
        return new PretrainedError(
          'offline',
          id,
          file,
          `${id}: ${file ?? 'a file'} is not in the cache and downloads are off (offline); connect and load it once to keep it`,
        );
      }
      const status = err.status ?? Number(/\b(40[134])\b/.exec(msg)?.[1] ?? 404);
      const why = status === 404 ? 'not found' : status === 401 ? 'not found, or the repository is gated/private (HTTP 401)' : `refused (HTTP ${status})`;
      return new PretrainedError('missing-file', id, file, `${id}: ${file ?? 'a file'} ${why} on ${host}${status === 404 ? ' (HTTP 404)' : ''}`);
    }
    if (err instanceof TypeError || /fetch failed|terminated|network|ECONN|socket|aborted|premature|Failed to fetch|ERR_/i.test(msg)) {
      const cause = (err.cause as Error | undefined)?.message;
      const file = pending[0] ?? null;
      return new PretrainedError(
        'network',
        id,
        file,
        `${id}: the download${file ? ` of ${file}` : ''} from ${host} broke off (${msg}${cause ? `: ${cause}` : ''}); the partial file was not kept, load again to retry`,
      );
    }
    const out = new Error(`${id}: ${msg}`);
    (out as { cause?: unknown }).cause = e;
    return out;
  }

  /**
   * The files a load reads and their sizes, before downloading any model file (config.json is
   * fetched to know them). Sizes come from HTTP Range requests; cached files count as cached.
   */
  async plan(req: PretrainedLoadRequest): Promise<LoadPlan> {
    const id = req.model;
    this.configure(req, id);
    const { dtype, device } = this.choose(req);
    const opts = { dtype: dtype ?? undefined, device };
    try {
      const files = await ModelRegistry.get_files(id, opts as never);
      const status = await ModelRegistry.is_cached_files(id, opts as never);
      const cached = new Map(status.files.map((f: { file: string; cached: boolean }) => [f.file, f.cached]));
      const out: PlannedFile[] = [];
      for (const file of files) {
        const meta = (await ModelRegistry.get_file_metadata(id, file).catch(() => null)) as { exists?: boolean; size?: number } | null;
        out.push({ file, bytes: meta?.size ?? null, cached: !!cached.get(file) });
      }
      return {
        id,
        files: out,
        downloadBytes: out.filter((f) => !f.cached).reduce((a, f) => a + (f.bytes ?? 0), 0),
        totalBytes: out.reduce((a, f) => a + (f.bytes ?? 0), 0),
      };
    } catch (e) {
      throw this.wrap(e, id, req, ['config.json']);
    }
  }

  /** The dtype and device for a request; catalog models are checked against the adapter here, before any network. */
  private choose(req: PretrainedLoadRequest): { dtype: Dtype | null; device: Device; entry?: CatalogEntry; why?: string } {
    const entry = req.folder ? undefined : catalogEntry(req.model);
    const device = this.device(req);
    if (entry) {
      const c = pickDtype(entry, this.o.adapter?.features ?? [], device === 'webgpu' ? (this.o.adapter?.limits ?? null) : null, {
        dtype: req.dtype,
        memoryBytes: this.o.memoryBytes,
        device,
      });
      return { dtype: c.dtype, device: c.device, entry, why: c.why };
    }
    return { dtype: req.dtype ?? null, device };
  }

  /** Load a model (replacing the current one); `onProgress` gets bytes over all files. */
  async load(req: PretrainedLoadRequest, onProgress?: (p: LoadProgress) => void): Promise<LoadedModel> {
    if (!req || typeof req.model !== 'string' || req.model.trim() === '') throw new InputError('load.model', 'give a model id, a catalog name or a folder');
    const id = req.folder ? `local/${(req.folder.name || 'folder').replace(/[^\w.-]+/g, '_')}` : req.model.trim();
    return this.exclusive(`loading ${id}`, async () => {
      const choice = this.choose({ ...req, model: id });
      this.configure(req, id);
      if (this.current) {
        await this.current.model.dispose().catch(() => undefined);
        this.current = null;
      }
      // A model that loaded completely from this host before is read from the cache alone: the
      // second visit needs no network (not even for the optional files the hub answered 404).
      const hub = !req.folder && !isPathLike(id);
      const host = normEndpoint(req.endpoint);
      const kept = hub && this.o.store ? (await this.o.store.list().catch(() => [])).find((c) => c.id === id && (c.host === '' || c.host === host)) : undefined;
      const fromCache = !!req.offline || !!(kept?.complete && kept.loaded?.dtype === (choice.dtype ?? null));
      if (fromCache) this.configure({ ...req, offline: true }, id);

      const preCached = new Set(hub && this.o.store ? (await this.o.store.files(id, host).catch(() => [])).map((f) => f.file) : []);
      const files = new Map<string, { loaded: number; total: number; done: boolean }>();
      const started: string[] = [];
      const doneFiles: string[] = [];
      let networkFiles = 0;
      const t0 = performance.now();
      const report = (phase: string) => {
        if (!onProgress) return;
        const list = [...files.entries()].map(([file, s]) => ({ file, ...s }));
        const total = list.reduce((a, f) => a + Math.max(f.total, f.loaded), 0);
        const done = list.reduce((a, f) => a + (f.done ? Math.max(f.total, f.loaded) : f.loaded), 0);
        const secs = (performance.now() - t0) / 1000;
        const p: LoadProgress = { phase, done, total, files: list };
        if (done > 0 && done < total && secs > 0.5) p.etaSeconds = (secs / done) * (total - done);
        if (done >= total) p.etaSeconds = 0;
        onProgress(p);
      };
      const progress_callback = (info: ProgressInfo) => {
        const file = info.file;
        if (!file) return;
        let s = files.get(file);
        if (!s) files.set(file, (s = { loaded: 0, total: 0, done: false }));
        if (info.status === 'initiate') started.push(file);
        else if (info.status === 'download') {
          // transformers.js announces every file this way, cached or not.
          if (!fromCache && hub && !preCached.has(file)) networkFiles++;
        } else if (info.status === 'progress') {
          s.loaded = info.loaded ?? s.loaded;
          if (info.total) s.total = info.total;
          report(`loading ${file}`);
        } else if (info.status === 'done') {
          s.done = true;
          if (!doneFiles.includes(file)) doneFiles.push(file);
          const i = started.indexOf(file);
          if (i >= 0) started.splice(i, 1);
          report(`loaded ${file}`);
        }
      };

      const opts = { progress_callback, dtype: choice.dtype ?? undefined, device: choice.device };
      let loaded: Loaded;
      try {
        const config = (await AutoConfig.from_pretrained(id, opts as never)) as unknown as TjConfig;
        const kind = this.kindOf(id, config, choice.entry);
        // Known sizes before the weights download: the progress bar has its total, and a model
        // too big for this machine is refused first.
        if (hub) {
          const plan = await this.plan({ ...req, model: id, dtype: choice.dtype ?? undefined, device: choice.device, offline: fromCache || req.offline });
          for (const f of plan.files) if (!files.has(f.file)) files.set(f.file, { loaded: 0, total: f.bytes ?? 0, done: false });
          if (!choice.entry) {
            // Weights plus a margin for activations and the KV cache; the largest tensor is
            // unknown until the file is parsed, so only the totals are checked.
            const weights = plan.files.filter((f) => /\.onnx(_data(_\d+)?)?$/.test(f.file)).reduce((a, f) => a + (f.bytes ?? 0), 0);
            const problem = memoryProblem(
              { label: id },
              (choice.dtype ?? 'fp32') as Dtype,
              { downloadBytes: plan.totalBytes, memoryBytes: Math.round(weights * 1.2), largestTensorBytes: 0 },
              choice.device,
              this.o.adapter?.limits ?? null,
              this.o.memoryBytes,
            );
            if (problem) throw new NotEnoughMemoryError(id, problem);
          }
        }
        let model: TjModel;
        let tokenizer: TjTokenizer;
        let processor: TjProcessor | null = null;
        if (kind === 'text') {
          tokenizer = (await AutoTokenizer.from_pretrained(id, opts as never)) as unknown as TjTokenizer;
          model = (await AutoModelForCausalLM.from_pretrained(id, { ...opts, config } as never)) as unknown as TjModel;
        } else {
          processor = (await AutoProcessor.from_pretrained(id, opts as never)) as unknown as TjProcessor;
          tokenizer = processor.tokenizer;
          model = (await AutoModelForImageTextToText.from_pretrained(id, { ...opts, config } as never)) as unknown as TjModel;
        }
        const gen = model.generation_config ?? {};
        const textCfg = (config.text_config ?? {}) as Record<string, unknown>;
        const eos = new Set([
          ...numList(gen.eos_token_id),
          ...numList(config.eos_token_id),
          ...numList(textCfg.eos_token_id),
          ...numList(tokenizer.eos_token_id),
        ]);
        const ctx = [config.max_position_embeddings, textCfg.max_position_embeddings].find((x): x is number => typeof x === 'number' && x > 0) ?? 32768;
        loaded = {
          id,
          kind,
          modelType: config.model_type ?? '',
          dtype: choice.dtype,
          device: choice.device,
          files: doneFiles.slice().sort(),
          downloaded: networkFiles,
          bytes: [...files.values()].reduce((a, f) => a + Math.max(f.total, f.loaded), 0),
          contextLength: ctx,
          catalog: choice.entry,
          model,
          tokenizer,
          processor,
          eos,
          captionTask: choice.entry?.captionTask ?? '<MORE_DETAILED_CAPTION>',
        };
      } catch (e) {
        // The file most likely to blame first: a model file over a config the library was also reading.
        started.sort((a, b) => Number(b.endsWith('.onnx')) - Number(a.endsWith('.onnx')));
        const err = this.wrap(e, id, { ...req, offline: fromCache }, started);
        await this.dropPartial(id, req, started);
        throw err;
      }
      // Optional files the source does not have (404) never finish; they are not part of the model.
      for (const f of [...files.keys()]) if (!doneFiles.includes(f)) files.delete(f);
      report('ready');
      if (this.o.store && hub && !fromCache) {
        await this.o.store.markComplete(id, host, { files: loaded.files, dtype: choice.dtype, device: choice.device }).catch(() => undefined);
      }
      this.current = loaded;
      return this.loaded!;
    });
  }

  /**
   * After a failed load, any cache entry of a file that was still loading is removed. transformers.js
   * stores a file only once its body is complete, so this normally finds nothing; it guards against
   * a cache that stored a short body (a server that closed early without the library noticing).
   */
  private async dropPartial(id: string, req: PretrainedLoadRequest, pending: string[]): Promise<void> {
    if (!this.o.store || req.folder || isPathLike(id)) return;
    for (const file of pending) await this.o.store.removeFile(id, file, normEndpoint(req.endpoint)).catch(() => false);
  }

  private kindOf(id: string, config: TjConfig, entry?: CatalogEntry): ModelKind {
    const mt = config.model_type;
    const archs = config.architectures?.join(', ') ?? 'no architectures listed';
    const supports = (cls: unknown) => (cls as { supports(t: string): boolean }).supports(mt ?? '');
    if (!mt)
      throw new PretrainedError(
        'unsupported',
        id,
        'config.json',
        `${id}: config.json has no model_type, so transformers.js cannot tell which model class to build (${archs})`,
      );
    if (entry) return entry.kind;
    if (mt === 'florence2') return 'caption';
    if (supports(AutoModelForImageTextToText)) return 'chat';
    if (supports(AutoModelForCausalLM)) return 'text';
    throw new PretrainedError(
      'unsupported',
      id,
      null,
      `${id}: transformers.js ${env.version} has no text-generation or image-text-to-text class for model_type "${mt}" (${archs}); it cannot run here`,
    );
  }

  private need(): Loaded {
    if (!this.current) throw new InputError('pretrained model', 'no model is loaded: load one first');
    return this.current;
  }

  async unload(): Promise<void> {
    this.checkIdle('unloading');
    const c = this.current;
    this.current = null;
    if (c) await c.model.dispose().catch(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Generation.

  private async image(bytes: Uint8Array, where: string): Promise<InstanceType<typeof RawImage>> {
    const img = await decodeRgba(bytes, where);
    return new RawImage(new Uint8ClampedArray(img.rgba), img.width, img.height, 4);
  }

  /** The prompt as the model's own chat template renders it, and the model inputs. */
  private async inputs(m: Loaded, userText: string, image?: InstanceType<typeof RawImage>): Promise<{ prompt: string; inputs: Record<string, TjTensor> }> {
    if (m.kind === 'caption') {
      if (!image) throw new InputError('ask.image', `${m.id} describes images: give it one`);
      const inputs = await m.processor!(image, m.captionTask);
      return { prompt: m.captionTask, inputs };
    }
    if (m.kind === 'text') {
      if (image) throw new InputError('ask.image', `${m.id} is a text model: it cannot look at an image (ask without one, or pick a vision-language model)`);
      const prompt = m.tokenizer.chat_template
        ? m.tokenizer.apply_chat_template([{ role: 'user', content: userText }], { tokenize: false, add_generation_prompt: true })
        : // A folder without a chat template: the lab's own chat format.
          chatPrompt(userText, 0, 0);
      return { prompt, inputs: m.tokenizer(prompt, { add_special_tokens: false }) };
    }
    const content = [...(image ? [{ type: 'image' }] : []), { type: 'text', text: userText }];
    const prompt = m.processor!.apply_chat_template([{ role: 'user', content }], { add_generation_prompt: true });
    const inputs = image ? await m.processor!(prompt, [image], { add_special_tokens: false }) : await m.processor!(prompt, null, { add_special_tokens: false });
    return { prompt, inputs };
  }

  /** One response: ids after the prompt up to (not including) the first end token. */
  private async generateOne(
    m: Loaded,
    inputs: Record<string, TjTensor>,
    o: {
      maxNewTokens: number;
      temperature: number;
      topP?: number;
      seed?: number;
      signal?: AbortSignal;
      onText?: (t: string) => void;
    },
  ): Promise<{ ids: number[]; text: string; finished: boolean; end?: number }> {
    const sample = o.temperature > 0;
    if (sample) random.seed(o.seed ?? 0);
    const show = (ids: number[]) => {
      const body = this.body(m, ids).ids;
      // A partial multi-byte character decodes to U+FFFD until its last byte arrives.
      o.onText?.(m.tokenizer.decode(body, { skip_special_tokens: false }).replace(/\uFFFD+$/, ''));
    };
    const streamer = new IdStreamer(o.onText ? show : () => {}, o.signal);
    const warpers = sample && o.topP !== undefined && o.topP < 1 ? [new NucleusWarper(o.topP)] : [];
    await m.model.generate({
      ...inputs,
      max_new_tokens: o.maxNewTokens,
      do_sample: sample,
      temperature: sample ? o.temperature : 1,
      // transformers.js samples from the top 50 by default; the recipe samples the full distribution.
      top_k: 0,
      streamer,
      logits_processor: warpers,
    });
    const { ids, finished, end } = this.body(m, streamer.ids);
    return { ids, text: m.tokenizer.decode(ids, { skip_special_tokens: false }), finished, end };
  }

  private body(m: Loaded, ids: number[]): { ids: number[]; finished: boolean; end?: number } {
    const k = ids.findIndex((t) => m.eos.has(t));
    return k < 0 ? { ids, finished: false } : { ids: ids.slice(0, k), finished: true, end: ids[k] };
  }

  /** The user turn's text: the recipe prompt for a multiple-choice question when asked for, else the question as typed. */
  async ask(req: PretrainedAskRequest, onToken?: (textSoFar: string) => void): Promise<PretrainedAskReply> {
    if (typeof req?.question !== 'string' || req.question.trim() === '') throw new InputError('ask.question', 'the question is empty');
    if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1)
      throw new InputError('ask.maxNewTokens', `must be an integer >= 1, got ${req.maxNewTokens}`);
    if (!(req.temperature >= 0)) throw new InputError('ask.temperature', `must be a number >= 0 (0 = greedy), got ${req.temperature}`);
    const m = this.need();
    const image = req.image ? await this.image(req.image, 'ask.image') : undefined;
    return this.exclusive('answering a question', async (signal) => {
      const { inputs } = await this.inputs(m, askText(req), image);
      let r;
      try {
        r = await this.generateOne(m, inputs, { ...req, signal, onText: onToken });
      } catch (e) {
        if (signal.aborted) throw new PretrainedError('cancelled', m.id, null, 'answering cancelled');
        throw e;
      }
      let text = r.text;
      if (m.kind === 'caption' && m.processor?.post_process_generation && image) {
        const post = m.processor.post_process_generation(text, m.captionTask, [image.width, image.height]);
        const v = post[m.captionTask];
        if (typeof v === 'string') text = v;
      }
      onToken?.(text);
      const reply: PretrainedAskReply = {
        text,
        tokens: r.ids.length + (r.finished ? 1 : 0),
        finished: r.finished,
        ...(req.options ? askVerdict(text, req.options) : {}),
      };
      return reply;
    });
  }

  /** n responses to one question item (the recipe prompt; its image when the model takes images). */
  async sampleItem(
    item: QAItem,
    n: number,
    o: { greedy?: boolean; temperature?: number; topP?: number; maxNewTokens: number; seed?: number; prompt?: PromptOptions; signal?: AbortSignal },
  ) {
    const m = this.need();
    if (m.kind === 'caption') throw new InputError(m.id, 'a caption model answers task prompts, not questions: it cannot be evaluated or distilled');
    const image =
      m.kind === 'chat' && item.images.length ? await this.image(await item.images[0].load(), `${item.dataset_name}[${item.dataset_index}] image`) : undefined;
    const { inputs } = await this.inputs(m, promptText(item, o.prompt), image);
    const promptIds = Array.from(inputs.input_ids.data as ArrayLike<bigint | number>, Number);
    const out: { ids: number[]; text: string; finished: boolean; end?: number }[] = [];
    for (let c = 0; c < n; c++) {
      if (o.signal?.aborted) throw new PretrainedError('cancelled', m.id, null, 'sampling cancelled');
      const greedy = o.greedy || (o.temperature ?? 1) === 0;
      out.push(
        await this.generateOne(m, inputs, {
          maxNewTokens: o.maxNewTokens,
          temperature: greedy ? 0 : (o.temperature ?? 1),
          topP: o.topP,
          signal: o.signal,
          seed: (((o.seed ?? 0) >>> 0) * 1000003 + c) >>> 0,
        }),
      );
    }
    return { promptIds, nImages: image ? 1 : 0, responses: out };
  }

  /**
   * A Sampler for runEval (src/eval/run.ts): each item's n responses from the loaded model, so a
   * pretrained model is scored by the same runner and grader as the lab's models.
   */
  sampler(): Sampler {
    return async (_model, _tok, items, o) => {
      const res: ItemSamples[] = [];
      let done = 0;
      for (const [i, item] of items.entries()) {
        const s = await this.sampleItem(item, o.n, { ...o, seed: (((o.seed ?? 0) >>> 0) + i * 7919) >>> 0 });
        res.push({
          item,
          prompt: { ids: s.promptIds, patches: new Float32Array(0), nImages: s.nImages },
          // Ids end with the end-of-turn token when finished, as the engine's sampler returns them.
          responses: s.responses.map((r) => ({ ids: r.end !== undefined ? [...r.ids, r.end] : r.ids, text: r.text, logps: [], finished: r.finished })),
        });
        done += o.n;
        o.onProgress?.(done, items.length * o.n);
      }
      return res;
    };
  }

  /**
   * The model and tokenizer runEval sees: only the context length and prompt lengths (through the
   * model's own tokenizer) matter to it; the sampler does the decoding.
   */
  evalHandles(): { model: Model; tok: TextTokenizer } {
    const m = this.need();
    const t = m.tokenizer;
    const tok: TextTokenizer = {
      encode: (text, o = {}) => t.encode(text, { add_special_tokens: o.addSpecialTokens ?? true }),
      decode: (ids, o = {}) => t.decode(Array.from(ids), { skip_special_tokens: o.skipSpecialTokens ?? false }),
      tokenToId: (s) => t.model?.tokens_to_ids?.get(s),
      idToToken: () => undefined,
      vocabSize: 0,
      eosIds: [...m.eos],
      specialTokens: new Map(),
      chatTemplate: t.chat_template ?? undefined,
    };
    const model = { cfg: { text: { maxPositionEmbeddings: m.contextLength } } } as unknown as Model;
    return { model, tok };
  }

  /** Benchmarks scored with the paper's grader, as runEval scores lab models. */
  async evaluate(benchmarks: BenchmarkInput[], o: Omit<EvalOptions, 'sampler'>): Promise<EvalResult> {
    const m = this.need();
    if (m.kind === 'caption') throw new InputError(m.id, 'a caption model answers task prompts, not questions: it cannot be evaluated');
    return this.exclusive('evaluating', async (signal) => {
      const { model, tok } = this.evalHandles();
      const inner = o.signal;
      inner?.addEventListener('abort', () => this.cancel());
      try {
        return await runEval(model, tok, benchmarks, { ...o, signal, sampler: this.sampler() });
      } catch (e) {
        if (signal.aborted) throw new PretrainedError('cancelled', m.id, null, 'evaluation cancelled');
        throw e;
      }
    });
  }

  /** Teacher traces from the loaded model (distill.ts), sampled with the recipe prompt. */
  async distill(
    items: QAItem[],
    o: DistillOptions & { temperature?: number; topP?: number; maxNewTokens: number; prompt?: PromptOptions },
  ): Promise<DistillResult> {
    const m = this.need();
    if (m.kind === 'caption') throw new InputError(m.id, 'a caption model answers task prompts, not questions: it cannot write reasoning traces');
    return this.exclusive('distilling', async (signal) => {
      o.signal?.addEventListener('abort', () => this.cancel());
      const sample = async (item: QAItem, n: number, so: { seed: number }): Promise<DistillSample[]> => {
        const s = await this.sampleItem(item, n, {
          temperature: o.temperature ?? 1,
          topP: o.topP,
          maxNewTokens: o.maxNewTokens,
          seed: so.seed,
          prompt: o.prompt,
          signal,
        });
        return s.responses.map((r) => ({ text: r.text, finished: r.finished, imagesSeen: s.nImages }));
      };
      try {
        return await distill(items, sample, { ...o, signal });
      } catch (e) {
        if (signal.aborted) throw new PretrainedError('cancelled', m.id, null, 'distillation cancelled');
        throw e;
      }
    });
  }
}
