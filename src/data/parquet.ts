// Parquet rows through hyparquet (pure JavaScript: same code in the browser and in Node). Hugging
// Face stores images as struct<bytes: binary, path: string>; hyparquet would decode unannotated
// binary columns as text, so rows are read with utf8 off and strings are decoded where a loader
// expects text.

import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { InputError } from '../engine/errors';

export type ParquetRow = Record<string, unknown>;

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

function isParquet(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i] || bytes[bytes.length - 4 + i] !== MAGIC[i]) return false;
  return true;
}

const toArrayBuffer = (bytes: Uint8Array): ArrayBuffer =>
  (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
    ? bytes.buffer
    : bytes.slice().buffer) as ArrayBuffer;

/** Column names of a parquet file (top-level fields). */
export function parquetColumns(bytes: Uint8Array, where: string): string[] {
  if (!isParquet(bytes)) throw new InputError(where, 'is not a parquet file (no PAR1 header and footer)');
  try {
    const meta = parquetMetadata(toArrayBuffer(bytes));
    const root = meta.schema[0];
    const names: string[] = [];
    // Top-level fields follow the root in depth-first order; skip each field's descendants.
    let i = 1;
    for (let f = 0; f < (root.num_children ?? 0); f++) {
      names.push(meta.schema[i].name);
      let pending = meta.schema[i].num_children ?? 0;
      i++;
      while (pending > 0) {
        pending += (meta.schema[i].num_children ?? 0) - 1;
        i++;
      }
    }
    return names;
  } catch (e) {
    throw new InputError(where, `cannot read the parquet metadata: ${(e as Error).message}`);
  }
}

/** Every row of a parquet file as an object; binary values stay Uint8Array. */
export async function readParquetRows(bytes: Uint8Array, where: string, columns?: string[]): Promise<ParquetRow[]> {
  if (!isParquet(bytes)) throw new InputError(where, 'is not a parquet file (no PAR1 header and footer)');
  try {
    return (await parquetReadObjects({ file: toArrayBuffer(bytes), utf8: false, columns })) as ParquetRow[];
  } catch (e) {
    throw new InputError(where, `cannot read the parquet data: ${(e as Error).message}`);
  }
}

const utf8 = new TextDecoder('utf-8');

/** A cell as text: strings as they are, binary decoded as UTF-8, numbers and bigints printed. */
export function cellText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return utf8.decode(v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return null;
}

/** A cell as image bytes: a Hugging Face image struct {bytes, path} or raw binary. */
export function cellImage(v: unknown): { bytes: Uint8Array | null; path: string | null } | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Uint8Array) return { bytes: v, path: null };
  if (typeof v === 'object') {
    const o = v as { bytes?: unknown; path?: unknown };
    const bytes = o.bytes instanceof Uint8Array ? o.bytes : null;
    return { bytes, path: cellText(o.path) };
  }
  return null;
}
