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
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.includes('\\') || path.includes('\0') || segs.length === 0 || segs.some((s) => s === '..')) {
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
