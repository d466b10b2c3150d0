import { describe, it, expect } from 'vitest';
import { rng } from '../helpers/gpu';
import { InputError } from '../../src/engine/errors';
import { parseSafetensorsHeader, readSafetensors, writeSafetensors } from '../../src/io/safetensors';

const FILE = '/ckpt/model.safetensors';

/** A safetensors file assembled by hand, independently of the writer; no padding unless asked. */
function build(header: unknown, data: Uint8Array, pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectInputError(f: () => unknown, where: string, msg: RegExp) {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  expect((err as InputError).where).toBe(where);
  expect((err as Error).message).toContain(where);
  expect((err as Error).message).toMatch(msg);
}

/** f16 bits -> f32 by re-biasing the exponent into f32 bit layout (a different route than the reader's arithmetic). */
function f16Ref(h: number): number {
  const sign = (h >>> 15) & 1;
  let exp = (h >>> 10) & 0x1f;
  let man = h & 0x3ff;
  let bits: number;
  if (exp === 0x1f) bits = (sign << 31) | (0xff << 23) | (man << 13);
  else if (exp === 0) {
    if (man === 0) bits = sign << 31;
    else {
      // Normalize the subnormal: shift until the implicit bit appears.
      exp = 1;
      while ((man & 0x400) === 0) {
        man <<= 1;
        exp--;
      }
      man &= 0x3ff;
      bits = (sign << 31) | ((exp - 15 + 127) << 23) | (man << 13);
    }
  } else bits = (sign << 31) | ((exp - 15 + 127) << 23) | (man << 13);
  const dv = new DataView(new ArrayBuffer(4));
  dv.setUint32(0, bits >>> 0);
  return dv.getFloat32(0);
}

const sameBits = (a: number, b: number) => (Number.isNaN(a) && Number.isNaN(b)) || Object.is(a, b);

describe('safetensors writer and reader', () => {
  it('round-trips f32 tensors of varied shapes (scalar, empty, odd sizes) bit-exactly with metadata', () => {
    const r = rng(7);
    const shapes = [[3, 5], [7], [], [0, 4], [2, 3, 5], [1, 1]];
    const tensors = shapes.map((shape, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let j = 0; j < n; j++) data[j] = r.normal() * 10 ** r.int(6);
      return { name: `layer.${i}.weight`, shape, data };
    });
    tensors[0].data[0] = -0;
    tensors[0].data[1] = Infinity;
    tensors[0].data[2] = NaN;
    const bytes = writeSafetensors(tensors, { format: 'pt', note: 'ünïcode' });

    const hdr = parseSafetensorsHeader(bytes, FILE);
    expect(hdr.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect(hdr.tensors.map((t) => t.name)).toEqual(tensors.map((t) => t.name));

    const back = readSafetensors(bytes, FILE);
    expect([...back.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const got = back.get(t.name)!;
      expect(got.shape).toEqual(t.shape);
      expect(got.data.length).toBe(t.data.length);
      for (let j = 0; j < t.data.length; j++) expect(sameBits(got.data[j], t.data[j]), `${t.name}[${j}]`).toBe(true);
    }
  });

  it('writes the layout the format specifies: u64 length, space-padded 8-aligned JSON, contiguous little-endian data', () => {
    const a = { name: 'a', shape: [3], data: new Float32Array([1.5, -2, 3.25]) };
    const b = { name: 'b.bias', shape: [2, 1], data: new Float32Array([0.125, 7]) };
    const bytes = writeSafetensors([a, b]);
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const n = Number(dv.getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    const trimmed = text.trimEnd();
    expect(text.slice(trimmed.length)).toMatch(/^ *$/);
    expect(text.length - trimmed.length).toBeLessThan(8);
    expect(JSON.parse(text)).toEqual({
      a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
      'b.bias': { dtype: 'F32', shape: [2, 1], data_offsets: [12, 20] },
    });
    expect(bytes.length).toBe(8 + n + 20);
    const vals = [0, 1, 2, 3, 4].map((i) => dv.getFloat32(8 + n + 4 * i, true));
    expect(vals).toEqual([1.5, -2, 3.25, 0.125, 7]);
  });

  it('converts F16, BF16, F64, I64, I32, I16, I8, U8 and BOOL to f32, also from unaligned offsets', () => {
    const r = rng(11);
    const nh = 257;
    const halfBits = new Uint16Array(nh);
    for (let i = 0; i < nh; i++) halfBits[i] = r.int(65536);
    // Known values: 1, -2, max normal, smallest subnormal, smallest normal, +inf, -0.
    halfBits.set([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x8000], 0);
    const bfBits = new Uint16Array(13);
    for (let i = 0; i < bfBits.length; i++) bfBits[i] = r.int(65536);
    bfBits[0] = 0x3f80; // 1.0
    const f64 = new Float64Array([Math.PI, -1e-3, 12345.678901]);
    const i64 = new BigInt64Array([-5n, 1n << 40n, 0n]);
    const i32 = new Int32Array([-2147483648, 7, 99]);
    const i16 = new Int16Array([-32768, 5]);
    const i8 = new Int8Array([-128, 127, 0]);
    const u8 = new Uint8Array([255, 1]);
    const bool = new Uint8Array([1, 0, 1]);

    const parts: [string, string, number[], Uint8Array][] = [
      // A 1-byte tensor first puts every later tensor at an odd offset.
      ['u8', 'U8', [2], u8],
      ['half', 'F16', [nh], new Uint8Array(halfBits.buffer)],
      ['bf', 'BF16', [13], new Uint8Array(bfBits.buffer)],
      ['f64', 'F64', [3], new Uint8Array(f64.buffer)],
      ['i64', 'I64', [3], new Uint8Array(i64.buffer)],
      ['i32', 'I32', [3], new Uint8Array(i32.buffer)],
      ['i16', 'I16', [2], new Uint8Array(i16.buffer)],
      ['i8', 'I8', [3], new Uint8Array(i8.buffer)],
      ['flag', 'BOOL', [3], bool],
    ];
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const [name, dtype, shape, raw] of parts) {
      header[name] = { dtype, shape, data_offsets: [off, off + raw.length] };
      off += raw.length;
    }
    const data = new Uint8Array(off);
    off = 0;
    for (const [, , , raw] of parts) {
      data.set(raw, off);
      off += raw.length;
    }
    const file = build(header, data, 3); // 3 pad bytes: the data start is not aligned either
    const m = readSafetensors(file, FILE);

    const half = m.get('half')!.data;
    expect(Array.from(half.slice(0, 7))).toEqual([1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, -0]);
    for (let i = 0; i < nh; i++) expect(sameBits(half[i], f16Ref(halfBits[i])), `half[${i}] bits ${halfBits[i].toString(16)}`).toBe(true);
    const bf = m.get('bf')!.data;
    for (let i = 0; i < bfBits.length; i++) {
      const dv = new DataView(new ArrayBuffer(4));
      dv.setUint16(0, bfBits[i]); // big-endian high half, low half zero
      expect(sameBits(bf[i], dv.getFloat32(0))).toBe(true);
    }
    expect(bf[0]).toBe(1);
    expect(Array.from(m.get('f64')!.data)).toEqual(Array.from(f64, Math.fround));
    expect(Array.from(m.get('i64')!.data)).toEqual([-5, 2 ** 40, 0]);
    expect(Array.from(m.get('i32')!.data)).toEqual([-2147483648, 7, 99]);
    expect(Array.from(m.get('i16')!.data)).toEqual([-32768, 5]);
    expect(Array.from(m.get('i8')!.data)).toEqual([-128, 127, 0]);
    expect(Array.from(m.get('u8')!.data)).toEqual([255, 1]);
    expect(Array.from(m.get('flag')!.data)).toEqual([1, 0, 1]);
  });

  it('lazy: each tensor is converted when read, to the same values, and no f32 copy is kept', () => {
    const bits = new Uint16Array(64).map((_, i) => 0x3f80 + i);
    const header = { w: { dtype: 'BF16', shape: [8, 8], data_offsets: [0, 128] } };
    const file = build(header, new Uint8Array(bits.buffer), 0);
    const eager = readSafetensors(file, FILE).get('w')!;
    const lazy = readSafetensors(file, FILE, { lazy: true }).get('w')!;
    const first = lazy.data;
    expect(first).toEqual(eager.data);
    expect(lazy.shape).toEqual([8, 8]);
    // A fresh array on every read: the map holds the file's bytes, not their f32 conversion.
    expect(lazy.data).not.toBe(first);
    expect(lazy.data).toEqual(first);
  });

  it('accepts a header without __metadata__, tensors listed in any order and empty tensors between others', () => {
    const data = new Uint8Array(12);
    new DataView(data.buffer).setFloat32(8, 2.5, true);
    const m = readSafetensors(
      build(
        {
          x: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
          e: { dtype: 'F32', shape: [0, 3], data_offsets: [8, 8] },
          y: { dtype: 'F64', shape: [1], data_offsets: [0, 8] },
        },
        data,
      ),
      FILE,
    );
    expect(Array.from(m.get('x')!.data)).toEqual([2.5]);
    expect(m.get('e')!.data.length).toBe(0);
  });
});

describe('safetensors never trusts the header', () => {
  const ok = () => build({ 'model.norm.weight': { dtype: 'F32', shape: [30], data_offsets: [0, 120] } }, new Uint8Array(120));
  const entry = (e: unknown) => build({ 'model.norm.weight': e }, new Uint8Array(120));

  it('rejects files too short for the length prefix', () => {
    expectInputError(() => readSafetensors(new Uint8Array(5), FILE), FILE, /5 bytes, too short/);
  });
  it('rejects a header length that runs past the end of the file', () => {
    const f = ok();
    new DataView(f.buffer).setBigUint64(0, BigInt(f.length), true);
    expectInputError(() => readSafetensors(f, FILE), FILE, /header length \d+ runs past the end of the file/);
    new DataView(f.buffer).setBigUint64(0, 1n << 60n, true);
    expectInputError(() => readSafetensors(f, FILE), FILE, /runs past the end of the file/);
  });
  it('rejects a header that is not UTF-8, not JSON, or not an object', () => {
    const bad = new Uint8Array([...new Uint8Array(8), 0xff, 0xfe]);
    new DataView(bad.buffer).setBigUint64(0, 2n, true);
    expectInputError(() => readSafetensors(bad, FILE), FILE, /not valid UTF-8/);
    const txt = new TextEncoder().encode('{"a": [1,');
    const f = new Uint8Array(8 + txt.length);
    new DataView(f.buffer).setBigUint64(0, BigInt(txt.length), true);
    f.set(txt, 8);
    expectInputError(() => readSafetensors(f, FILE), FILE, /not valid JSON/);
    expectInputError(() => readSafetensors(build([1, 2], new Uint8Array(0)), FILE), FILE, /must be a JSON object/);
  });
  it('rejects unknown dtypes and bad shapes', () => {
    expectInputError(
      () => readSafetensors(entry({ dtype: 'Q4', shape: [30], data_offsets: [0, 120] }), FILE),
      FILE,
      /tensor model\.norm\.weight: unknown or unsupported dtype "Q4"/,
    );
    expectInputError(
      () => readSafetensors(entry({ dtype: 'F32', shape: [-30], data_offsets: [0, 120] }), FILE),
      FILE,
      /shape must be a list of non-negative integers/,
    );
    expectInputError(() => readSafetensors(entry({ dtype: 'F32', shape: [2.5], data_offsets: [0, 120] }), FILE), FILE, /non-negative integers/);
    expectInputError(() => readSafetensors(entry({ dtype: 'F32', shape: '30', data_offsets: [0, 120] }), FILE), FILE, /non-negative integers/);
    expectInputError(() => readSafetensors(entry({ dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 120] }), FILE), FILE, /too many elements/);
    expectInputError(() => readSafetensors(entry([1, 2]), FILE), FILE, /entry must be an object/);
  });
  it('rejects malformed, reversed, mis-sized and out-of-range data_offsets', () => {
    expectInputError(
      () => readSafetensors(entry({ dtype: 'F32', shape: [30], data_offsets: [0] }), FILE),
      FILE,
      /data_offsets must be two non-negative integers/,
    );
    expectInputError(() => readSafetensors(entry({ dtype: 'F32', shape: [30], data_offsets: [-4, 116] }), FILE), FILE, /two non-negative integers/);
    expectInputError(() => readSafetensors(entry({ dtype: 'F32', shape: [0], data_offsets: [8, 4] }), FILE), FILE, /end before they begin/);
    expectInputError(
      () => readSafetensors(entry({ dtype: 'F32', shape: [30], data_offsets: [0, 100] }), FILE),
      FILE,
      /span 100 bytes but shape \[30\] of F32 needs 120/,
    );
    expectInputError(
      () => readSafetensors(entry({ dtype: 'F32', shape: [2500], data_offsets: [0, 10000] }), FILE),
      FILE,
      /tensor model\.norm\.weight: data_offsets \[0, 10000\] run past the end of the data \(120 bytes\)/,
    );
  });
  it('rejects truncated files', () => {
    const full = writeSafetensors([{ name: 'w', shape: [4, 4], data: new Float32Array(16) }]);
    readSafetensors(full, FILE);
    expectInputError(() => readSafetensors(full.subarray(0, full.length - 1), FILE), FILE, /run past the end of the data \(63 bytes\): truncated/);
    expectInputError(() => readSafetensors(full.subarray(0, 20), FILE), FILE, /runs past the end of the file/);
  });
  it('rejects overlapping tensors', () => {
    const f = build(
      {
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        b: { dtype: 'F32', shape: [2], data_offsets: [12, 20] },
      },
      new Uint8Array(20),
    );
    expectInputError(() => readSafetensors(f, FILE), FILE, /tensor b: data_offsets \[12, 20\] overlap tensor a \[0, 16\]/);
  });
  it('rejects data the tensors do not tile exactly: gaps, trailing bytes, a header length one short', () => {
    // The reference reader refuses these too: a byte no tensor owns means the offsets or the header length are wrong.
    const gap = new Uint8Array(16);
    expectInputError(
      () => readSafetensors(build({ x: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, gap), FILE),
      FILE,
      /tensor x: data_offsets \[8, 12\] leave bytes \[0, 8\) of the data unused/,
    );
    expectInputError(
      () => readSafetensors(build({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(12)), FILE),
      FILE,
      /the tensors cover 8 bytes but the data is 12 bytes/,
    );
    expectInputError(() => readSafetensors(build({}, new Uint8Array(4)), FILE), FILE, /cover 0 bytes but the data is 4 bytes/);
    // The writer pads the header with spaces; a length one short still parses as JSON, but shifts every tensor by a byte.
    const full = writeSafetensors([{ name: 'w', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }]);
    const dv = new DataView(full.buffer);
    const len = Number(dv.getBigUint64(0, true));
    expect(new TextDecoder().decode(full.subarray(8 + len - 1, 8 + len))).toBe(' ');
    dv.setBigUint64(0, BigInt(len - 1), true);
    expectInputError(() => readSafetensors(full, FILE), FILE, /cover 16 bytes but the data is 17 bytes.*header length/);
  });
  it('rejects non-string metadata', () => {
    expectInputError(
      () => readSafetensors(build({ __metadata__: { format: 1 } }, new Uint8Array(0)), FILE),
      FILE,
      /__metadata__ entry "format" must be a string/,
    );
    expectInputError(() => readSafetensors(build({ __metadata__: [] }, new Uint8Array(0)), FILE), FILE, /__metadata__ must be an object/);
  });
  it('writer refuses data that does not match its shape and duplicate names', () => {
    expect(() => writeSafetensors([{ name: 'w', shape: [2, 3], data: new Float32Array(5) }])).toThrow(/tensor w: has 5 values but shape \[2,3\] needs 6/);
    expect(() =>
      writeSafetensors([
        { name: 'w', shape: [1], data: new Float32Array(1) },
        { name: 'w', shape: [1], data: new Float32Array(1) },
      ]),
    ).toThrow(InputError);
  });
});
