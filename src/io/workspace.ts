// The lab's storage: one folder tree that holds datasets, models and runs, the same interface over
// a directory in Node, the origin private file system (OPFS) in the browser, and memory in tests.
// Run drivers, checkpoints and the worker talk only to this, so one code path serves all hosts.
//
// Atomicity. A single file write is atomic everywhere (Node: temp file + rename; OPFS:
// createWritable's swap file, committed on close). A folder (a checkpoint, a saved model) is made
// atomic by `writeFolder`: Node writes a sibling temp folder and renames it into place; OPFS and
// memory, which cannot rename folders, write the files and then the marker `.complete` last, after
// removing any old marker first. A folder without its marker is never read as complete
// (`isCompleteFolder`), so a tab killed mid-write leaves the previous checkpoint as the last good
// one, and a stray partial folder that a run resuming removes (run-io `cleanRunFolder`, with the
// temp files of `removeLeftovers`); a folder write that fails (full storage) removes its own. (Rewriting a folder under the SAME
// name has no old copy to fall back to there; checkpoints never do that: each step has its own.)
import { InputError } from '../engine/errors';
import { joinWhere, pathSegments, type FileSource, type FileSink } from './files';

export const COMPLETE_MARKER = '.complete';

export interface DirEntry {
  name: string;
  kind: 'file' | 'dir';
}

export interface Workspace extends FileSource, FileSink {
  /** Direct children of a folder ('' = the root), sorted by name; [] when the folder does not exist. */
  listDir(dir: string): Promise<DirEntry[]>;
  /** Append UTF-8 text to a file (created when missing). Not atomic: used for line logs, whose readers skip a torn last line. */
  append(path: string, text: string): Promise<void>;
  /** Remove a file or a folder with everything in it; missing is fine. */
  remove(path: string): Promise<void>;
  /** Size of a file in bytes, or null when it does not exist. */
  size(path: string): Promise<number | null>;
  /** Replace folder `dir` with exactly `files` (relative paths), atomically as described above. */
  writeFolder(dir: string, files: Record<string, Uint8Array | string>): Promise<void>;
  /**
   * Remove from folder `dir` (not below it) what writes cut off by a killed process or a closed tab
   * left: Node's temp files and folders, OPFS swap files. Listing never shows them; they only hold
   * storage. Call when no write of this folder is in progress. Returns the names removed, sorted.
   */
  removeLeftovers(dir: string): Promise<string[]>;
}

const enc = new TextEncoder();
const bytesOf = (v: Uint8Array | string) => (typeof v === 'string' ? enc.encode(v) : v);

/** A folder written by writeFolder and not torn: its marker is there. */
export async function isCompleteFolder(ws: Workspace, dir: string): Promise<boolean> {
  return ws.exists(`${dir}/${COMPLETE_MARKER}`);
}

/** A view of `dir` inside `ws` as a workspace of its own (for loaders that take a FileSource). */
export function subWorkspace(ws: Workspace, dir: string): Workspace {
  const segs = pathSegments(dir, joinWhere(ws.name, dir));
  const base = segs.join('/');
  const at = (p: string) => (p === '' ? base : `${base}/${pathSegments(p, joinWhere(`${ws.name}/${base}`, p)).join('/')}`);
  return {
    name: joinWhere(ws.name, base),
    list: async () => {
      const out: string[] = [];
      const walk = async (rel: string) => {
        for (const e of await ws.listDir(at(rel))) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.kind === 'dir') await walk(r);
          else out.push(r);
        }
      };
      await walk('');
      return out.sort();
    },
    read: (p) => ws.read(at(p)),
    exists: (p) => ws.exists(at(p)),
    write: (p, b) => ws.write(at(p), b),
    listDir: (d) => ws.listDir(at(d)),
    append: (p, t) => ws.append(at(p), t),
    remove: (p) => ws.remove(at(p)),
    size: (p) => ws.size(at(p)),
    writeFolder: (d, f) => ws.writeFolder(at(d), f),
    removeLeftovers: (d) => ws.removeLeftovers(at(d)),
  };
}

/** Marker-last folder write for stores that cannot rename folders. */
async function writeFolderByMarker(ws: Workspace, dir: string, files: Record<string, Uint8Array | string>) {
  await ws.remove(`${dir}/${COMPLETE_MARKER}`);
  // Files of an older version of this folder that the new one lacks would otherwise survive.
  await ws.remove(dir);
  try {
    for (const [p, v] of Object.entries(files)) await ws.write(`${dir}/${p}`, bytesOf(v));
    await ws.write(`${dir}/${COMPLETE_MARKER}`, enc.encode(JSON.stringify({ files: Object.keys(files).sort(), at: new Date().toISOString() }) + '\n'));
  } catch (e) {
    // What was written is no folder anyone can read, and it holds storage: full storage is the
    // usual reason a write fails here, and the retry needs that space back.
    await ws.remove(dir).catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Memory

/** Files held in a Map: the workspace of tests, and a folder staged in memory (downloads, a model before its atomic write). */
export class MemoryWorkspace implements Workspace {
  readonly files = new Map<string, Uint8Array>();
  constructor(
    readonly name = 'memory',
    initial?: Record<string, Uint8Array | string>,
  ) {
    for (const [p, v] of Object.entries(initial ?? {})) this.files.set(this.key(p), typeof v === 'string' ? new TextEncoder().encode(v) : v);
  }

  private key(p: string) {
    return pathSegments(p, joinWhere(this.name, p)).join('/');
  }
  private prefix(dir: string) {
    return dir === '' ? '' : `${this.key(dir)}/`;
  }

  async list() {
    return [...this.files.keys()].sort();
  }
  async exists(p: string) {
    return this.files.has(this.key(p));
  }
  async read(p: string) {
    const f = this.files.get(this.key(p));
    if (!f) throw new InputError(joinWhere(this.name, p), 'file not found');
    return f.slice();
  }
  async write(p: string, bytes: Uint8Array) {
    this.files.set(this.key(p), bytes.slice());
  }
  async listDir(dir: string) {
    const pre = this.prefix(dir);
    const seen = new Map<string, DirEntry>();
    for (const k of this.files.keys()) {
      if (!k.startsWith(pre)) continue;
      const rest = k.slice(pre.length).split('/');
      seen.set(rest[0], { name: rest[0], kind: rest.length > 1 ? 'dir' : 'file' });
    }
    return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
  async append(p: string, text: string) {
    const k = this.key(p);
    const old = this.files.get(k) ?? new Uint8Array(0);
    const add = enc.encode(text);
    const both = new Uint8Array(old.length + add.length);
    both.set(old);
    both.set(add, old.length);
    this.files.set(k, both);
  }
  async remove(p: string) {
    const k = this.key(p);
    this.files.delete(k);
    for (const f of [...this.files.keys()]) if (f.startsWith(`${k}/`)) this.files.delete(f);
  }
  async size(p: string) {
    return this.files.get(this.key(p))?.length ?? null;
  }
  writeFolder(dir: string, files: Record<string, Uint8Array | string>) {
    return writeFolderByMarker(this, dir, files);
  }
  /** Memory writes are never cut off half-way. */
  async removeLeftovers(_dir: string): Promise<string[]> {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Node. Node's fs is imported lazily (fs-node.ts) so that this module stays loadable in a browser bundle.

const node = () => import('./fs-node');
const code = (e: unknown) => (e as { code?: string })?.code;
const tmpSuffix = () => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
/** Names of write() and writeFolder()'s temp files and folders (a rename away from their target). */
const NODE_LEFTOVER = /\.(tmp|old)-[0-9a-z]+-[0-9a-z]+$/;

export function nodeWorkspace(root: string): Workspace {
  const full = async (p: string) => {
    const { path } = await node();
    return p === '' ? root : path.join(root, ...pathSegments(p, joinWhere(root, p)));
  };
  // A file is never the root: '' is refused as a file path (pathSegments says why).
  const fileAt = async (p: string) => {
    const { path } = await node();
    return path.join(root, ...pathSegments(p, joinWhere(root, p)));
  };
  const ws: Workspace = {
    name: root,
    async list() {
      const out: string[] = [];
      const walk = async (rel: string) => {
        for (const e of await ws.listDir(rel)) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.kind === 'dir') await walk(r);
          else out.push(r);
        }
      };
      await walk('');
      return out.sort();
    },
    async read(p) {
      const { fs } = await node();
      try {
        return new Uint8Array(await fs.readFile(await fileAt(p)));
      } catch (e) {
        if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') throw new InputError(joinWhere(root, p), 'file not found');
        if (code(e) === 'EISDIR') throw new InputError(joinWhere(root, p), 'is a folder, not a file');
        throw e;
      }
    },
    async exists(p) {
      return (await ws.size(p)) !== null;
    },
    async size(p) {
      const { fs } = await node();
      try {
        const s = await fs.stat(await fileAt(p));
        return s.isFile() ? s.size : null;
      } catch (e) {
        if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return null;
        throw e;
      }
    },
    async write(p, bytes) {
      const { fs, path } = await node();
      const f = await fileAt(p);
      await fs.mkdir(path.dirname(f), { recursive: true });
      // Same folder, so the rename cannot cross filesystems and is atomic.
      const tmp = `${f}.tmp-${tmpSuffix()}`;
      try {
        const fh = await fs.open(tmp, 'w');
        try {
          await fh.writeFile(bytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fs.rename(tmp, f);
      } catch (e) {
        await fs.rm(tmp, { force: true }).catch(() => undefined);
        if (code(e) === 'ENOSPC') throw new InputError(joinWhere(root, p), 'the disk is full: nothing was replaced; free some space and try again');
        throw e;
      }
    },
    async listDir(dir) {
      const { fs } = await node();
      try {
        const entries = await fs.readdir(await full(dir), { withFileTypes: true });
        return (
          entries
            // Temp files and folders of writes in progress (or of a killed process) are not content.
            .filter((e) => !NODE_LEFTOVER.test(e.name))
            .filter((e) => e.isFile() || e.isDirectory())
            .map((e): DirEntry => ({ name: e.name, kind: e.isDirectory() ? 'dir' : 'file' }))
            .sort((a, b) => (a.name < b.name ? -1 : 1))
        );
      } catch (e) {
        if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return [];
        throw e;
      }
    },
    async append(p, text) {
      const { fs, path } = await node();
      const f = await fileAt(p);
      await fs.mkdir(path.dirname(f), { recursive: true });
      await fs.appendFile(f, text);
    },
    async remove(p) {
      const { fs } = await node();
      await fs.rm(await full(p), { recursive: true, force: true });
    },
    async removeLeftovers(dir) {
      const { fs, path } = await node();
      const d = await full(dir);
      const names = (
        await fs.readdir(d).catch((e) => {
          if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return [] as string[];
          throw e;
        })
      )
        .filter((n) => NODE_LEFTOVER.test(n))
        .sort();
      for (const n of names) await fs.rm(path.join(d, n), { recursive: true, force: true });
      return names;
    },
    async writeFolder(dir, files) {
      const { fs, path } = await node();
      const target = await full(dir);
      await fs.mkdir(path.dirname(target), { recursive: true });
      const tmp = `${target}.tmp-${tmpSuffix()}`;
      try {
        for (const [p, v] of Object.entries(files)) {
          const f = path.join(tmp, ...pathSegments(p, joinWhere(dir, p)));
          await fs.mkdir(path.dirname(f), { recursive: true });
          await fs.writeFile(f, bytesOf(v));
        }
        await fs.writeFile(path.join(tmp, COMPLETE_MARKER), JSON.stringify({ files: Object.keys(files).sort(), at: new Date().toISOString() }) + '\n');
        const old = `${target}.old-${tmpSuffix()}`;
        const had = await fs.stat(target).then(
          () => true,
          () => false,
        );
        if (had) await fs.rename(target, old);
        await fs.rename(tmp, target);
        if (had) await fs.rm(old, { recursive: true, force: true });
      } catch (e) {
        await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
        if (code(e) === 'ENOSPC') throw new InputError(joinWhere(root, dir), 'the disk is full: the previous version was kept; free some space and try again');
        throw e;
      }
    },
  };
  return ws;
}

// ---------------------------------------------------------------------------------------------
// Browser: a FileSystemDirectoryHandle, usually the OPFS root (navigator.storage.getDirectory()).

interface DirHandle {
  kind: 'directory';
  name: string;
  getDirectoryHandle(name: string, opts?: { create?: boolean }): Promise<DirHandle>;
  getFileHandle(name: string, opts?: { create?: boolean }): Promise<FileHandle>;
  removeEntry(name: string, opts?: { recursive?: boolean }): Promise<void>;
  entries(): AsyncIterable<[string, DirHandle | FileHandle]>;
}
interface Writable {
  write(data: Uint8Array | { type: 'write'; position: number; data: Uint8Array }): Promise<void>;
  close(): Promise<void>;
  abort?(): Promise<void>;
}
interface FileHandle {
  kind: 'file';
  name: string;
  getFile(): Promise<Blob>;
  createWritable(o?: { keepExistingData?: boolean }): Promise<Writable>;
}

const domName = (e: unknown) => (e as { name?: string })?.name;
const notFound = (e: unknown) => domName(e) === 'NotFoundError' || domName(e) === 'TypeMismatchError';
const quotaError = (e: unknown, where: string) =>
  domName(e) === 'QuotaExceededError'
    ? new InputError(where, "the browser's storage for this site is full: nothing was replaced; delete old runs, models or datasets and try again")
    : e;

export function browserWorkspace(root: FileSystemDirectoryHandle, name = 'browser storage'): Workspace {
  const rootDir = root as unknown as DirHandle;
  const dirAt = async (segs: string[], create: boolean): Promise<DirHandle> => {
    let d = rootDir;
    for (const s of segs) d = await d.getDirectoryHandle(s, { create });
    return d;
  };
  const fileAt = async (p: string, create: boolean) => {
    const segs = pathSegments(p, joinWhere(name, p));
    const d = await dirAt(segs.slice(0, -1), create);
    return d.getFileHandle(segs[segs.length - 1], { create });
  };
  const ws: Workspace = {
    name,
    async list() {
      const out: string[] = [];
      const walk = async (rel: string) => {
        for (const e of await ws.listDir(rel)) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.kind === 'dir') await walk(r);
          else out.push(r);
        }
      };
      await walk('');
      return out.sort();
    },
    async read(p) {
      try {
        return new Uint8Array(await (await (await fileAt(p, false)).getFile()).arrayBuffer());
      } catch (e) {
        if (notFound(e)) throw new InputError(joinWhere(name, p), 'file not found');
        throw e;
      }
    },
    async exists(p) {
      return (await ws.size(p)) !== null;
    },
    async size(p) {
      try {
        return (await (await fileAt(p, false)).getFile()).size;
      } catch (e) {
        if (notFound(e)) return null;
        throw e;
      }
    },
    async write(p, bytes) {
      try {
        const w = await (await fileAt(p, true)).createWritable();
        try {
          await w.write(bytes);
        } catch (e) {
          await w.abort?.().catch(() => undefined);
          throw e;
        }
        await w.close();
      } catch (e) {
        throw quotaError(e, joinWhere(name, p));
      }
    },
    async listDir(dir) {
      let d: DirHandle;
      try {
        d = await dirAt(dir === '' ? [] : pathSegments(dir, joinWhere(name, dir)), false);
      } catch (e) {
        if (notFound(e)) return [];
        throw e;
      }
      const out: DirEntry[] = [];
      // Chrome keeps a createWritable swap file beside its target (".crswap") until close.
      for await (const [n, h] of d.entries()) if (!n.endsWith('.crswap')) out.push({ name: n, kind: h.kind === 'directory' ? 'dir' : 'file' });
      return out.sort((a, b) => (a.name < b.name ? -1 : 1));
    },
    async append(p, text) {
      try {
        const fh = await fileAt(p, true);
        const at = (await fh.getFile()).size;
        const w = await fh.createWritable({ keepExistingData: true });
        await w.write({ type: 'write', position: at, data: enc.encode(text) });
        await w.close();
      } catch (e) {
        throw quotaError(e, joinWhere(name, p));
      }
    },
    async remove(p) {
      const segs = pathSegments(p, joinWhere(name, p));
      try {
        const d = await dirAt(segs.slice(0, -1), false);
        await d.removeEntry(segs[segs.length - 1], { recursive: true });
      } catch (e) {
        if (!notFound(e)) throw e;
      }
    },
    writeFolder(dir, files) {
      return writeFolderByMarker(ws, dir, files);
    },
    async removeLeftovers(dir) {
      let d: DirHandle;
      try {
        d = await dirAt(dir === '' ? [] : pathSegments(dir, joinWhere(name, dir)), false);
      } catch (e) {
        if (notFound(e)) return [];
        throw e;
      }
      // Chrome's createWritable swap files (".crswap"), left when the tab closed mid-write.
      const names: string[] = [];
      for await (const [n] of d.entries()) if (n.endsWith('.crswap')) names.push(n);
      const removed: string[] = [];
      for (const n of names.sort()) {
        // One still open (a write of another tab) cannot be removed; it is not ours to remove.
        if (
          await d.removeEntry(n).then(
            () => true,
            () => false,
          )
        )
          removed.push(n);
      }
      return removed;
    },
  };
  return ws;
}

// ---------------------------------------------------------------------------------------------
// A folder to read or write that is not the lab's storage (a data folder, a model folder, a picked
// folder, a CLI --out): the same backends, seen as a FileSource or FileSink.

/** A folder on disk to read from; listing a folder that does not exist is an error, not an empty list. */
export function nodeDirSource(dir: string): FileSource {
  const ws = nodeWorkspace(dir);
  return {
    name: dir,
    read: ws.read,
    exists: ws.exists,
    async list() {
      const { fs } = await node();
      const isDir = await fs.stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isDir) throw new InputError(dir, 'folder not found');
      return ws.list();
    },
  };
}

/** A folder on disk to write into (each file atomically). */
export const nodeDirSink = (dir: string): FileSink => nodeWorkspace(dir);

/** A browser folder (OPFS or one picked with showDirectoryPicker) to read from. */
export const browserDirSource = (handle: FileSystemDirectoryHandle, name = handle.name): FileSource => browserWorkspace(handle, name);

/** A browser folder to write into (each file through createWritable's swap file). */
export const browserDirSink = (handle: FileSystemDirectoryHandle): FileSink => browserWorkspace(handle, handle.name);

/**
 * The files of an <input type=file webkitdirectory> (or a plain multiple pick) as a FileSource.
 * Each file's webkitRelativePath starts with the picked folder's name, which is dropped, so paths
 * are relative to the folder as with a directory handle.
 */
export function fileListSource(files: File[], name?: string): FileSource {
  const rel = files.map((f) => (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name);
  const first = rel[0]?.split('/')[0];
  const strip = rel.length > 0 && rel.every((p) => p.includes('/') && p.split('/')[0] === first);
  const label = name ?? (strip ? first : 'picked files');
  const byPath = new Map<string, File>();
  rel.forEach((p, i) => {
    const key = pathSegments(strip ? p.slice(first.length + 1) : p, joinWhere(label, p)).join('/');
    if (byPath.has(key)) throw new InputError(joinWhere(label, key), 'picked twice');
    byPath.set(key, files[i]);
  });
  return {
    name: label,
    list: async () => [...byPath.keys()].sort(),
    exists: async (p) => byPath.has(pathSegments(p, joinWhere(label, p)).join('/')),
    read: async (p) => {
      const f = byPath.get(pathSegments(p, joinWhere(label, p)).join('/'));
      if (!f) throw new InputError(joinWhere(label, p), 'file not found');
      return new Uint8Array(await f.arrayBuffer());
    },
  };
}

/** What the UI hands over for a folder: a directory handle, or the files of a folder input. */
export function pickedSource(from: FileSystemDirectoryHandle | File[]): FileSource {
  if (Array.isArray(from)) {
    if (from.length === 0) throw new InputError('picked folder', 'no files were picked');
    return fileListSource(from);
  }
  if (!from || (from as { kind?: string }).kind !== 'directory')
    throw new InputError('picked folder', 'expected a folder (a directory handle) or a list of files');
  return browserDirSource(from);
}
