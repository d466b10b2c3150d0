// A model from the Hugging Face Hub (or a mirror) into a model folder of a workspace: the engine
// worker's downloadModel (src/lab/models.ts) on OPFS and `thinker hub model` on a Node folder. The
// requests, their errors and the stall guard are src/data/hub.ts's; nothing is fetched unless the
// user asked for this download.
//
// Order. config.json first: is it a model this engine runs (configFromHfJson), and does it fit this
// adapter (fitProblem, as loading it would check)? A model that does not is refused with the
// numbers before anything else is fetched. Then the tokenizer and processor files (TOKENIZER_FILES
// and generation_config.json; a missing optional one is skipped, a missing tokenizer.json is an
// error), and the tokenizer is loaded and checked against the embedding while little has been
// downloaded. Then the weights (model.safetensors, or model.safetensors.index.json and its shards):
// their sizes by HEAD, the storage they need against what is free, then the bytes.
//
// Staging and resume. Files arrive in `staging` (a folder of the same workspace) as numbered parts
// under parts/FILE/, each written whole (an atomic file write) once `partBytes` arrived, and the
// bytes that arrived before a cut, a stall or a cancel are written too: while downloading, at most
// one part of a file is held in memory. download.json there records the repository, the commit the
// revision resolved to (config.json's X-Repo-Commit, or the commit its redirect names; every other
// file is fetched at that commit, so a resumed download cannot mix two versions of a repository)
// and each file's size and ETag. A download run again skips the files whose parts add up to their
// size (and, at a pinned commit, the optional files found missing) and asks for the rest of a
// partial one with a Range request (If-Range its ETag when no commit is pinned), starting the
// file over when the server sends it whole.
//
// Atomic. The model folder appears only complete: when every file is staged, each is put together
// from its parts, the weights' safetensors headers are checked against config.json (every tensor
// there with its shape), and the folder is written by one Workspace.writeFolder (Node: a temp
// folder renamed into place; OPFS and memory: the .complete marker last, which every reader waits
// for); then the staging folder is removed. The Workspace writes whole files only (no streaming
// write), so that last step holds the model's files in memory once: each is assembled from its
// parts into one buffer, never copied twice. A write that fails (full storage) leaves the staged
// files, so the next try only writes.
import { InputError } from '../engine/errors';
import { joinWhere, pathSegments, readJson, type FileSource } from '../io/files';
import { configFromHfJson } from '../io/hf-config';
import { parseSafetensorsHeader, type StTensorInfo } from '../io/safetensors';
import { loadTokenizer, TOKENIZER_FILES } from '../io/tokenizer';
import type { Workspace } from '../io/workspace';
import { paramSpecs, type ModelConfig } from '../model/config';
import { fitProblem, type AdapterBudget } from '../model/memory';
import { hubFileUrl } from '../pretrained/cache';
import {
  concatBytes,
  encodeRepoPath,
  formatSeconds,
  getHubFile,
  headHubFile,
  HubError,
  hubRepo,
  streamHubFile,
  type HubProgress,
  type HubRepoOptions,
} from '../data/hub';

export { DEFAULT_HUB_MODEL } from './api';

/** Files beside the weights that travel with the model when the repository has them. */
export const HUB_MODEL_EXTRA_FILES: readonly string[] = [...TOKENIZER_FILES.filter((f) => f !== 'tokenizer.json'), 'generation_config.json'];

const INDEX = 'model.safetensors.index.json';
const PLAN = 'download.json';
const DEFAULT_PART_BYTES = 32 * 2 ** 20;

export type HubModelPhase = 'config' | 'files' | 'downloading' | 'checking' | 'writing' | 'done';

/** HubProgress with the model download's phases, and the bytes an earlier, interrupted download left. */
export interface HubModelProgress extends Omit<HubProgress, 'phase'> {
  phase: HubModelPhase;
  repo: string;
  /** Bytes that were already staged when this download started (counted in bytesDone). */
  resumedBytes: number;
}

export interface HubModelOptions extends HubRepoOptions {
  ws: Workspace;
  /** The model folder to create, e.g. "models/NAME"; replaced when it exists (callers refuse that first). */
  dir: string;
  /** This download's staging folder in `ws` (keep it per repository, so that any later try resumes it). */
  staging: string;
  /**
   * What the model must fit to run here (its weights in memory, its largest tensor in one buffer),
   * asked once config.json is read; null: not checked (a download for another machine).
   */
  budget: () => Promise<AdapterBudget | null>;
  /** Storage left, in bytes, when the host knows it (a browser's quota less its usage). */
  freeBytes?: () => Promise<number | null>;
  onProgress?: (p: HubModelProgress) => void;
  /** Least time between two byte-progress events (phase and file changes always report). Default 100. */
  progressIntervalMs?: number;
  /** The most bytes a staged part holds (default 32 MiB): the memory a download holds at a time. */
  partBytes?: number;
}

export interface HubModelResult {
  repo: string;
  config: ModelConfig;
  /** The commit the revision resolved to, when the Hub said. */
  commit: string | null;
  /** The model folder's files (the .complete marker aside), sorted. */
  files: string[];
  /** Their bytes. */
  bytes: number;
  /** Bytes fetched by this call, and bytes an earlier interrupted download had staged. */
  downloaded: number;
  resumed: number;
}

/** The folder name a repository's model gets by default: "owner/name" -> "name". */
export const defaultModelName = (repo: string) => repo.trim().slice(repo.trim().lastIndexOf('/') + 1);

/** The staging folder's name for a repository and revision: one per download, whatever the model is called. */
export function stagingName(repo: string, revision = 'main'): string {
  return `models--${repo.trim().replace('/', '--')}${revision === 'main' ? '' : `--${revision}`}`;
}

interface PlanEntry {
  /** Bytes of the whole file, once known (a HEAD or a response said, or the download ended). */
  size: number | null;
  /** All of it is staged. */
  complete: boolean;
  etag?: string | null;
  /** An optional file the repository does not have (at the pinned commit, it never will). */
  absent?: boolean;
}

interface Plan {
  repo: string;
  endpoint: string;
  revision: string;
  commit: string | null;
  files: Record<string, PlanEntry>;
}

const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;
/** Bytes as a person reads them: MB below a gigabyte, GB above. */
const size = (n: number) => (n < 1e9 ? mb(n) : `${(n / 1e9).toFixed(2)} GB`);
const partName = (k: number) => String(k).padStart(6, '0');

/** One line for a label or a log: what the download is doing, with bytes, rate and time left. */
export function formatModelProgress(p: HubModelProgress): string {
  const resumed = p.resumedBytes > 0 ? ` (${mb(p.resumedBytes)} were already here)` : '';
  switch (p.phase) {
    case 'config':
      return `reading config.json of ${p.repo}`;
    case 'files':
      return p.file ? `fetching ${p.file}` : 'asking for the weight files';
    case 'checking':
      return 'checking the weights against config.json';
    case 'writing':
      return 'writing the model folder';
    case 'done':
      return `downloaded ${p.filesTotal} files, ${mb(p.bytesDone)}${resumed}`;
  }
  const bytes = p.bytesTotal !== null ? `${mb(p.bytesDone)} of ${mb(p.bytesTotal)}` : mb(p.bytesDone);
  const rate = p.bytesPerSecond ? `, ${mb(p.bytesPerSecond)}/s` : '';
  const eta = p.etaSeconds !== null ? `, ${formatSeconds(p.etaSeconds)} left` : '';
  return `file ${p.fileIndex}/${p.filesTotal} ${p.file ?? ''}: ${bytes}${rate}${eta}${resumed}`;
}

/**
 * Download a model repository into `o.dir` of `o.ws` as described at the top of this file. Cancel
 * with `o.signal`: the promise rejects with its reason, and what arrived stays staged for the next try.
 */
export async function downloadHubModel(o: HubModelOptions): Promise<HubModelResult> {
  const r = hubRepo(o, 'model');
  const ws = o.ws;
  const where = r.where;
  const partBytes = o.partBytes ?? DEFAULT_PART_BYTES;
  if (!(partBytes >= 1)) throw new InputError('partBytes', `must be at least 1, not ${o.partBytes}`);
  const revision = o.revision ?? 'main';
  const staging = o.staging;
  const interval = o.progressIntervalMs ?? 100;

  // ------------------------------------------------------------------ progress
  const p: HubModelProgress = {
    phase: 'config',
    repo: r.repo,
    file: 'config.json',
    fileIndex: 0,
    filesDone: 0,
    filesTotal: 0,
    bytesDone: 0,
    bytesTotal: null,
    fileBytesDone: 0,
    fileBytesTotal: null,
    bytesPerSecond: null,
    etaSeconds: null,
    resumedBytes: 0,
  };
  let lastEmit = -Number.POSITIVE_INFINITY;
  let t0 = performance.now();
  let downloaded = 0;
  const emit = (force: boolean) => {
    if (!o.onProgress) return;
    const now = performance.now();
    if (!force && now - lastEmit < interval) return;
    lastEmit = now;
    const secs = (now - t0) / 1000;
    p.bytesPerSecond = p.phase === 'downloading' && secs > 0 && downloaded > 0 ? downloaded / secs : null;
    p.etaSeconds =
      p.phase === 'done'
        ? 0
        : p.phase === 'downloading' && p.bytesTotal !== null && p.bytesPerSecond
          ? Math.max(0, p.bytesTotal - p.bytesDone) / p.bytesPerSecond
          : null;
    o.onProgress({ ...p });
  };
  const phase = (ph: HubModelPhase, file: string | null = null) => {
    p.phase = ph;
    p.file = file;
    emit(true);
  };

  // ------------------------------------------------------------------ staging
  const partsDir = (file: string) => `${staging}/parts/${file}`;
  let plan: Plan | null = null;
  const savePlan = () => ws.write(`${staging}/${PLAN}`, new TextEncoder().encode(`${JSON.stringify(plan, null, 1)}\n`));
  const entry = (file: string): PlanEntry => {
    plan!.files[file] ??= { size: null, complete: false };
    return plan!.files[file];
  };

  /** The staged parts of a file, in order, up to the first gap (a later part is of no use without it). */
  async function staged(file: string): Promise<{ parts: string[]; bytes: number }> {
    const names = (await ws.listDir(partsDir(file)))
      .filter((e) => e.kind === 'file' && /^\d{6}$/.test(e.name))
      .map((e) => e.name)
      .sort();
    const parts: string[] = [];
    let bytes = 0;
    for (const [k, n] of names.entries()) {
      if (n !== partName(k)) break;
      const size = await ws.size(`${partsDir(file)}/${n}`);
      if (size === null) break;
      parts.push(n);
      bytes += size;
    }
    if (parts.length < names.length) for (const n of names.slice(parts.length)) await ws.remove(`${partsDir(file)}/${n}`);
    return { parts, bytes };
  }

  /** A staged file put together from its parts: one buffer of its size. */
  async function assemble(file: string): Promise<Uint8Array> {
    const { parts, bytes } = await staged(file);
    const out = new Uint8Array(bytes);
    let at = 0;
    for (const n of parts) {
      const b = await ws.read(`${partsDir(file)}/${n}`);
      out.set(b, at);
      at += b.length;
    }
    return out;
  }

  /** Staged bytes dropped (a file started over) no longer count as done. */
  const forget = (bytes: number) => {
    p.bytesDone -= bytes;
    p.resumedBytes = Math.max(0, p.resumedBytes - bytes);
  };

  const isStaged = async (file: string) => {
    const e = plan!.files[file];
    return !!e?.complete && e.size !== null && (await staged(file)).bytes === e.size;
  };

  /**
   * Fetch `file` into its parts, resuming what is staged. Returns false for a 404 when `optional`
   * (nothing staged); a 404 on a required file is an error naming it.
   */
  async function fetchFile(file: string, o2: { optional?: boolean; missing?: string } = {}): Promise<boolean> {
    const e = entry(file);
    delete e.absent;
    if (await isStaged(file)) return true;
    let { parts, bytes: have } = await staged(file);
    // Without a known size, staged bytes cannot be told from a whole file, nor resumed with a range.
    if (e.size === null || have > e.size) {
      if (parts.length) await ws.remove(partsDir(file));
      forget(have);
      parts = [];
      have = 0;
    }
    e.complete = false;
    let k = parts.length;
    let buf: Uint8Array[] = [];
    let held = 0;
    const flush = async () => {
      if (held === 0) return;
      const bytes = concatBytes(buf, held);
      buf = [];
      held = 0;
      await ws.write(`${partsDir(file)}/${partName(k)}`, bytes);
      k++;
    };
    let found = true;
    let start = have;
    p.fileBytesDone = have;
    p.fileBytesTotal = e.size;
    emit(true);
    try {
      const got = await streamHubFile(r, fileUrl(file), file, {
        offset: have,
        // At a pinned commit the bytes cannot change; If-Range (one more header for CORS to allow) only without one.
        etag: plan!.commit ? null : e.etag,
        on404: () => {
          found = false;
        },
        onStart: async (s) => {
          if (s.start === 0 && have > 0) {
            // The server sent the whole file (no ranges, or the file changed): start it over.
            await ws.remove(partsDir(file));
            forget(have);
            k = 0;
            have = 0;
          }
          if (s.start > 0 && s.size !== null && e.size !== null && s.size !== e.size) {
            await ws.remove(partsDir(file));
            forget(have);
            have = 0;
            throw new HubError(
              'bad-response',
              where,
              `${file} changed on the Hub since the interrupted download (${e.size} bytes then, ${s.size} now); run again to download it anew`,
            );
          }
          start = s.start;
          if (s.size !== null && s.size !== e.size) {
            if (p.bytesTotal !== null && e.size !== null) p.bytesTotal += s.size - e.size;
            e.size = s.size;
          }
          if (s.etag) e.etag = s.etag;
          p.fileBytesDone = start;
          p.fileBytesTotal = e.size;
          await savePlan();
        },
        onChunk: async (b) => {
          buf.push(b);
          held += b.length;
          downloaded += b.length;
          p.bytesDone += b.length;
          p.fileBytesDone += b.length;
          emit(false);
          if (held >= partBytes) await flush();
        },
      });
      if (!found) {
        if (o2.optional) {
          plan!.files[file] = { size: null, complete: false, absent: true };
          await savePlan();
          return false;
        }
        throw new HubError(
          'not-found',
          where,
          `the repository has no ${file} at revision ${revision} (HTTP 404)${o2.missing ? `: ${o2.missing}` : ''}; nothing was saved`,
        );
      }
      await flush();
      e.size = start + got.bytes;
      e.complete = true;
      await savePlan();
      return true;
    } catch (err) {
      // What arrived is good up to here: keep it for the next try (a cut, a stall, a cancel).
      await flush().catch(() => undefined);
      throw err;
    }
  }

  // ------------------------------------------------------------------ the download
  // The revision resolves to a commit with config.json's answer; every later file comes from it.
  let rev = revision;
  const fileUrl = (file: string) => hubFileUrl(r.endpoint, r.repo, encodeRepoPath(file), rev);

  emit(true);
  const cfgFile = await getHubFile(r, fileUrl('config.json'), 'config.json');
  if (!cfgFile)
    throw new HubError(
      'not-found',
      where,
      `no config.json at revision ${revision} of ${r.repo} on ${r.endpoint} (HTTP 404): no such revision, or not a model repository in the Transformers layout`,
    );
  const configWhere = joinWhere(where, 'config.json');
  let configJson: unknown;
  try {
    configJson = JSON.parse(new TextDecoder().decode(cfgFile.bytes));
  } catch {
    throw new InputError(configWhere, 'is not JSON; is this a Hugging Face model repository?');
  }
  let config: ModelConfig;
  try {
    config = configFromHfJson(configJson, configWhere);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    throw new InputError(
      e.where,
      `${e.message.slice(e.where.length + 2)} (${r.repo} is not a model this lab runs: Llama or Qwen2 text models and Idefics3/SmolVLM)`,
    );
  }
  const budget = await o.budget();
  if (budget) {
    const problem = fitProblem(config, budget, 'infer');
    if (problem) throw new InputError(where, `too big for this adapter: ${problem}; nothing was downloaded`);
  }
  p.bytesDone += cfgFile.bytes.length;
  downloaded += cfgFile.bytes.length;

  // The staging folder of an interrupted download of the same repository and commit is resumed;
  // anything else there is dropped.
  let old: Plan | null = null;
  if (await ws.exists(`${staging}/${PLAN}`)) {
    try {
      old = JSON.parse(new TextDecoder().decode(await ws.read(`${staging}/${PLAN}`))) as Plan;
    } catch {
      old = null;
    }
  }
  const commit = cfgFile.commit;
  const same =
    old !== null &&
    typeof old.files === 'object' &&
    old.files !== null &&
    old.repo === r.repo &&
    old.endpoint === r.endpoint &&
    old.revision === revision &&
    (old.commit === commit || old.commit === null || commit === null);
  if (!same) await ws.remove(staging);
  plan = { repo: r.repo, endpoint: r.endpoint, revision, commit: commit ?? (same ? old!.commit : null), files: same ? old!.files : {} };
  if (plan.commit) rev = plan.commit;
  await ws.remove(partsDir('config.json'));
  await ws.write(`${partsDir('config.json')}/${partName(0)}`, cfgFile.bytes);
  plan.files['config.json'] = { size: cfgFile.bytes.length, complete: true };
  await savePlan();
  for (const f of Object.keys(plan.files)) if (f !== 'config.json') p.resumedBytes += (await staged(f)).bytes;
  p.bytesDone += p.resumedBytes;

  // Tokenizer and processor files: small, and checked before any weight is fetched.
  const files = ['config.json'];
  for (const f of ['tokenizer.json', ...HUB_MODEL_EXTRA_FILES]) {
    phase('files', f);
    const required = f === 'tokenizer.json';
    // At a pinned commit, a file found missing before is missing still.
    if (!required && plan.commit && plan.files[f]?.absent) continue;
    if (await fetchFile(f, required ? { missing: 'the lab needs the fast tokenizer file (tokenizer.json) beside the weights' } : { optional: true }))
      files.push(f);
  }
  const src = stagedSource(files);
  const tok = await loadTokenizer(src, where);
  if (tok.vocabSize > config.text.vocabSize) {
    throw new InputError(
      joinWhere(where, 'tokenizer.json'),
      `the tokenizer has ids up to ${tok.vocabSize - 1} but the model's embedding has ${config.text.vocabSize} rows`,
    );
  }

  // The weights: one file, or an index and its shards; the lab's own vision encoder beside them.
  phase('files', null);
  let weights: string[];
  const single = await headHubFile(r, fileUrl('model.safetensors'), 'model.safetensors');
  if (single) {
    weights = ['model.safetensors'];
    if (single.size !== null && !plan.files['model.safetensors']?.complete) entry('model.safetensors').size = single.size;
  } else {
    const ok = await fetchFile(INDEX, { optional: true });
    if (!ok)
      throw new HubError(
        'not-found',
        where,
        `the repository has neither model.safetensors nor ${INDEX} at revision ${revision}: the lab reads safetensors weights only (not pytorch_model.bin)`,
      );
    files.push(INDEX);
    const index = await readJson(src, INDEX, where);
    const map = index && typeof index === 'object' ? (index as { weight_map?: unknown }).weight_map : undefined;
    if (!map || typeof map !== 'object') throw new InputError(joinWhere(where, INDEX), 'weight_map is missing or not an object');
    weights = [...new Set(Object.values(map as Record<string, unknown>))].map((s) => {
      if (typeof s !== 'string' || !s.endsWith('.safetensors') || s === INDEX)
        throw new InputError(joinWhere(where, INDEX), `weight_map names ${JSON.stringify(s)}, not a .safetensors shard`);
      return pathSegments(s, joinWhere(where, INDEX)).join('/');
    });
    for (const s of weights) {
      if (plan.files[s]?.complete) continue;
      const head = await headHubFile(r, fileUrl(s), s);
      if (!head) throw new HubError('not-found', where, `${s}, a shard ${INDEX} lists, is not in the repository (HTTP 404)`);
      if (head.size !== null) entry(s).size = head.size;
    }
  }
  // The lab's own vision encoder (a model exported from this lab) rides in vision.safetensors.
  if (
    config.vision &&
    !weights.includes('vision.safetensors') &&
    (plan.files['vision.safetensors']?.complete || (await headHubFile(r, fileUrl('vision.safetensors'), 'vision.safetensors')))
  )
    weights.push('vision.safetensors');
  for (const w of weights) entry(w);
  await savePlan();

  // Storage: what is left to download, then the finished folder beside the staged parts until they are removed.
  const small = files.reduce((a, f) => a + (plan!.files[f].size ?? 0), 0);
  let stagedWeights = 0;
  for (const w of weights) stagedWeights += (await staged(w)).bytes;
  const weightBytes = weights.every((w) => plan!.files[w].size !== null) ? weights.reduce((a, w) => a + plan!.files[w].size!, 0) : null;
  if (weightBytes !== null && o.freeBytes) {
    const left = Math.max(0, weightBytes - stagedWeights);
    const need = left + weightBytes + small;
    const free = await o.freeBytes();
    if (free !== null && need > free) {
      throw new InputError(
        where,
        `not enough storage: the weights are ${size(weightBytes)}; downloading the ${size(left)} not here yet and writing the model folder need about ${size(need)}, ` +
          `but only ${size(free)} is free; delete old runs, models or datasets (or free disk space) and try again`,
      );
    }
  }

  p.filesTotal = files.length + weights.length;
  p.filesDone = files.length;
  p.bytesTotal = weightBytes !== null ? small + weightBytes : null;
  t0 = performance.now();
  downloaded = 0;
  for (const [i, w] of weights.entries()) {
    p.fileIndex = files.length + i + 1;
    phase('downloading', w);
    await fetchFile(w);
    files.push(w);
    p.filesDone++;
    emit(true);
  }
  if (p.bytesTotal === null) p.bytesTotal = p.bytesDone;

  // Every file is here: put them together, check the weights, write the folder at once.
  phase('checking');
  const out: Record<string, Uint8Array> = {};
  const headers = new Map<string, StTensorInfo[]>();
  try {
    for (const f of files) {
      out[f] = await assemble(f);
      if (f.endsWith('.safetensors')) headers.set(f, parseSafetensorsHeader(out[f], joinWhere(where, f)).tensors);
    }
    checkTensorShapes(config, headers, where);
  } catch (e) {
    // Weights that will not load here: nothing staged is worth keeping (a try again downloads them anew).
    if (e instanceof InputError) await ws.remove(staging);
    throw e;
  }
  phase('writing');
  await ws.writeFolder(o.dir, out);
  await ws.remove(staging);
  const bytes = Object.values(out).reduce((a, b) => a + b.length, 0);
  p.bytesDone = p.bytesTotal = bytes;
  p.filesDone = p.filesTotal = files.length;
  phase('done');
  return { repo: r.repo, config, commit: plan.commit, files: files.slice().sort(), bytes, downloaded, resumed: p.resumedBytes };

  /** The staged files as a folder (the tokenizer loads from it before any weight is fetched). */
  function stagedSource(list: string[]): FileSource {
    return {
      name: where,
      list: async () => list.slice().sort(),
      exists: async (f) => list.includes(f),
      read: async (f) => {
        if (!list.includes(f)) throw new InputError(joinWhere(where, f), 'file not found');
        return assemble(f);
      },
    };
  }
}

/** Every tensor config.json implies is in the weights' headers with its shape (values are checked at load). */
function checkTensorShapes(cfg: ModelConfig, headers: Map<string, StTensorInfo[]>, where: string): void {
  const found = new Map<string, { file: string; shape: number[] }>();
  for (const [file, tensors] of headers) for (const t of tensors) found.set(t.name, { file, shape: t.shape });
  for (const s of paramSpecs(cfg)) {
    const t = found.get(s.name);
    const file = headers.size === 1 ? [...headers.keys()][0] : 'the weights';
    if (!t) throw new InputError(joinWhere(where, file), `tensor ${s.name} [${s.shape.join(', ')}] is missing: the weights do not match config.json`);
    if (t.shape.length !== s.shape.length || t.shape.some((d, i) => d !== s.shape[i]))
      throw new InputError(joinWhere(where, t.file), `tensor ${s.name} has shape [${t.shape.join(', ')}] but config.json implies [${s.shape.join(', ')}]`);
  }
}
