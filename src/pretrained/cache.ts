// Where transformers.js keeps downloaded model files, seen as models: which are stored, how big,
// whether a load ever completed from them, and deleting one. In the browser that is the Cache API
// (cache "transformers-cache", keyed by the file's URL on the hub or mirror); Node keeps files in a
// folder (cache-node.ts). A folder the user picked is served to transformers.js as a read-only
// cache of its own (folderCache), so the same loader runs with no network at all.
//
// Completeness: transformers.js stores each file only after its whole body arrived (a broken
// download leaves no entry; the tests check this), but a model whose last file failed has some
// files stored and not others. After a load succeeds, a small marker entry records its file list;
// a model without the marker, or missing a listed file, is shown as incomplete.

import type { FileSource } from '../io/files';

export interface CachedFile {
  file: string;
  bytes: number;
}

export interface CachedModel {
  id: string;
  /** The hub or mirror the files came from (browser); '' in Node, whose cache is shared by all. */
  host: string;
  files: CachedFile[];
  bytes: number;
  /** A load completed from these files and all of them are still there. */
  complete: boolean;
  /** dtype and device of the completed load. */
  loaded?: { dtype: string | null; device: string | null; at: string };
}

export interface ModelCacheStore {
  list(): Promise<CachedModel[]>;
  /** Remove every stored file of `id` (from every host); returns how many. */
  remove(id: string): Promise<number>;
  /** Stored files of one model (from `host` where the store knows hosts). */
  files(id: string, host?: string): Promise<CachedFile[]>;
  /** Remove one stored file, if present (a partial entry after a failed download). */
  removeFile(id: string, file: string, host?: string): Promise<boolean>;
  /** Record a completed load and its files. */
  markComplete(id: string, host: string, info: { files: string[]; dtype: string | null; device: string | null }): Promise<void>;
}

/** The marker's file name: not a name any model repository uses. */
export const MARKER = '.thinker-loaded.json';

export interface Marker {
  files: string[];
  dtype: string | null;
  device: string | null;
  at: string;
}

export function parseMarker(text: string): Marker | null {
  try {
    const m = JSON.parse(text) as Marker;
    return Array.isArray(m.files) && m.files.every((f) => typeof f === 'string') ? m : null;
  } catch {
    return null;
  }
}

/** Group (id, file, bytes) rows into models and judge completeness from their markers. */
export function groupModels(rows: { host: string; id: string; file: string; bytes: number }[], markers: Map<string, Marker>): CachedModel[] {
  const byKey = new Map<string, CachedModel>();
  for (const r of rows) {
    const key = `${r.host}\n${r.id}`;
    let m = byKey.get(key);
    if (!m) byKey.set(key, (m = { id: r.id, host: r.host, files: [], bytes: 0, complete: false }));
    m.files.push({ file: r.file, bytes: r.bytes });
    m.bytes += r.bytes;
  }
  for (const [key, m] of byKey) {
    m.files.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    const mk = markers.get(key);
    if (mk) {
      const have = new Set(m.files.map((f) => f.file));
      m.complete = mk.files.every((f) => have.has(f));
      m.loaded = { dtype: mk.dtype, device: mk.device, at: mk.at };
    }
  }
  return [...byKey.values()].sort((a, b) => a.id.localeCompare(b.id) || a.host.localeCompare(b.host));
}

// ---------------------------------------------------------------------------------------------
// Browser: the Cache API.

const RESOLVE = /^(https?:\/\/.+?\/)(.+?)\/resolve\/[^/]+\/(.+)$/;

/** Split a cache key URL `${host}${id}/resolve/${revision}/${file}`. */
export function parseHubUrl(url: string): { host: string; id: string; file: string } | null {
  const m = RESOLVE.exec(url);
  if (!m) return null;
  return { host: m[1], id: decodeURIComponent(m[2]), file: decodeURIComponent(m[3]) };
}

export const hubFileUrl = (host: string, id: string, file: string, revision = 'main') =>
  `${host.replace(/\/*$/, '/')}${id}/resolve/${encodeURIComponent(revision)}/${file}`;

export function browserCacheStore(cacheName = 'transformers-cache'): ModelCacheStore {
  const open = () => {
    if (typeof caches === 'undefined') throw new Error('this browser has no Cache API (a non-secure page?): downloaded models cannot be kept');
    return caches.open(cacheName);
  };
  const entries = async () => {
    const cache = await open();
    const out: { req: Request; host: string; id: string; file: string }[] = [];
    for (const req of await cache.keys()) {
      const p = parseHubUrl(req.url);
      if (p) out.push({ req, ...p });
    }
    return { cache, out };
  };
  const sizeOf = async (cache: Cache, req: Request) => {
    const res = await cache.match(req);
    const len = Number(res?.headers.get('content-length'));
    if (Number.isFinite(len) && len > 0) return len;
    return res ? (await res.arrayBuffer()).byteLength : 0;
  };
  return {
    async list() {
      const { cache, out } = await entries();
      const rows: { host: string; id: string; file: string; bytes: number }[] = [];
      const markers = new Map<string, Marker>();
      for (const e of out) {
        if (e.file === MARKER) {
          const mk = parseMarker(await (await cache.match(e.req))!.text());
          if (mk) markers.set(`${e.host}\n${e.id}`, mk);
          continue;
        }
        rows.push({ host: e.host, id: e.id, file: e.file, bytes: await sizeOf(cache, e.req) });
      }
      return groupModels(rows, markers);
    },
    async remove(id) {
      const { cache, out } = await entries();
      let n = 0;
      for (const e of out) if (e.id === id && (await cache.delete(e.req)) && e.file !== MARKER) n++;
      return n;
    },
    async files(id, host) {
      const { cache, out } = await entries();
      const res: CachedFile[] = [];
      for (const e of out)
        if (e.id === id && (host === undefined || e.host === host) && e.file !== MARKER) res.push({ file: e.file, bytes: await sizeOf(cache, e.req) });
      return res;
    },
    async removeFile(id, file, host) {
      const { cache, out } = await entries();
      let hit = false;
      for (const e of out) if (e.id === id && e.file === file && (host === undefined || e.host === host)) hit = (await cache.delete(e.req)) || hit;
      return hit;
    },
    async markComplete(id, host, info) {
      const cache = await open();
      const body = JSON.stringify({ ...info, at: new Date().toISOString() } satisfies Marker);
      await cache.put(hubFileUrl(host, id, MARKER), new Response(body, { headers: { 'content-type': 'application/json' } }));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A picked folder as transformers.js's custom cache.

/** The part of a transformers.js cache key after `${id}/` (and after `resolve/<rev>/` for URLs). */
export function fileInKey(key: string, id: string): string | null {
  const url = parseHubUrl(key);
  if (url) return url.id === id ? url.file : null;
  const at = key.indexOf(`${id}/`);
  return at < 0 ? null : key.slice(at + id.length + 1);
}

/**
 * transformers.js's custom-cache interface (match/put) over a folder: `match` answers with the
 * folder's file for any key naming `id`, `put` stores nothing (the folder is the user's, read-only).
 */
export function folderCache(src: FileSource, id: string) {
  return {
    async match(key: string): Promise<Response | undefined> {
      const file = fileInKey(key, id);
      if (file === null || !(await src.exists(file))) return undefined;
      const bytes = await src.read(file);
      return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(bytes.byteLength) } });
    },
    async put(): Promise<void> {},
  };
}
