// Node's side of the model cache: transformers.js's FileCache keeps `${cacheDir}/${id}/${file}`
// (for the main revision), writing each file to a `.tmp.<pid>.<random>` sibling and renaming it
// when complete. A model's folder is one that holds config.json or the lab's marker.
import { readdir, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { groupModels, MARKER, parseMarker, type CachedFile, type Marker, type ModelCacheStore } from './cache';

/** A temporary file of a download in progress (or of one killed mid-way). */
export const isTempFile = (name: string) => /\.tmp\.\d+\.[0-9a-z]+$/.test(name);

async function walk(dir: string, rel = ''): Promise<string[]> {
  let ents;
  try {
    ents = await readdir(path.join(dir, rel), { withFileTypes: true });
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw e;
  }
  const out: string[] = [];
  for (const e of ents) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await walk(dir, r)));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

export function nodeCacheStore(cacheDir: string): ModelCacheStore {
  const modelFiles = async () => {
    const all = await walk(cacheDir);
    const roots = new Set(all.filter((f) => f.endsWith('/config.json') || f.endsWith(`/${MARKER}`)).map((f) => f.slice(0, f.lastIndexOf('/'))));
    // The deepest root holding a file owns it (a model id may itself contain folders).
    const owner = (f: string) => {
      let best: string | null = null;
      for (const r of roots) if (f.startsWith(`${r}/`) && (!best || r.length > best.length)) best = r;
      return best;
    };
    return all
      .map((f) => {
        const id = owner(f);
        return id ? { id, file: f.slice(id.length + 1), full: path.join(cacheDir, f) } : null;
      })
      .filter((x): x is { id: string; file: string; full: string } => x !== null);
  };
  // A download in flight may rename or remove its temporary file between the listing and the stat.
  const size = async (p: string) =>
    stat(p).then(
      (st) => st.size,
      () => null,
    );
  return {
    async list() {
      const rows: { host: string; id: string; file: string; bytes: number }[] = [];
      const markers = new Map<string, Marker>();
      for (const f of await modelFiles()) {
        if (isTempFile(f.file)) continue;
        if (f.file === MARKER) {
          const mk = parseMarker(await readFile(f.full, 'utf8'));
          if (mk) markers.set(`\n${f.id}`, mk);
          continue;
        }
        const bytes = await size(f.full);
        if (bytes !== null) rows.push({ host: '', id: f.id, file: f.file, bytes });
      }
      return groupModels(rows, markers);
    },
    async remove(id) {
      const dir = path.join(cacheDir, ...id.split('/'));
      const files = (await walk(dir)).filter((f) => f !== MARKER && !isTempFile(f));
      await rm(dir, { recursive: true, force: true });
      return files.length;
    },
    async files(id) {
      const out: CachedFile[] = [];
      for (const f of await modelFiles()) {
        if (f.id !== id || f.file === MARKER) continue;
        const bytes = await size(f.full);
        if (bytes !== null) out.push({ file: f.file, bytes });
      }
      return out;
    },
    async removeFile(id, file) {
      const p = path.join(cacheDir, ...id.split('/'), ...file.split('/'));
      const had = await stat(p).then(
        () => true,
        () => false,
      );
      await rm(p, { force: true });
      return had;
    },
    async markComplete(id, _host, info) {
      const dir = path.join(cacheDir, ...id.split('/'));
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, MARKER), JSON.stringify({ ...info, at: new Date().toISOString() } satisfies Marker));
    },
  };
}
