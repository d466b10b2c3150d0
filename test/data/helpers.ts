// Where the real datasets are (../shared/data beside the repository, read-only, never copied in),
// temp folders for fixtures, and small independent readers used to check the loaders.

import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, writeFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { nodeDirSource } from '../../src/io/workspace';
import { seededRandom } from '../../src/util/random';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DATA_DIR = path.resolve(REPO, '../shared/data');
export const HAS_DATA = existsSync(DATA_DIR);
export const NO_DATA_MESSAGE = `${DATA_DIR} is absent: tests on the real medical datasets are skipped`;
if (!HAS_DATA) console.warn(`[data tests] ${NO_DATA_MESSAGE}`);

export const realSource = (sub: string) => nodeDirSource(path.join(DATA_DIR, sub));

/** A fresh temp folder with the given files; returns its path and a cleanup. */
export async function tempFolder(files: Record<string, Uint8Array | string>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'thinker-data-'));
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(dir, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
  return { dir, source: nodeDirSource(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Width and height from a JPEG's start-of-frame marker, read independently of any decoder. */
export function jpegSize(b: Uint8Array): { width: number; height: number } {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) throw new Error(`bad JPEG marker at ${i}`);
    const marker = b[i + 1];
    const len = (b[i + 2] << 8) | b[i + 3];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (b[i + 5] << 8) | b[i + 6], width: (b[i + 7] << 8) | b[i + 8] };
    }
    i += 2 + len;
  }
  throw new Error('no SOF marker');
}

/** A PNG with the given RGBA bytes. */
export function pngFile(width: number, height: number, rgba: Uint8Array): Uint8Array {
  const png = new PNG({ width, height });
  png.data.set(rgba);
  return new Uint8Array(PNG.sync.write(png));
}

/** CRC-32 (PNG chunks, zip): to edit a PNG header and keep the file valid up to the edit. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Mulberry32: seeded uniform [0, 1) numbers so fixtures are reproducible. */
export const seeded = seededRandom;

// Parquet fixtures in the shapes Hugging Face writes: strings, int64, an image struct
// {bytes: binary, path: string}, and a list of such structs.
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';

const leaf = (name: string, type: 'BYTE_ARRAY' | 'INT64', utf8 = false): SchemaElement => ({
  name,
  type,
  repetition_type: 'OPTIONAL',
  ...(utf8 ? { converted_type: 'UTF8' as const } : {}),
});

export const pq = {
  str: (name: string): SchemaElement[] => [leaf(name, 'BYTE_ARRAY', true)],
  int64: (name: string): SchemaElement[] => [leaf(name, 'INT64')],
  image: (name: string): SchemaElement[] => [
    { name, repetition_type: 'OPTIONAL', num_children: 2 },
    leaf('bytes', 'BYTE_ARRAY'),
    leaf('path', 'BYTE_ARRAY', true),
  ],
  imageList: (name: string): SchemaElement[] => [
    { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
    { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
    { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
    leaf('bytes', 'BYTE_ARRAY'),
    leaf('path', 'BYTE_ARRAY', true),
  ],
};

export function parquetFile(columns: { name: string; data: unknown[]; schema: SchemaElement[] }[]): Uint8Array {
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }, ...columns.flatMap((c) => c.schema)];
  return new Uint8Array(parquetWriteBuffer({ columnData: columns.map((c) => ({ name: c.name, data: c.data as never })), schema }));
}
