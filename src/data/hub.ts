// Datasets from the Hugging Face Hub by repo id, config and split, with plain fetch so the same
// code runs in the browser worker and in Node. The parquet files land in a FileSink (a MemoryWorkspace
// by default) under repo-like paths, where the parquet loaders in ./loaders read them unchanged.
//
// Where the files are found: the Hub's parquet listing (the dataset viewer's conversion, which
// exists for most public sets and names configs and splits), else the repository's own tree (sets
// whose viewer is off, or mirrors that do not serve the listing API).

import { InputError } from '../engine/errors';
import { pathSegments, type FileSink } from '../io/files';
import { MemoryWorkspace } from '../io/workspace';
import { splitShards } from './loaders/vqa';

export const HF_ENDPOINT = 'https://huggingface.co';

export type HubErrorKind = 'offline' | 'auth' | 'not-found' | 'cut' | 'stalled' | 'http' | 'bad-response';

/** A download that failed for a reason the user can act on; `kind` lets a UI pick its advice. */
export class HubError extends InputError {
  constructor(
    readonly kind: HubErrorKind,
    where: string,
    problem: string,
  ) {
    super(where, problem);
    this.name = 'HubError';
  }
}

export interface HubFile {
  /** Where the file goes in the sink: its path in the repository (or in the parquet conversion). */
  path: string;
  url: string;
  /** Bytes, when the listing or a HEAD request told; else learnt from the download's Content-Length. */
  size: number | null;
}

export interface HubListing {
  repo: string;
  /** The config the parquet listing served; null when the files came from the repository tree. */
  config: string | null;
  split: string;
  via: 'parquet-api' | 'tree';
  files: HubFile[];
}

export interface HubProgress {
  phase: 'listing' | 'sizing' | 'downloading' | 'done';
  /** The file being downloaded (or just finished), and its place in the list from 1. */
  file: string | null;
  fileIndex: number;
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  /** Null while some file's size is still unknown. */
  bytesTotal: number | null;
  fileBytesDone: number;
  fileBytesTotal: number | null;
  bytesPerSecond: number | null;
  /** Seconds left at the rate so far; null when the total or the rate is not known yet. */
  etaSeconds: number | null;
}

/** What a Hub repository holds: a dataset (URLs under /datasets/) or a model. */
export type HubRepoKind = 'dataset' | 'model';

/** One repository on the Hub or a mirror, and how to reach it. */
export interface HubRepoOptions {
  /** "owner/name", e.g. "UCSC-VLAA/MedVLThinker-Eval". */
  repo: string;
  /** Hub or mirror base URL (default https://huggingface.co). */
  endpoint?: string;
  /** A Hugging Face access token, for gated or private repos. */
  token?: string;
  /** Branch, tag or commit (default "main"; datasets: for the tree fallback). */
  revision?: string;
  signal?: AbortSignal;
  /** Injected for tests and for hosts with their own fetch; default: the global fetch. */
  fetch?: typeof fetch;
  /** A request that gets no answer, or a download that receives nothing, for this long fails instead of hanging. Default 60000. */
  stallTimeoutMs?: number;
}

export interface HubOptions extends HubRepoOptions {
  split: string;
  /** The dataset config; default: the only one, else "default". */
  config?: string;
}

export interface HubDownloadOptions<S extends FileSink = MemoryWorkspace> extends HubOptions {
  /** Where finished files go; default: a new MemoryWorkspace named "hf:<repo>". */
  sink?: S;
  onProgress?: (p: HubProgress) => void;
  /** Least time between two byte-progress events (file starts and ends always report). Default 100. */
  progressIntervalMs?: number;
  /** Files already there in full (a resumed download) are skipped when this says so. */
  isComplete?: (file: HubFile) => Promise<boolean> | boolean;
}

export interface HubDownloadResult<S extends FileSink = MemoryWorkspace> {
  files: S;
  listing: HubListing;
  /** Paths written to the sink, in order. */
  written: string[];
  /** Paths `isComplete` said were already there. */
  skipped: string[];
  /** Bytes downloaded (skipped files not counted). */
  bytes: number;
}

// ---------------------------------------------------------------------------------------------
// Requests

interface Ctx {
  /** What the repository holds: its URLs (/datasets/ or not) and the words of every error. */
  kind: HubRepoKind;
  repo: string;
  endpoint: string;
  token?: string;
  signal?: AbortSignal;
  fetch: typeof fetch;
  /** "hf <repo>": the `where` of every error. */
  where: string;
  stallMs: number;
  /** Re-arms the stall timer of the guard the requests run under. */
  touch?: () => void;
}

const REPO_RE = /^(?:[A-Za-z0-9][A-Za-z0-9._-]*\/)?[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REPO_EXAMPLE: Record<HubRepoKind, string> = { dataset: 'UCSC-VLAA/MedVLThinker-Eval', model: 'HuggingFaceTB/SmolVLM-256M-Instruct' };

function context(o: HubRepoOptions & { split?: string; config?: string }, kind: HubRepoKind = 'dataset'): Ctx {
  const repo = (o.repo ?? '').trim();
  if (!REPO_RE.test(repo) || repo.includes('..'))
    throw new InputError('repo', `"${o.repo}" is not a Hub ${kind} id (expected owner/name, e.g. ${REPO_EXAMPLE[kind]})`);
  for (const [name, v] of [
    ['split', o.split],
    ['config', o.config],
    ['revision', o.revision],
  ] as const) {
    // A dataset download needs its split; a model has none.
    if (v === undefined && (name !== 'split' || kind === 'model')) continue;
    if (typeof v !== 'string' || v.trim() === '' || /[/\\\0?#]/.test(v) || v === '.' || v === '..') {
      throw new InputError(name, `${JSON.stringify(v)} is not a valid ${name} name`);
    }
  }
  let endpoint = (o.endpoint ?? HF_ENDPOINT).trim().replace(/\/+$/, '');
  try {
    const u = new URL(endpoint);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error('not http');
    endpoint = `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
  } catch {
    throw new InputError('endpoint', `"${o.endpoint}" is not an http(s) URL`);
  }
  if (typeof (o.fetch ?? globalThis.fetch) !== 'function') throw new InputError('hub', 'this runtime has no fetch (Node 18 or later, or a browser, is needed)');
  // Called as ctx.fetch(...), the global fetch would get ctx as `this`, which browsers refuse
  // ("Illegal invocation"): it is called through a function of its own.
  const f: typeof fetch = o.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const stallMs = o.stallTimeoutMs ?? 60_000;
  if (!(stallMs > 0)) throw new InputError('stallTimeoutMs', `must be a positive number of milliseconds, not ${o.stallTimeoutMs}`);
  return { kind, repo, endpoint, token: o.token?.trim() || undefined, signal: o.signal, fetch: f, where: `hf ${repo}`, stallMs };
}

const abortReason = (signal: AbortSignal) => signal.reason ?? new DOMException('the download was cancelled', 'AbortError');

function throwIfAborted(signal?: AbortSignal) {
  if (signal?.aborted) throw abortReason(signal);
}

/** The network error's own words (Node puts the system code on `cause`; browsers say little). */
function networkDetail(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (e as Error)?.message ?? String(e);
}

const offline = (ctx: Ctx, e: unknown) =>
  new HubError(
    'offline',
    ctx.where,
    `cannot reach ${ctx.endpoint}: you are offline or the Hub is blocked; import the files from a folder instead (${networkDetail(e)})`,
  );

async function request(
  ctx: Ctx,
  url: string,
  method: 'GET' | 'HEAD' = 'GET',
  signal: AbortSignal | undefined = ctx.signal,
  extra: Record<string, string> = {},
): Promise<Response> {
  throwIfAborted(signal);
  ctx.touch?.();
  const headers: Record<string, string> = { ...extra };
  // The token goes only to the endpoint itself: listings may point at other hosts, and fetch drops
  // it on cross-origin redirects (the signed CDN URLs the Hub redirects files to).
  if (ctx.token && new URL(url).origin === new URL(ctx.endpoint).origin) headers.Authorization = `Bearer ${ctx.token}`;
  try {
    return await ctx.fetch(url, { method, headers, signal, redirect: 'follow' });
  } catch (e) {
    if (signal?.aborted) throw abortReason(signal);
    throw offline(ctx, e);
  }
}

/**
 * Runs `fn` with requests that fail when nothing arrives for ctx.stallMs: the caller's cancel and
 * the stall timer both abort one inner controller, and a flag says which did.
 */
async function guarded<T>(ctx: Ctx, what: () => string, fn: (g: Ctx) => Promise<T>): Promise<T> {
  const inner = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      inner.abort(new DOMException('stalled', 'TimeoutError'));
    }, ctx.stallMs);
  };
  const onAbort = () => inner.abort(abortReason(ctx.signal!));
  if (ctx.signal?.aborted) throw abortReason(ctx.signal);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    touch();
    return await fn({ ...ctx, signal: inner.signal, touch });
  } catch (e) {
    if (ctx.signal?.aborted) throw abortReason(ctx.signal);
    if (stalled)
      throw new HubError(
        'stalled',
        ctx.where,
        `${what()}: nothing arrived from ${ctx.endpoint} for ${ctx.stallMs / 1000} s; the connection stalled, run again to retry`,
      );
    throw e;
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}

async function bodyText(res: Response): Promise<string> {
  try {
    return (await res.text()).slice(0, 2000);
  } catch {
    return '';
  }
}

/** The Hub's explanation of a failed request: its JSON `error`, or a short plain-text body. */
function serverSays(text: string): string {
  let msg = text.trim();
  try {
    const j = JSON.parse(msg) as { error?: unknown };
    if (typeof j?.error === 'string') msg = j.error;
  } catch {
    /* not JSON: keep the text when it is short and not a web page */
  }
  if (msg.startsWith('<') || msg.length > 300) return '';
  return msg ? ` (the Hub says: ${msg})` : '';
}

/** The repository's page on the Hub, where a gated one's terms are accepted. */
const repoPage = (ctx: Ctx) => (ctx.kind === 'dataset' ? `${ctx.endpoint}/datasets/${ctx.repo}` : `${ctx.endpoint}/${ctx.repo}`);

/**
 * An error for a response that is not ok. The Hub answers 401 both for gated or private repos
 * without a token and, to hide private repos, for repos that do not exist; its X-Error-Code header
 * (RepoNotFound, GatedRepo) tells them apart when a browser lets the header through.
 */
async function failure(ctx: Ctx, res: Response, what: string): Promise<HubError> {
  const code = res.headers.get('x-error-code') ?? '';
  const says = serverSays(await bodyText(res));
  const page = repoPage(ctx);
  if (code === 'RepoNotFound') {
    return new HubError(
      'not-found',
      ctx.where,
      `no ${ctx.kind} ${ctx.repo} on ${ctx.endpoint}${ctx.token ? '' : ' (if it is private, give a token of an account that can see it)'}${says}`,
    );
  }
  if (res.status === 404) return new HubError('not-found', ctx.where, `${what} was not found (HTTP 404)${says}`);
  if (res.status === 401 || res.status === 403 || code === 'GatedRepo') {
    const how = `open ${page} while logged in, accept its terms, and give a token of that account (--token or HF_TOKEN; in the app, the token field)`;
    return new HubError(
      'auth',
      ctx.where,
      ctx.token
        ? `access to ${what} was refused for the token given (HTTP ${res.status}): the ${ctx.kind} is gated or private; ${how}${says}`
        : `${what} needs a Hugging Face token (HTTP ${res.status}): the ${ctx.kind} is gated or private; ${how}${says}`,
    );
  }
  if (res.status === 429)
    return new HubError('http', ctx.where, `the Hub is rate-limiting requests (HTTP 429) for ${what}: wait a minute and retry; a token raises the limit`);
  return new HubError('http', ctx.where, `${what} failed: HTTP ${res.status} ${res.statusText}${says}`);
}

async function json(ctx: Ctx, res: Response, what: string): Promise<unknown> {
  const text = await bodyText(res);
  try {
    return JSON.parse(text);
  } catch {
    throw new HubError('bad-response', ctx.where, `${what}: ${ctx.endpoint} answered with something that is not JSON; is it a Hugging Face Hub or mirror?`);
  }
}

const repoApi = (ctx: Ctx) => `${ctx.endpoint}/api/datasets/${ctx.repo}`;
const encPath = (p: string) => p.split('/').map(encodeURIComponent).join('/');

// ---------------------------------------------------------------------------------------------
// Listing

type ParquetMap = Record<string, Record<string, string[]>>;

const isUrlList = (v: unknown): v is string[] => Array.isArray(v) && v.every((u) => typeof u === 'string');

function parquetMap(v: unknown): ParquetMap | null {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null;
  const out: ParquetMap = {};
  for (const [config, splits] of Object.entries(v as Record<string, unknown>)) {
    if (!splits || typeof splits !== 'object' || Array.isArray(splits)) return null;
    out[config] = {};
    for (const [split, urls] of Object.entries(splits as Record<string, unknown>)) {
      if (!isUrlList(urls)) return null;
      out[config][split] = urls;
    }
  }
  return out;
}

/** Files of the parquet conversion go under config/split/, where splitShards finds them by folder. */
function listedFiles(ctx: Ctx, config: string, split: string, urls: string[]): HubFile[] {
  const seen = new Set<string>();
  return urls.map((u, i) => {
    let url: URL;
    try {
      url = new URL(u, ctx.endpoint);
    } catch {
      throw new HubError('bad-response', ctx.where, `the parquet listing holds "${u}", which is not a URL`);
    }
    let base = decodeURIComponent(url.pathname.slice(url.pathname.lastIndexOf('/') + 1));
    if (!base.endsWith('.parquet') || /[\\\0]/.test(base) || base === '.parquet') base = `${i}.parquet`;
    const path = `${config}/${split}/${base}`;
    pathSegments(path, ctx.where);
    if (seen.has(path)) throw new HubError('bad-response', ctx.where, `the parquet listing names ${path} twice`);
    seen.add(path);
    return { path, url: url.href, size: null };
  });
}

const names = (xs: string[]) => (xs.length ? xs.map((x) => `"${x}"`).join(', ') : 'none');

/** The split a parquet path holds by the Hub's file-name conventions, for "found splits" messages. */
function splitOfPath(p: string): string {
  const parts = p.split('/');
  const base = parts[parts.length - 1].replace(/\.parquet$/, '');
  const m = /^([A-Za-z][A-Za-z0-9.]*?)(?:[-_]\d.*)?$/.exec(base);
  return m ? m[1] : parts.length > 1 ? parts[parts.length - 2] : base;
}

interface TreeEntry {
  type?: string;
  path?: string;
  size?: number;
  lfs?: { size?: number };
}

/** Every file of the repository at `revision`, following the tree API's Link-header pages. */
async function repoTree(ctx: Ctx, revision: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  let url: string | null = `${repoApi(ctx)}/tree/${encodeURIComponent(revision)}?recursive=true`;
  for (let page = 0; url; page++) {
    if (page >= 1000) throw new HubError('bad-response', ctx.where, 'the repository tree did not end after 1000 pages');
    const res = await request(ctx, url);
    if (res.status === 404 && !res.headers.get('x-error-code')) {
      // After the listing's 404 too, no place is left where the dataset could be.
      const says = serverSays(await bodyText(res));
      throw new HubError(
        'not-found',
        ctx.where,
        `no dataset ${ctx.repo} (or no revision "${revision}") on ${ctx.endpoint}${ctx.token ? '' : '; if it is private, give a token'}${says}`,
      );
    }
    if (!res.ok) throw await failure(ctx, res, 'the repository tree');
    const body = await json(ctx, res, 'the repository tree');
    if (!Array.isArray(body)) throw new HubError('bad-response', ctx.where, 'the repository tree is not a list of files');
    out.push(...(body as TreeEntry[]));
    const next = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(res.headers.get('link') ?? '');
    url = next ? new URL(next[1], ctx.endpoint).href : null;
  }
  return out;
}

function treeFiles(ctx: Ctx, tree: TreeEntry[], split: string, config: string | undefined, revision: string): HubFile[] {
  const parquet = tree.filter((e) => e.type !== 'directory' && typeof e.path === 'string' && e.path.endsWith('.parquet'));
  const byPath = new Map(parquet.map((e) => [e.path!, e]));
  let paths = splitShards([...byPath.keys()], split);
  // Configs in a repo without a YAML card are top folders (or any folder) named after them.
  if (config && config !== 'default') paths = paths.filter((p) => p.split('/').slice(0, -1).includes(config));
  if (paths.length === 0) {
    const found = [...new Set([...byPath.keys()].map(splitOfPath))].sort();
    throw new HubError(
      'not-found',
      ctx.where,
      parquet.length === 0
        ? `the repository has no parquet files and the Hub has no parquet conversion of it; download its files another way and import the folder`
        : `no parquet files for split "${split}"${config ? ` and config "${config}"` : ''} in the repository (its parquet files hold the splits ${names(found)})`,
    );
  }
  return paths.map((p) => {
    pathSegments(p, ctx.where);
    const e = byPath.get(p)!;
    const size = e.lfs?.size ?? e.size;
    return {
      path: p,
      url: `${ctx.endpoint}/datasets/${ctx.repo}/resolve/${encodeURIComponent(revision)}/${encPath(p)}`,
      size: Number.isSafeInteger(size) && size! >= 0 ? size! : null,
    };
  });
}

/**
 * Where a split's parquet files are: the Hub's parquet listing when it has the split, else the
 * repository tree. A config or split that the listing shows to be absent is an error naming the
 * ones that exist.
 */
export async function listHubParquet(opts: HubOptions): Promise<HubListing> {
  const ctx = context(opts);
  return guarded(
    ctx,
    () => `listing the parquet files of ${ctx.repo}`,
    (g) => listWith(g, opts),
  );
}

async function listWith(ctx: Ctx, opts: HubOptions): Promise<HubListing> {
  const { split, config } = opts;
  const revision = opts.revision ?? 'main';
  const listing = (cfg: string, files: HubFile[]): HubListing => ({ repo: ctx.repo, config: cfg, split, via: 'parquet-api', files });

  if (config) {
    const res = await request(ctx, `${repoApi(ctx)}/parquet/${encodeURIComponent(config)}/${encodeURIComponent(split)}`);
    if (res.ok) {
      const urls = await json(ctx, res, 'the parquet listing');
      if (!isUrlList(urls)) throw new HubError('bad-response', ctx.where, 'the parquet listing is not a list of URLs');
      if (urls.length) return listing(config, listedFiles(ctx, config, split, urls));
    } else if (res.status !== 404 && res.status < 500) {
      throw await failure(ctx, res, `dataset ${ctx.repo}`);
    } else {
      await res.body?.cancel().catch(() => undefined);
    }
  }

  const res = await request(ctx, `${repoApi(ctx)}/parquet`);
  let map: ParquetMap | null = null;
  if (res.ok) {
    map = parquetMap(await json(ctx, res, 'the parquet listing'));
    if (!map) throw new HubError('bad-response', ctx.where, 'the parquet listing is not a map of configs to splits to URLs');
  } else if (res.status !== 404 && res.status < 500) {
    throw await failure(ctx, res, `dataset ${ctx.repo}`);
  } else {
    // 404: no conversion (viewer off, or a mirror without the API); 5xx: the listing service is
    // down. Either way the repository itself may still hold parquet files.
    await res.body?.cancel().catch(() => undefined);
  }

  if (map && Object.keys(map).length > 0) {
    const configs = Object.keys(map).sort();
    const cfg = config ?? (configs.length === 1 ? configs[0] : configs.includes('default') ? 'default' : null);
    if (cfg === null) {
      const withSplit = configs.filter((c) => map![c][split]);
      throw new HubError(
        'not-found',
        ctx.where,
        `${ctx.repo} has several configs; choose one (--config): ${names(configs)}${withSplit.length ? `; those with split "${split}": ${names(withSplit)}` : ''}`,
      );
    }
    if (!map[cfg]) throw new HubError('not-found', ctx.where, `no config "${cfg}" in ${ctx.repo} (its configs: ${names(configs)})`);
    const urls = map[cfg][split];
    if (!urls)
      throw new HubError(
        'not-found',
        ctx.where,
        `no split "${split}" in ${ctx.repo}${configs.length > 1 || cfg !== 'default' ? ` config "${cfg}"` : ''} (its splits: ${names(Object.keys(map[cfg]).sort())})`,
      );
    if (urls.length) return listing(cfg, listedFiles(ctx, cfg, split, urls));
  }

  const files = treeFiles(ctx, await repoTree(ctx, revision), split, config, revision);
  return { repo: ctx.repo, config: null, split, via: 'tree', files };
}

// ---------------------------------------------------------------------------------------------
// Download

const PAR1 = [0x50, 0x41, 0x52, 0x31];
const hasParquetMagic = (b: Uint8Array) => b.length >= 12 && PAR1.every((m, i) => b[i] === m && b[b.length - 4 + i] === m);

/** The chunks of one response body as one array (the one chunk itself when it is all of it). */
export function concatBytes(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0].length === total) return chunks[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

function contentLength(res: Response): number | null {
  // A compressed body arrives decompressed, so its Content-Length says nothing about what we get.
  const enc = res.headers.get('content-encoding');
  if (enc && enc !== 'identity') return null;
  const n = Number(res.headers.get('content-length') ?? NaN);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Sizes of files the listing gave none for, by HEAD; a failing HEAD leaves the size to the GET. */
async function probeSizes(ctx: Ctx, files: HubFile[]) {
  const todo = files.filter((f) => f.size === null);
  const next = async () => {
    for (let f = todo.shift(); f; f = todo.shift()) {
      const res = await request(ctx, f.url, 'HEAD');
      if (res.ok) f.size = contentLength(res);
      await res.body?.cancel().catch(() => undefined);
    }
  };
  await Promise.all([next(), next(), next(), next()]);
}

const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;

/**
 * Download a split's parquet files into `sink` (a new MemoryWorkspace unless given). Each file goes to
 * the sink only once it arrived whole (length and parquet magic checked), so an error or a cancel
 * leaves no partial file. Cancel with `signal`: the promise rejects with its reason (an AbortError).
 */
export async function downloadHubDataset<S extends FileSink = MemoryWorkspace>(opts: HubDownloadOptions<S>): Promise<HubDownloadResult<S>> {
  const ctx = context(opts);
  const sink = opts.sink ?? (new MemoryWorkspace(`hf:${ctx.repo}`) as unknown as S);
  const interval = opts.progressIntervalMs ?? 100;

  const p: HubProgress = {
    phase: 'listing',
    file: null,
    fileIndex: 0,
    filesDone: 0,
    filesTotal: 0,
    bytesDone: 0,
    bytesTotal: null,
    fileBytesDone: 0,
    fileBytesTotal: null,
    bytesPerSecond: null,
    etaSeconds: null,
  };
  let lastEmit = -Infinity;
  let t0 = 0;
  let downloaded = 0;
  const emit = (force: boolean) => {
    if (!opts.onProgress) return;
    const now = performance.now();
    if (!force && now - lastEmit < interval) return;
    lastEmit = now;
    const secs = (now - t0) / 1000;
    p.bytesPerSecond = p.phase !== 'listing' && p.phase !== 'sizing' && secs > 0 && downloaded > 0 ? downloaded / secs : null;
    p.etaSeconds = p.phase === 'done' ? 0 : p.bytesTotal !== null && p.bytesPerSecond ? Math.max(0, p.bytesTotal - p.bytesDone) / p.bytesPerSecond : null;
    opts.onProgress({ ...p });
  };

  emit(true);
  const listing = await guarded(
    ctx,
    () => `listing the parquet files of ${ctx.repo}`,
    (g) => listWith(g, opts),
  );
  const files = listing.files;
  p.filesTotal = files.length;
  // With several files a total known up front gives a meaningful ETA from the first byte.
  if (files.length > 1 && files.some((f) => f.size === null)) {
    p.phase = 'sizing';
    emit(true);
    await guarded(
      ctx,
      () => 'asking the file sizes',
      (g) => probeSizes(g, files),
    );
  }
  const knownTotal = () => (files.every((f) => f.size !== null) ? files.reduce((a, f) => a + f.size!, 0) : null);
  p.bytesTotal = knownTotal();
  p.phase = 'downloading';
  t0 = performance.now();

  const written: string[] = [];
  const skipped: string[] = [];
  for (const [i, f] of files.entries()) {
    throwIfAborted(ctx.signal);
    p.file = f.path;
    p.fileIndex = i + 1;
    p.fileBytesDone = 0;
    p.fileBytesTotal = f.size;
    if (f.size !== null && opts.isComplete && (await opts.isComplete(f))) {
      skipped.push(f.path);
      p.bytesDone += f.size;
      p.filesDone++;
      emit(true);
      continue;
    }
    emit(true);
    const bytes = await downloadOne(
      ctx,
      f,
      (n) => {
        p.fileBytesDone += n;
        p.bytesDone += n;
        downloaded += n;
        emit(false);
      },
      (size) => {
        f.size = size;
        p.fileBytesTotal = size;
        p.bytesTotal = knownTotal();
      },
    );
    throwIfAborted(ctx.signal);
    await sink.write(f.path, bytes);
    written.push(f.path);
    p.filesDone++;
    emit(true);
  }
  p.phase = 'done';
  p.bytesTotal = p.bytesDone;
  emit(true);
  return { files: sink, listing, written, skipped, bytes: downloaded };
}

async function downloadOne(ctx: Ctx, f: HubFile, onBytes: (n: number) => void, onSize: (n: number) => void): Promise<Uint8Array> {
  let got = 0;
  let expected: number | null = f.size;
  return guarded(
    ctx,
    () => `the download of ${f.path} (after ${got} bytes)`,
    async (g) => {
      const res = await request(g, f.url);
      if (!res.ok) throw await failure(g, res, `file ${f.path}`);
      const cl = contentLength(res);
      if (cl !== null) expected = cl;
      if (expected !== null) onSize(expected);
      const cut = (why: string) =>
        new HubError(
          'cut',
          ctx.where,
          `the download of ${f.path} was cut after ${got}${expected !== null ? ` of ${expected}` : ''} bytes (${why}); nothing of it was kept, run again to retry`,
        );
      const chunks: Uint8Array[] = [];
      if (!res.body) {
        const b = new Uint8Array(await res.arrayBuffer());
        chunks.push(b);
        got = b.length;
        onBytes(b.length);
      } else {
        const reader = res.body.getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            g.touch?.();
            if (done) break;
            got += value.length;
            if (expected !== null && got > expected)
              throw new HubError('cut', ctx.where, `the download of ${f.path} sent more than the announced ${expected} bytes; nothing of it was kept`);
            chunks.push(value);
            onBytes(value.length);
          }
        } catch (e) {
          await reader.cancel().catch(() => undefined);
          // Cancels and stalls are told apart by the guard; anything else cut the connection.
          if (e instanceof HubError || g.signal?.aborted) throw e;
          throw cut(networkDetail(e));
        } finally {
          reader.releaseLock();
        }
      }
      if (expected !== null && got !== expected) throw cut('the connection ended early');
      const bytes = concatBytes(chunks, got);
      if (!hasParquetMagic(bytes)) {
        throw new HubError(
          'bad-response',
          ctx.where,
          `${f.path} (${mb(got)}, ${res.headers.get('content-type') ?? 'no content type'}) is not a parquet file; the server sent something else`,
        );
      }
      return bytes;
    },
  );
}

/** One line for a log or a UI label: "file 2/3 data/test-1.parquet  12.0/30.5 MB  1.2 MB/s  ETA 15 s". */
export function formatHubProgress(p: HubProgress): string {
  if (p.phase === 'listing') return 'listing the parquet files';
  if (p.phase === 'sizing') return `asking the sizes of ${p.filesTotal} files`;
  const bytes = p.bytesTotal !== null ? `${mb(p.bytesDone)} of ${mb(p.bytesTotal)}` : mb(p.bytesDone);
  if (p.phase === 'done') return `downloaded ${p.filesDone} of ${p.filesTotal} files, ${bytes}`;
  const rate = p.bytesPerSecond ? `, ${mb(p.bytesPerSecond)}/s` : '';
  const eta = p.etaSeconds !== null ? `, ETA ${formatSeconds(p.etaSeconds)}` : '';
  return `file ${p.fileIndex}/${p.filesTotal} ${p.file ?? ''}: ${bytes}${rate}${eta}`;
}

export function formatSeconds(s: number): string {
  if (s < 90) return `${Math.ceil(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

// ---------------------------------------------------------------------------------------------
// Single files of a repository (src/lab/hub-models.ts downloads models with these): the same
// requests, errors and stall guard as the dataset downloads above, plus ranged GETs, so that a
// download cut off part-way resumes where it stopped instead of starting over.

/** One repository on a Hub or mirror, its options checked; the `where` of every error is "hf <repo>". */
export type HubRepo = Readonly<Ctx>;

/** Check the options (repo id, revision, endpoint) without any request. */
export function hubRepo(o: HubRepoOptions, kind: HubRepoKind): HubRepo {
  return context(o, kind);
}

/** A repository path as it goes into a URL: each segment percent-encoded, the slashes kept. */
export const encodeRepoPath = encPath;

const COMMIT_RE = /^[0-9a-f]{40}$/;

/** A redirect's target naming the commit: resolve/<commit>/ or the Hub's api/resolve-cache/models/<repo>/<commit>/. */
const COMMIT_IN_URL = /\/(?:resolve|api\/resolve-cache\/models\/[^/]+\/[^/]+)\/([0-9a-f]{40})\//;

/**
 * The commit the Hub resolved a revision to, when it says: X-Repo-Commit (sent with resolve/
 * answers; a browser sees it when the Hub exposes it), else the URL a redirect ended at.
 */
export function repoCommit(res: Response): string | null {
  const c = res.headers.get('x-repo-commit')?.trim().toLowerCase() ?? '';
  if (COMMIT_RE.test(c)) return c;
  return COMMIT_IN_URL.exec(res.url ?? '')?.[1] ?? null;
}

/** A strong ETag (a weak one cannot vouch for the bytes of a range), for If-Range. */
function strongEtag(res: Response): string | null {
  const e = res.headers.get('etag')?.trim() ?? '';
  return e && !e.startsWith('W/') ? e : null;
}

/** The size of a file by a HEAD request (null when the server does not say), or null for no such file (404). */
export async function headHubFile(r: HubRepo, url: string, path: string): Promise<{ size: number | null } | null> {
  return guarded(
    r,
    () => `asking the size of ${path}`,
    async (g) => {
      const res = await request(g, url, 'HEAD');
      if (res.status === 404 && res.headers.get('x-error-code') !== 'RepoNotFound') {
        await res.body?.cancel().catch(() => undefined);
        return null;
      }
      if (!res.ok) throw await failure(g, res, `file ${path}`);
      await res.body?.cancel().catch(() => undefined);
      return { size: contentLength(res) };
    },
  );
}

/** A small file, whole, with the commit the revision resolved to; null for no such file (404). */
export async function getHubFile(r: HubRepo, url: string, path: string): Promise<{ bytes: Uint8Array; commit: string | null } | null> {
  const chunks: Uint8Array[] = [];
  let commit: string | null = null;
  let found = true;
  const { bytes } = await streamHubFile(r, url, path, {
    offset: 0,
    on404: () => {
      found = false;
    },
    onStart: (s) => {
      commit = s.commit;
    },
    onChunk: (b) => {
      chunks.push(b);
    },
  });
  return found ? { bytes: concatBytes(chunks, bytes), commit } : null;
}

/** Where a streamed body starts in its file, and what the server said of the file. */
export interface HubStreamStart {
  /** The requested offset when the server honoured the Range, else 0 (the whole file follows). */
  start: number;
  /** The whole file's size, when the server said. */
  size: number | null;
  etag: string | null;
  commit: string | null;
}

export interface HubStreamOptions {
  /** Bytes of the file already held: > 0 asks for the rest with a Range request. */
  offset: number;
  /** Sent as If-Range with a ranged request: a file that changed since comes whole (start 0). */
  etag?: string | null;
  /** Called once, before the first chunk; may run asynchronously (dropping what a restart replaces). */
  onStart(s: HubStreamStart): Promise<void> | void;
  /** Each piece of the body as it arrives, in order; the stall timer waits while it runs. */
  onChunk(bytes: Uint8Array): Promise<void> | void;
  /** Called for a 404 (no such file) instead of throwing; the stream then resolves with 0 bytes. */
  on404?: () => void;
}

/**
 * GET one file of the repository from `offset`, handing its body to `onChunk` as it arrives. A
 * server that ignores the Range (200), refuses it (416) or answers another range sends the file
 * from byte 0, which `onStart` is told. Rejects with a HubError ('cut' when the connection breaks,
 * 'stalled' when nothing arrives for the stall timeout, 'auth'/'not-found'/'http' for an error
 * answer) or with the abort reason; the bytes handed over before stay valid.
 */
export async function streamHubFile(r: HubRepo, url: string, path: string, o: HubStreamOptions): Promise<{ bytes: number }> {
  let got = 0;
  let from = o.offset;
  let size: number | null = null;
  return guarded(
    r,
    () => `the download of ${path} (after ${from + got} bytes)`,
    async (g) => {
      let res = await request(g, url, 'GET', g.signal, o.offset > 0 ? { Range: `bytes=${o.offset}-`, ...(o.etag ? { 'If-Range': o.etag } : {}) } : {});
      let start = 0;
      if (o.offset > 0 && res.status === 206) {
        const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(res.headers.get('content-range') ?? '');
        const cl = contentLength(res);
        // A browser may hide Content-Range from the page; then the range asked for is the one sent.
        start = m ? Number(m[1]) : o.offset;
        size = m ? (m[3] === '*' ? null : Number(m[3])) : cl !== null ? o.offset + cl : null;
      }
      if (o.offset > 0 && start !== o.offset && (res.status === 206 || res.status === 416)) {
        // Another range than the one asked for, or one the server refuses: take the whole file.
        await res.body?.cancel().catch(() => undefined);
        res = await request(g, url);
        start = 0;
      }
      // 200 to a ranged request: the server ignores ranges, or the file changed (If-Range); the whole file follows.
      if (res.status === 404 && o.on404 && res.headers.get('x-error-code') !== 'RepoNotFound') {
        await res.body?.cancel().catch(() => undefined);
        o.on404();
        return { bytes: 0 };
      }
      if (!res.ok) throw await failure(g, res, `file ${path}`);
      if (start === 0) size = contentLength(res);
      from = start;
      await o.onStart({ start, size, etag: strongEtag(res), commit: repoCommit(res) });
      g.touch?.();
      const cut = (why: string) =>
        new HubError(
          'cut',
          g.where,
          `the download of ${path} was cut after ${from + got}${size !== null ? ` of ${size}` : ''} bytes (${why}); run again to resume`,
        );
      const take = async (b: Uint8Array) => {
        got += b.length;
        if (size !== null && from + got > size) throw new HubError('cut', g.where, `the download of ${path} sent more than the announced ${size} bytes`);
        await o.onChunk(b);
        g.touch?.();
      };
      if (!res.body) {
        await take(new Uint8Array(await res.arrayBuffer()));
      } else {
        const reader = res.body.getReader();
        let finished = false;
        try {
          for (;;) {
            let step: ReadableStreamReadResult<Uint8Array>;
            try {
              step = await reader.read();
            } catch (e) {
              // Cancels and stalls are told apart by the guard; anything else cut the connection.
              if (g.signal?.aborted) throw e;
              throw cut(networkDetail(e));
            }
            g.touch?.();
            if (step.done) break;
            // What the consumer throws (a full disk) goes out as it is.
            if (step.value.length) await take(step.value);
          }
          finished = true;
        } finally {
          if (!finished) await reader.cancel().catch(() => undefined);
          reader.releaseLock();
        }
      }
      if (size !== null && from + got !== size) throw cut('the connection ended early');
      return { bytes: got };
    },
  );
}
