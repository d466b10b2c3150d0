import { describe, it, expect } from 'vitest';
import { requireTensor, requireDisjoint } from '../../src/engine/kernels/check';
import { EngineError } from '../../src/engine/errors';
import type { DType, Tensor } from '../../src/engine/tensor';

// The checks only compare buffer identity and byte ranges, so plain objects stand in for GPUBuffers.
const bufA = {} as GPUBuffer,
  bufB = {} as GPUBuffer;
const tensor = (name: string, buffer: GPUBuffer, byteOffset: number, size: number, dtype: DType = 'f32'): Tensor => ({
  name,
  buffer,
  byteOffset,
  shape: [size],
  dtype,
  size,
});

function message(f: () => void): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(EngineError);
    return (e as Error).message;
  }
  throw new Error('expected an EngineError');
}

describe('requireTensor', () => {
  it('accepts a tensor of the right dtype with at least the needed elements', () => {
    expect(() => requireTensor('k', tensor('t', bufA, 0, 10), 10, 'x')).not.toThrow();
    expect(() => requireTensor('k', tensor('t', bufA, 0, 10, 'i32'), 3, 'ids', ['u32', 'i32'])).not.toThrow();
  });

  it('names kernel, role, tensor, both counts and the layout when a tensor is short', () => {
    expect(message(() => requireTensor('kern', tensor('buf7', bufA, 0, 9), 10, 'logits', 'f32', '[2, 5]'))).toBe(
      'kern: logits (buf7) has 9 elements, needs 10 for [2, 5]',
    );
    expect(message(() => requireTensor('kern', tensor('buf7', bufA, 0, 9), 10, 'x'))).toBe('kern: x (buf7) has 9 elements, needs 10');
  });

  it('names the allowed and the actual dtype, checking dtype before size', () => {
    expect(message(() => requireTensor('kern', tensor('ids', bufA, 0, 1, 'f32'), 5, 'targets', 'i32'))).toBe('kern: targets (ids) must be i32, not f32');
    expect(message(() => requireTensor('kern', tensor('p', bufA, 0, 4, 'f32'), 2, 'tokens', ['u32', 'i32']))).toBe(
      'kern: tokens (p) must be u32 or i32, not f32',
    );
    expect(message(() => requireTensor('kern', tensor('p', bufA, 0, 4, 'u32'), 2, 'x'))).toBe('kern: x (p) must be f32, not u32');
  });
});

describe('requireDisjoint', () => {
  it('accepts tensors that touch end to end, live in other buffers, or are left out', () => {
    const a = tensor('a', bufA, 0, 64),
      b = tensor('b', bufA, 256, 64),
      c = tensor('c', bufB, 0, 1000);
    expect(() => requireDisjoint('k', { a, b, c, none: null, missing: undefined })).not.toThrow();
  });

  it('names both roles, tensors and byte ranges of the first overlapping pair', () => {
    const p = tensor('p', bufA, 0, 128),
      half = tensor('half', bufA, 256, 64),
      v = tensor('v', bufB, 0, 128);
    const msg = message(() => requireDisjoint('adamw', { p, v, m: half }));
    expect(msg).toMatch(/^adamw: p \(p, bytes \[0, 512\)\) and m \(half, bytes \[256, 512\)\) overlap in one GPU buffer/);
  });

  it('treats an empty tensor as the 4 bytes CommandStream binds for it', () => {
    const big = tensor('big', bufA, 0, 128),
      empty = tensor('empty', bufA, 256, 0),
      after = tensor('after', bufA, 512, 0);
    expect(message(() => requireDisjoint('k', { big, empty }))).toMatch(/big .* and empty \(empty, bytes \[256, 260\)\)/);
    expect(() => requireDisjoint('k', { big, after })).not.toThrow();
  });
});
