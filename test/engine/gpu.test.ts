// The device layer: limits requested, errors surfaced with names, memory released.
import { describe, it, expect } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { Gpu } from '../../src/engine/gpu';
import { Arena, download, upload } from '../../src/engine/tensor';
import { CommandStream, grid1d } from '../../src/engine/stream';
import { NoWebGPUError, GpuCommandError } from '../../src/engine/errors';
import code from '../../shaders/elementwise.wgsl?raw';
import { ELEMENTWISE_PARAMS } from '../../src/engine/kernels/elementwise';

describe('device layer', () => {
  it("requests the adapter's real limits, not the WebGPU defaults", async () => {
    const gpu = await testGpu();
    // The default maxStorageBufferBindingSize is 128 MiB; SwiftShader offers 1 GiB.
    expect(gpu.limits.maxStorageBufferBindingSize).toBeGreaterThan(128 * 1024 * 1024);
    expect(gpu.info.features).toEqual([...gpu.features].sort());
    // Subgroup widths as the adapter states them: powers of two from 4 to 128 (WebGPU's bounds).
    // Nothing depends on them (shaders/lib/reduce-subgroups.wgsl counts its lanes); they are reported.
    if (gpu.hasSubgroups) {
      const [lo, hi] = gpu.info.subgroupSizes!;
      for (const n of [lo, hi]) expect(n >= 4 && n <= 128 && (n & (n - 1)) === 0, `${n}`).toBe(true);
      expect(lo).toBeLessThanOrEqual(hi);
      if (gpu.info.architecture === 'swiftshader') expect([lo, hi]).toEqual([4, 4]);
    }
    expect(gpu.subgroupReductions).toBe(gpu.hasSubgroups);
  });

  it('an arena slab as one flat tensor: its tensors at their offsets, the alignment gaps zero', async () => {
    const gpu = await testGpu();
    // Slabs of 1 KiB (256 floats): 100 + 70 floats (each padded to 64) fit the first, 200 the second.
    const a = new Arena(
      gpu,
      'slabs',
      [
        { name: 'a', shape: [100], dtype: 'f32' },
        { name: 'b', shape: [70], dtype: 'f32' },
        { name: 'c', shape: [200], dtype: 'f32' },
      ],
      1024,
    );
    try {
      expect(a.slabs.length).toBe(2);
      const data = {
        a: Float32Array.from({ length: 100 }, (_, i) => i + 1),
        b: Float32Array.from({ length: 70 }, (_, i) => -i - 1),
        c: new Float32Array(200).fill(7),
      };
      for (const [k, v] of Object.entries(data)) upload(gpu, a.get(k), v);
      const s0 = await download(gpu, a.slabTensor(0));
      expect(s0.length).toBe(a.slabElems[0]);
      const [offA, offB] = [a.get('a').byteOffset / 4, a.get('b').byteOffset / 4];
      expect(Array.from(s0.subarray(offA, offA + 100))).toEqual(Array.from(data.a));
      expect(Array.from(s0.subarray(offB, offB + 70))).toEqual(Array.from(data.b));
      let gaps = 0;
      for (let i = 0; i < s0.length; i++) if (!((i >= offA && i < offA + 100) || (i >= offB && i < offB + 70))) gaps += Math.abs(s0[i]);
      expect(gaps).toBe(0);
      expect(Array.from(await download(gpu, a.slabTensor(1))).slice(0, 200)).toEqual(Array.from(data.c));
      expect(() => a.slabTensor(2)).toThrow(/no slab 2/);
    } finally {
      a.release();
    }
    expect(() => a.slabTensor(0)).toThrow(/after release/);
  });

  it('says clearly when there is no WebGPU', async () => {
    await expect(Gpu.create(undefined)).rejects.toThrow(NoWebGPUError);
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    // The hint speaks the host's language: the browser's by default, the caller's when given (Node names its Vulkan ICD).
    await expect(Gpu.create(noAdapter)).rejects.toThrow(/No WebGPU adapter.*chrome:\/\/gpu/);
    await expect(Gpu.create(noAdapter, { noAdapterHint: 'check /x/icd.json' })).rejects.toThrow(/No WebGPU adapter.*\(check \/x\/icd\.json\)\.$/);
  });

  it('turns a failed dispatch into an error naming the submission and its kernels', async () => {
    const gpu = await testGpu();
    const a = new Arena(gpu, 't', [{ name: 'x', shape: [64], dtype: 'f32' }]);
    const s = new CommandStream(gpu, 'bad-stream');
    // The same writable range bound twice is invalid in WebGPU.
    s.dispatch({
      label: 'aliased_axpby',
      pipeline: gpu.pipeline('elementwise', code, 'axpby', { WG: 64 }),
      uniforms: ELEMENTWISE_PARAMS.values({ n: 64, alpha: 1, beta: 1, m: 0 }),
      bindings: [a.get('x'), a.get('x')],
      workgroups: [1],
    });
    const err = await s.sync().catch((e) => e);
    expect(err).toBeInstanceOf(GpuCommandError);
    expect(err.message).toMatch(/bad-stream/);
    expect(err.message).toMatch(/aliased_axpby/);
    s.destroy();
    a.release();
  });

  it('releasing an arena gives its memory back', async () => {
    const gpu = await testGpu();
    const before = gpu.liveBytes;
    const a = new Arena(gpu, 't', [
      { name: 'x', shape: [1000], dtype: 'f32' },
      { name: 'y', shape: [70], dtype: 'u32' },
    ]);
    expect(gpu.liveBytes - before).toBeGreaterThanOrEqual(1070 * 4);
    // Tensors start at 256-byte aligned offsets (storage binding alignment).
    expect(a.get('y').byteOffset % 256).toBe(0);
    a.release();
    expect(gpu.liveBytes).toBe(before);
    expect(() => a.get('x')).toThrow(/after release/);
  });

  it('splits an arena across slabs when it outgrows the largest buffer, with identical layouts', async () => {
    const gpu = await testGpu();
    const entries = [
      { name: 'a', shape: [300], dtype: 'f32' as const },
      { name: 'b', shape: [300], dtype: 'f32' as const },
    ];
    const p = new Arena(gpu, 'p', entries, 2048);
    const g = new Arena(gpu, 'g', entries, 2048);
    expect(p.slabs.length).toBe(2);
    expect(p.get('b').byteOffset).toBe(g.get('b').byteOffset);
    expect(() => new Arena(gpu, 'big', [{ name: 'z', shape: [1000], dtype: 'f32' }], 2048)).toThrow(/largest buffer/);
    p.release();
    g.release();
  });

  it('folds big 1D grids into 2D within the per-dimension limit', () => {
    expect(grid1d(1000, 256)).toEqual([4, 1]);
    const [x, y] = grid1d(70000 * 256, 256, 65535);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(70000);
  });
});
