// One small file-access interface so checkpoint, config and tokenizer loaders run unchanged in
// Node (a directory on disk), in the browser (OPFS or a folder the user picked) and in tests
// (memory). Paths are relative, '/'-separated, and may not climb out of the folder.

import { InputError } from '../engine/errors';

export interface FileSource {
  /** Shown in error messages: the directory, folder or label this source reads from. */
  name: string;
  /** Every file, as relative '/'-separated paths, sorted. */
  list(): Promise<string[]>;
  read(path: string): Promise<Uint8Array>;
  exists(path: string): Promise<boolean>;
}

export interface FileSink {
  /** Replace `path` with `bytes` atomically: a reader sees the old file or the new one, never half. */
  write(path: string, bytes: Uint8Array): Promise<void>;
}

/** `folder/path` for error messages. */
export const joinWhere = (folder: string, path: string) => (folder ? `${folder.replace(/\/+$/, '')}/${path}` : path);

/** Split a relative path into its segments, refusing anything that could escape the folder. */
export function pathSegments(path: string, where: string): string[] {
  const segs = path.split('/').filter((s) => s !== '' && s !== '.');
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.includes('\\') || path.includes('\0') ||
    segs.length === 0 || segs.some((s) => s === '..')) {
    throw new InputError(where, `"${path}" is not a relative path inside the folder`);
  }
  return segs;
}

/** A UTF-8 text file; `folder` names the source in errors (defaults to its name). */
export async function readText(src: FileSource, path: string, folder: string = src.name): Promise<string> {
  const bytes = await src.read(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(joinWhere(folder, path), 'is not valid UTF-8 text');
  }
}

export async function readJson(src: FileSource, path: string, folder: string = src.name): Promise<unknown> {
  const text = await readText(src, path, folder);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new InputError(joinWhere(folder, path), `is not valid JSON: ${(e as Error).message}`);
  }
}

export const encodeJson = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 2) + '\n');

// ---------------------------------------------------------------------------------------------
// Memory

/** Files held in a Map: a source and a sink at once, for tests and for staging downloads. */
export class MemoryFiles implements FileSource, FileSink {
  readonly files = new Map<string, Uint8Array>();

  constructor(readonly name = 'memory', initial?: Record<string, Uint8Array | string>) {
    for (const [p, v] of Object.entries(initial ?? {})) this.files.set(this.key(p), typeof v === 'string' ? new TextEncoder().encode(v) : v);
  }

  private key(path: string) { return pathSegments(path, joinWhere(this.name, path)).join('/'); }

  async list() { return [...this.files.keys()].sort(); }
  async exists(path: string) { return this.files.has(this.key(path)); }
  async read(path: string) {
    const f = this.files.get(this.key(path));
    if (!f) throw new InputError(joinWhere(this.name, path), 'file not found');
    return f.slice();
  }
  async write(path: string, bytes: Uint8Array) { this.files.set(this.key(path), bytes.slice()); }
}

// ---------------------------------------------------------------------------------------------
// Node. Node's fs is imported lazily (fs-node.ts) so that this module stays loadable in a browser bundle.

const node = () => import('./fs-node');

const isNotFound = (e: unknown) => (e as { code?: string })?.code === 'ENOENT' || (e as { code?: string })?.code === 'ENOTDIR';

export function nodeDirSource(dir: string): FileSource {
  return {
    name: dir,
    async list() {
      const { fs, path } = await node();
      const out: string[] = [];
      const walk = async (rel: string) => {
        let entries;
        try {
          entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
        } catch (e) {
          if (isNotFound(e) && rel === '') throw new InputError(dir, 'folder not found');
          throw e;
        }
        for (const e of entries) {
          const r = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(r);
          else if (e.isFile()) out.push(r);
        }
      };
      await walk('');
      return out.sort();
    },
    async read(p) {
      const { fs, path } = await node();
      const full = path.join(dir, ...pathSegments(p, joinWhere(dir, p)));
      try {
        return new Uint8Array(await fs.readFile(full));
      } catch (e) {
        if (isNotFound(e)) throw new InputError(joinWhere(dir, p), 'file not found');
        if ((e as { code?: string }).code === 'EISDIR') throw new InputError(joinWhere(dir, p), 'is a folder, not a file');
        throw e;
      }
    },
    async exists(p) {
      const { fs, path } = await node();
      try {
        return (await fs.stat(path.join(dir, ...pathSegments(p, joinWhere(dir, p))))).isFile();
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },
  };
}

export function nodeDirSink(dir: string): FileSink {
  return {
    async write(p, bytes) {
      const { fs, path, pid } = await node();
      const full = path.join(dir, ...pathSegments(p, joinWhere(dir, p)));
      await fs.mkdir(path.dirname(full), { recursive: true });
      // Same directory, so the rename cannot cross filesystems and is atomic; the random suffix
      // keeps two writers of the same file from sharing a temp name.
      const tmp = `${full}.tmp-${pid}-${Math.random().toString(36).slice(2, 10)}`;
      try {
        const fh = await fs.open(tmp, 'w');
        try {
          await fh.writeFile(bytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fs.rename(tmp, full);
      } catch (e) {
        await fs.rm(tmp, { force: true }).catch(() => undefined);
        throw e;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Browser: a FileSystemDirectoryHandle from OPFS (navigator.storage.getDirectory()) or
// showDirectoryPicker(). The async iterator of directory handles is not in the TypeScript DOM
// lib this project compiles against, hence the narrow structural type.

interface DirHandle {
  kind: 'directory';
  name: string;
  getDirectoryHandle(name: string, opts?: { create?: boolean }): Promise<DirHandle>;
  getFileHandle(name: string, opts?: { create?: boolean }): Promise<FileHandle>;
  entries(): AsyncIterable<[string, DirHandle | FileHandle]>;
}
interface FileHandle {
  kind: 'file';
  name: string;
  getFile(): Promise<Blob>;
  createWritable(): Promise<{ write(data: Uint8Array): Promise<void>; close(): Promise<void>; abort?(): Promise<void> }>;
}

const isNotFoundDom = (e: unknown) => (e as { name?: string })?.name === 'NotFoundError' || (e as { name?: string })?.name === 'TypeMismatchError';

async function walkTo(root: DirHandle, segs: string[], create: boolean): Promise<DirHandle> {
  let d = root;
  for (const s of segs) d = await d.getDirectoryHandle(s, { create });
  return d;
}

export function browserDirSource(handle: FileSystemDirectoryHandle, name = handle.name): FileSource {
  const root = handle as unknown as DirHandle;
  const fileHandle = async (p: string) => {
    const segs = pathSegments(p, joinWhere(name, p));
    const dir = await walkTo(root, segs.slice(0, -1), false);
    return dir.getFileHandle(segs[segs.length - 1]);
  };
  return {
    name,
    async list() {
      const out: string[] = [];
      const walk = async (d: DirHandle, rel: string) => {
        for await (const [n, h] of d.entries()) {
          const r = rel ? `${rel}/${n}` : n;
          if (h.kind === 'directory') await walk(h, r);
          else out.push(r);
        }
      };
      await walk(root, '');
      return out.sort();
    },
    async read(p) {
      let fh: FileHandle;
      try {
        fh = await fileHandle(p);
      } catch (e) {
        if (isNotFoundDom(e)) throw new InputError(joinWhere(name, p), 'file not found');
        throw e;
      }
      return new Uint8Array(await (await fh.getFile()).arrayBuffer());
    },
    async exists(p) {
      try {
        await fileHandle(p);
        return true;
      } catch (e) {
        if (isNotFoundDom(e)) return false;
        throw e;
      }
    },
  };
}

export function browserDirSink(handle: FileSystemDirectoryHandle): FileSink {
  const root = handle as unknown as DirHandle;
  return {
    async write(p, bytes) {
      const segs = pathSegments(p, joinWhere(handle.name, p));
      const dir = await walkTo(root, segs.slice(0, -1), true);
      const fh = await dir.getFileHandle(segs[segs.length - 1], { create: true });
      // createWritable writes to a swap file that replaces the target only on close(), so a
      // crash mid-write leaves the previous file intact.
      const w = await fh.createWritable();
      try {
        await w.write(bytes);
      } catch (e) {
        await w.abort?.().catch(() => undefined);
        throw e;
      }
      await w.close();
    },
  };
}
