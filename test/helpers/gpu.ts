// Shared test plumbing: one Dawn device per test worker, seeded random data, and comparison
// against float64 references with errors that say where the first mismatch is.

import { beforeAll, afterAll } from 'vitest';
import { createNodeGpu } from '../../src/node/dawn';
import type { Gpu } from '../../src/engine/gpu';
import { Arena, type ArenaEntry, type Tensor, upload, download } from '../../src/engine/tensor';
import { CommandStream } from '../../src/engine/stream';
import { seededRandom } from '../../src/util/random';

let gpuPromise: Promise<Gpu> | null = null;
export function testGpu(): Promise<Gpu> {
  gpuPromise ??= createNodeGpu();
  return gpuPromise;
}

/**
 * The two kernel paths (Gpu.rowKernels): workgroup kernels for GPUs, one-thread-per-row kernels for
 * CPU adapters. Kernel tests run their cases on both: `describe.each(KERNEL_PATHS)(..., (k) => {
 * useKernelPath(k.rowKernels); ... })`.
 */
export const KERNEL_PATHS = [
  { path: 'workgroup kernels', rowKernels: false, subgroups: true },
  { path: 'row kernels', rowKernels: true, subgroups: true },
];

/**
 * The families whose workgroup kernels reduce across a workgroup (norm, attention, the grad norm)
 * also run with the barrier-tree reductions, which devices without `subgroups` get; the paths
 * above use subgroup operations where the device has them (SwiftShader does, 4 lanes wide).
 */
export const REDUCTION_PATHS = [...KERNEL_PATHS, { path: 'workgroup kernels, reductions without subgroups', rowKernels: false, subgroups: false }];

/** Inside a describe: run its tests on the given path, and restore the device's defaults after. */
export function useKernelPath(rowKernels: boolean, subgroups = true): void {
  let before = { rowKernels: false, subgroupReductions: false };
  beforeAll(async () => {
    const gpu = await testGpu();
    before = { rowKernels: gpu.rowKernels, subgroupReductions: gpu.subgroupReductions };
    gpu.rowKernels = rowKernels;
    gpu.subgroupReductions = subgroups && gpu.hasSubgroups;
  });
  afterAll(async () => {
    Object.assign(await testGpu(), before);
  });
}

/** Mulberry32: a small seeded PRNG so every test's inputs are reproducible. */
export function rng(seed: number) {
  const next = seededRandom(seed);
  return {
    next,
    uniform: (lo = -1, hi = 1) => lo + (hi - lo) * next(),
    normal: () => {
      const u = Math.max(next(), 1e-12);
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    int: (n: number) => Math.floor(next() * n),
  };
}

export function randArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform(-1, 1) * scale;
  return a;
}

/** Max |a-b| / (atol + rtol*|b|) style check; returns a description of the worst element. */
export function compare(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-5, rtol = 1e-4) {
  if (got.length !== want.length) return { ok: false, msg: `length ${got.length} vs ${want.length}`, worst: Infinity };
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / (atol + rtol * Math.abs(want[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
    if (Number.isNaN(got[i])) {
      worst = Infinity;
      at = i;
      break;
    }
  }
  return { ok: worst <= 1, worst, msg: at < 0 ? 'equal' : `worst at ${at}: got ${got[at]}, want ${want[at]}` };
}

/** Allocate tensors in a fresh arena, upload the given data, and hand back a stream to record into. */
export async function setup(entries: (ArenaEntry & { data?: Float32Array | Uint32Array | Int32Array })[]) {
  const gpu = await testGpu();
  const arena = new Arena(
    gpu,
    'test',
    entries.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
  );
  for (const e of entries) if (e.data) upload(gpu, arena.get(e.name), e.data);
  const s = new CommandStream(gpu, 'test');
  const t = (n: string): Tensor => arena.get(n);
  const read = async (n: string) => {
    await s.sync();
    return download(gpu, arena.get(n));
  };
  const done = () => {
    s.destroy();
    arena.release();
  };
  return { gpu, arena, s, t, read, done };
}

/**
 * The same stream, but launchers see a tiny per-dimension workgroup limit, so their grids must
 * fold into 2D: the fold arithmetic is checked without dispatching 65536 workgroups.
 */
export function foldedStream(s: CommandStream, maxPerDim: number): CommandStream {
  const gpu = new Proxy(s.gpu, {
    get(target, key) {
      if (key === 'limits') return { ...target.limits, maxComputeWorkgroupsPerDimension: maxPerDim };
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const folded = Object.create(s) as CommandStream;
  Object.defineProperty(folded, 'gpu', { value: gpu });
  return folded;
}
