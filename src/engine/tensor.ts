// Tensors are views into arenas. An arena is a few large GPU buffers ("slabs") from which tensors
// are bump-allocated at 256-byte aligned offsets (the storage-binding alignment), llm.c style:
// the model's parameters live in one arena, their gradients and the optimizer moments in arenas of
// the identical layout, and a training step's activations in one more. Releasing an arena frees
// all of it at once, so a long run never leaks GPU memory tensor by tensor.

import type { Gpu } from './gpu';
import { EngineError } from './errors';

/**
 * 'f16': half floats packed two to a 32-bit word (element 2j in the low half of word j), the storage
 * of frozen weights that only a matmul's B operand reads (matmul.wgsl loadB).
 */
export type DType = 'f32' | 'u32' | 'i32' | 'f16';

/** A 32-bit word; offsets below are in words (elements, but for f16) unless named bytes. */
export const BYTES = 4;

/** 32-bit words a tensor of `n` elements of `dtype` occupies. */
export const wordsOf = (n: number, dtype: DType) => (dtype === 'f16' ? Math.ceil(n / 2) : n);
/** Bytes a tensor's binding spans (never less than one word). */
export const tensorBytes = (t: Pick<Tensor, 'size' | 'dtype'>) => Math.max(1, wordsOf(t.size, t.dtype)) * BYTES;
/** Storage bindings must start at multiples of 256 bytes = 64 elements. */
export const ALIGN_ELEMS = 64;

export interface Tensor {
  readonly name: string;
  readonly buffer: GPUBuffer;
  /** Offset into `buffer`, in bytes, a multiple of 256. */
  readonly byteOffset: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Number of elements (product of shape). */
  readonly size: number;
}

export const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

/** STORAGE | COPY_SRC | COPY_DST, as the spec's numeric flags (GPUBufferUsage is a global that may not exist yet at import time in Node). */
export const STORAGE_USAGE = 0x80 | 0x04 | 0x08;

export interface ArenaEntry {
  name: string;
  shape: number[];
  dtype: DType;
}

/**
 * A set of tensors allocated together. The layout depends only on the list of entries and the
 * slab limit, so two arenas built from the same entries (parameters and their gradients) have
 * tensors at identical slabs and offsets, and one elementwise kernel can walk them in lockstep.
 */
export class Arena {
  readonly tensors = new Map<string, Tensor>();
  readonly slabs: GPUBuffer[] = [];
  /** Elements used in each slab (the rest is padding at its end). */
  readonly slabElems: number[] = [];
  private released = false;

  constructor(
    readonly gpu: Gpu,
    readonly label: string,
    entries: ArenaEntry[],
    maxSlabBytes = gpu.maxBindingBytes,
  ) {
    const maxSlab = Math.floor(maxSlabBytes / BYTES / ALIGN_ELEMS) * ALIGN_ELEMS;
    const plan: { e: ArenaEntry; slab: number; off: number }[] = [];
    let slab = 0;
    let used = 0;
    for (const e of entries) {
      const n = wordsOf(numel(e.shape), e.dtype);
      const need = alignUp(Math.max(n, 1), ALIGN_ELEMS);
      if (need > maxSlab) {
        throw new EngineError(
          `${label}: tensor ${e.name} ${JSON.stringify(e.shape)} needs ${need * BYTES} bytes, ` +
            `more than this GPU's largest buffer (${maxSlab * BYTES} bytes)`,
        );
      }
      if (used + need > maxSlab) {
        this.slabElems.push(used);
        slab++;
        used = 0;
      }
      plan.push({ e, slab, off: used });
      used += need;
    }
    this.slabElems.push(used);
    for (let i = 0; i < this.slabElems.length; i++) {
      this.slabs.push(gpu.createBuffer(`${label}[${i}]`, Math.max(this.slabElems[i], ALIGN_ELEMS) * BYTES, STORAGE_USAGE));
    }
    for (const { e, slab: s, off } of plan) {
      if (this.tensors.has(e.name)) throw new EngineError(`${label}: duplicate tensor name ${e.name}`);
      this.tensors.set(e.name, {
        name: e.name,
        buffer: this.slabs[s],
        byteOffset: off * BYTES,
        shape: [...e.shape],
        dtype: e.dtype,
        size: numel(e.shape),
      });
    }
  }

  get(name: string): Tensor {
    if (this.released) throw new EngineError(`${this.label}: used after release`);
    const t = this.tensors.get(name);
    if (!t) throw new EngineError(`${this.label}: no tensor named ${name}`);
    return t;
  }

  has(name: string) {
    return this.tensors.has(name);
  }

  get bytes(): number {
    return this.slabElems.reduce((a, b) => a + b, 0) * BYTES;
  }

  /**
   * Slab i as one flat f32 tensor over its used elements: every tensor in it and the alignment gaps
   * between them. A kernel that walks it once (zeroing, the gradient norm) replaces one dispatch per
   * tensor; the gaps are never written by a tensor's kernels, so once zeroed they stay 0.
   */
  slabTensor(i: number): Tensor {
    if (this.released) throw new EngineError(`${this.label}: used after release`);
    const elems = this.slabElems[i];
    if (elems === undefined) throw new EngineError(`${this.label}: no slab ${i}`);
    return { name: `${this.label}[${i}]`, buffer: this.slabs[i], byteOffset: 0, shape: [elems], dtype: 'f32', size: elems };
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    for (const s of this.slabs) this.gpu.destroyBuffer(s);
  }
}

/** A view of part of a tensor: `count` elements from element `start` (start must keep 256-byte alignment). */
export function slice(t: Tensor, start: number, shape: readonly number[]): Tensor {
  if (t.dtype === 'f16') throw new EngineError(`slice of ${t.name}: f16 tensors are not sliced`);
  const size = numel(shape);
  if (start % ALIGN_ELEMS !== 0) throw new EngineError(`slice of ${t.name} at ${start}: not 64-element aligned`);
  if (start + size > t.size) throw new EngineError(`slice of ${t.name} [${start}, ${start + size}) is out of bounds (${t.size})`);
  return { ...t, byteOffset: t.byteOffset + start * BYTES, shape: [...shape], size };
}

/** The same memory under another shape. */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) > t.size) throw new EngineError(`reshape of ${t.name} ${JSON.stringify(t.shape)} to ${JSON.stringify(shape)}: too large`);
  return { ...t, shape: [...shape], size: numel(shape) };
}

/** Upload host data into a tensor (queued; ordered before later submissions); an f16 tensor takes f32 values and rounds them. */
export function upload(gpu: Gpu, t: Tensor, data: Float32Array | Uint32Array | Int32Array): void {
  if (data.length > t.size) throw new EngineError(`upload to ${t.name}: ${data.length} values into ${t.size}`);
  gpu.check();
  if (t.dtype === 'f16') {
    if (!(data instanceof Float32Array)) throw new EngineError(`upload to ${t.name}: an f16 tensor takes f32 values`);
    data = packHalves(data, t.name);
  }
  gpu.device.queue.writeBuffer(t.buffer, t.byteOffset, data.buffer, data.byteOffset, data.byteLength);
}

/** Read a tensor back to the host (waits for all queued work); an f16 tensor comes back widened to f32. */
export async function download(gpu: Gpu, t: Tensor, count = t.size): Promise<Float32Array> {
  if (t.dtype === 'f16') return unpackHalves(new Uint32Array(await downloadBytes(gpu, t.buffer, t.byteOffset, wordsOf(count, 'f16') * BYTES)), count);
  const bytes = await downloadBytes(gpu, t.buffer, t.byteOffset, count * BYTES);
  return new Float32Array(bytes);
}

// ---------------------------------------------------------------------------------------------
// IEEE half floats on the host (Node 20 has no Float16Array).

const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);

/** The binary16 bits nearest to `x` (round to nearest, ties to even; beyond ±65504 rounds to ±Infinity). */
export function toHalfBits(x: number): number {
  f32Box[0] = x;
  const b = u32Box[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: m * 2^-24 with m = (1.mant * 2^23) >> (14 - e), rounded to even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** The value of binary16 bits `h`. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** f32 values as halves packed two to a word (element 2j low); a finite value beyond f16's range is an error, not a silent Infinity. */
export function packHalves(data: Float32Array, name = 'tensor'): Uint32Array {
  const out = new Uint32Array(Math.ceil(data.length / 2));
  for (let i = 0; i < data.length; i++) {
    const h = toHalfBits(data[i]);
    if ((h & 0x7c00) === 0x7c00 && Number.isFinite(data[i])) {
      throw new EngineError(`${name}: element ${i} is ${data[i]}, beyond the f16 range (±65504); keep this tensor in f32`);
    }
    out[i >> 1] |= h << ((i & 1) * 16);
  }
  return out;
}

export function unpackHalves(words: Uint32Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = fromHalfBits((words[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
  return out;
}

export async function downloadU32(gpu: Gpu, t: Tensor, count = t.size): Promise<Uint32Array> {
  const bytes = await downloadBytes(gpu, t.buffer, t.byteOffset, count * BYTES);
  return new Uint32Array(bytes);
}

export async function downloadBytes(gpu: Gpu, buffer: GPUBuffer, byteOffset: number, byteLength: number): Promise<ArrayBuffer> {
  gpu.check();
  const size = Math.max(4, Math.ceil(byteLength / 4) * 4);
  const U = GPUBufferUsage;
  const staging = gpu.createBuffer('readback', size, U.COPY_DST | U.MAP_READ);
  try {
    const enc = gpu.device.createCommandEncoder({ label: 'readback' });
    enc.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
    gpu.device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const out = staging.getMappedRange().slice(0, byteLength);
    staging.unmap();
    gpu.check();
    return out;
  } catch (e) {
    gpu.check();
    throw e;
  } finally {
    gpu.destroyBuffer(staging);
  }
}
