// The safetensors checkpoint format: an 8-byte little-endian header length N, N bytes of JSON
// describing each tensor (dtype, shape, byte range in the data buffer), then the data buffer.
// Files come from the internet and from interrupted downloads, so nothing in the header is trusted:
// every length, offset and shape is checked against the bytes actually present before any tensor
// is read, and every problem becomes an InputError naming the file.

import { InputError } from '../engine/errors';
import { fromHalfBits } from '../engine/tensor';

export type StDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each dtype this reader converts to f32. */
export const ST_DTYPE_SIZE: Readonly<Record<StDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Index of the first NaN or infinite value, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

export interface StTensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** The Rust reference refuses headers above 100 MB; a bigger one is a corrupt length, not a model. */
const MAX_HEADER_BYTES = 100_000_000;

const isDtype = (d: unknown): d is StDtype => typeof d === 'string' && Object.hasOwn(ST_DTYPE_SIZE, d);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const show = (v: unknown) => {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
};

export function parseSafetensorsHeader(bytes: Uint8Array, where: string): { tensors: StTensorInfo[]; metadata: Record<string, string>; dataStart: number } {
  if (bytes.length < 8) {
    throw new InputError(where, `file is ${bytes.length} bytes, too short to hold the 8-byte safetensors header length (truncated or not a safetensors file)`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = dv.getUint32(0, true),
    hi = dv.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (headerLen > bytes.length - 8) {
    throw new InputError(where, `header length ${headerLen} runs past the end of the file (${bytes.length} bytes): truncated or not a safetensors file`);
  }
  if (headerLen > MAX_HEADER_BYTES) throw new InputError(where, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (headerLen < 2) throw new InputError(where, `header length ${headerLen} is too small for a JSON object`);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new InputError(where, 'header is not valid UTF-8 (not a safetensors file?)');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new InputError(where, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new InputError(where, `header must be a JSON object, got ${Array.isArray(header) ? 'an array' : show(header)}`);
  }

  const dataStart = 8 + headerLen;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: StTensorInfo[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new InputError(where, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new InputError(where, `__metadata__ entry "${k}" must be a string, got ${show(v)}`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `tensor ${name}`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw new InputError(where, `${what}: entry must be an object with dtype, shape and data_offsets`);
    const { dtype, shape, data_offsets: offs } = raw as Record<string, unknown>;
    if (!isDtype(dtype)) {
      throw new InputError(where, `${what}: unknown or unsupported dtype ${show(dtype)} (supported: ${Object.keys(ST_DTYPE_SIZE).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new InputError(where, `${what}: shape must be a list of non-negative integers, got ${show(shape)}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) {
      throw new InputError(where, `${what}: data_offsets must be two non-negative integers, got ${show(offs)}`);
    }
    const [begin, end] = offs as number[];
    if (end < begin) throw new InputError(where, `${what}: data_offsets [${begin}, ${end}] end before they begin`);
    let n = 1;
    for (const d of shape as number[]) {
      n *= d;
      if (!Number.isSafeInteger(n)) throw new InputError(where, `${what}: shape ${show(shape)} has too many elements`);
    }
    const want = n * ST_DTYPE_SIZE[dtype];
    if (end - begin !== want) {
      throw new InputError(where, `${what}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ${show(shape)} of ${dtype} needs ${want}`);
    }
    if (end > dataLen) {
      throw new InputError(where, `${what}: data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes): truncated file?`);
    }
    tensors.push({ name, dtype, shape: shape as number[], begin, end });
  }

  // The tensors must tile the data exactly, as the reference reader requires: an overlap would
  // let one tensor alias another's bytes, and a byte no tensor owns means the offsets or the
  // header length are off (one short still parses, the header being space-padded JSON, and shifts
  // every tensor by a byte), which would decode into plausible-looking garbage.
  const spans = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0,
    last: StTensorInfo | null = null;
  for (const t of spans) {
    if (t.begin < covered) {
      throw new InputError(where, `tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] overlap tensor ${last!.name} [${last!.begin}, ${last!.end}]`);
    }
    if (t.begin > covered)
      throw new InputError(where, `tensor ${t.name}: data_offsets [${t.begin}, ${t.end}] leave bytes [${covered}, ${t.begin}) of the data unused`);
    covered = t.end;
    last = t;
  }
  if (covered !== dataLen) {
    throw new InputError(
      where,
      `the tensors cover ${covered} bytes but the data is ${dataLen} bytes: the header length or the offsets are wrong (or bytes were appended)`,
    );
  }
  return { tensors, metadata, dataStart };
}

let halfTable: Float32Array | null = null;
/** All 65536 half-precision values, decoded once; a table lookup beats bit-fiddling per element. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) t[h] = fromHalfBits(h);
  return (halfTable = t);
}

/**
 * The raw bytes of one tensor copied into a fresh, aligned buffer. Data offsets in a file need
 * not be aligned to the element size, and one copy is needed anyway so the result does not keep
 * the whole file alive.
 */
function alignedCopy(src: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(src.length);
  new Uint8Array(buf).set(src);
  return buf;
}

/**
 * Convert one tensor's bytes to f32. The format is little-endian, and so is every host WebGPU
 * runs on (the engine uploads typed arrays to the GPU as they are), so typed-array views over an
 * aligned copy read the values directly.
 */
function toFloat32(raw: Uint8Array, dtype: StDtype, n: number): Float32Array {
  switch (dtype) {
    case 'F32':
      return new Float32Array(alignedCopy(raw));
    case 'F64':
      return Float32Array.from(new Float64Array(alignedCopy(raw)));
    case 'F16': {
      const h = new Uint16Array(alignedCopy(raw)),
        t = halfToFloatTable(),
        out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = t[h[i]];
      return out;
    }
    case 'BF16': {
      // bf16 is the top half of an f32: shift the bits into place and reinterpret.
      const h = new Uint16Array(alignedCopy(raw)),
        bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'I64': {
      const v = new BigInt64Array(alignedCopy(raw)),
        out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(v[i]);
      return out;
    }
    case 'I32':
      return Float32Array.from(new Int32Array(alignedCopy(raw)));
    case 'I16':
      return Float32Array.from(new Int16Array(alignedCopy(raw)));
    case 'I8':
      return Float32Array.from(new Int8Array(alignedCopy(raw)));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(raw);
  }
}

/**
 * Every tensor of a safetensors file, converted to f32. `where` names the file in errors.
 * `lazy`: each tensor is converted when its `data` is read, afresh on every read and never kept, so
 * a model loaded onto the GPU tensor by tensor holds the file plus one tensor in f32, not an f32
 * copy of the whole model (a BF16 checkpoint would double in memory).
 */
export function readSafetensors(bytes: Uint8Array, where: string, o: { lazy?: boolean } = {}): Map<string, { shape: number[]; data: Float32Array }> {
  const { tensors, dataStart } = parseSafetensorsHeader(bytes, where);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const raw = bytes.subarray(dataStart + t.begin, dataStart + t.end);
    const convert = () => toFloat32(raw, t.dtype as StDtype, n);
    const shape = t.shape.slice();
    out.set(
      t.name,
      o.lazy
        ? {
            shape,
            get data() {
              return convert();
            },
          }
        : { shape, data: convert() },
    );
  }
  return out;
}

/**
 * Serialize f32 tensors in the given order. The header is padded with spaces to a multiple of 8
 * bytes, as the reference writer does, so the data buffer starts 8-byte aligned and readers can
 * map it in place.
 */
export function writeSafetensors(tensors: { name: string; shape: number[]; data: Float32Array }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new InputError('safetensors metadata', `entry "${k}" must be a string, got ${show(v)}`);
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name === '') throw new InputError(`tensor "${t.name}"`, 'is not a valid safetensors tensor name');
    if (seen.has(t.name)) throw new InputError(`tensor ${t.name}`, 'appears twice in one safetensors file');
    seen.add(t.name);
    if (!t.shape.every(isCount)) throw new InputError(`tensor ${t.name}`, `shape must be non-negative integers, got ${show(t.shape)}`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new InputError(`tensor ${t.name}`, `has ${t.data.length} values but shape ${show(t.shape)} needs ${n}`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLen + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLen % 2 ** 32, true);
  dv.setUint32(4, Math.floor(headerLen / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let at = 8 + headerLen;
  for (const t of tensors) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, at);
    at += t.data.byteLength;
  }
  return out;
}
