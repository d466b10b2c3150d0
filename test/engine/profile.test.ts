import { describe, it, expect } from 'vitest';
import { setup, randArray, compare } from '../helpers/gpu';
import { KernelProfiler, formatKernelTimes } from '../../src/engine/profile';
import { matmul } from '../../src/engine/kernels/matmul';
import { rmsnormForward } from '../../src/engine/kernels/norm';
import { matmulRef } from '../kernels/matmul.ref';

describe('KernelProfiler', () => {
  it('counts every dispatch per kernel label and leaves the results unchanged', async () => {
    const M = 9,
      N = 12,
      K = 7;
    const A = randArray(M * K, 1),
      B = randArray(K * N, 2);
    const { gpu, s, t, read, done } = await setup([
      { name: 'A', shape: [M * K], dtype: 'f32', data: A },
      { name: 'B', shape: [K * N], dtype: 'f32', data: B },
      { name: 'C', shape: [M * N], dtype: 'f32' },
      { name: 'w', shape: [K], dtype: 'f32', data: randArray(K, 3) },
      { name: 'y', shape: [M * K], dtype: 'f32' },
      { name: 'rstd', shape: [M], dtype: 'f32' },
    ]);
    const profiler = new KernelProfiler(gpu);
    gpu.profiler = profiler;
    try {
      for (let i = 0; i < 3; i++) matmul(s, t('A'), t('B'), t('C'), { M, N, K });
      s.submit();
      rmsnormForward(s, t('A'), t('w'), t('y'), t('rstd'), M, K, 1e-5);
      const C = await read('C');
      const rows = await profiler.report();
      const byLabel = Object.fromEntries(rows.map((r) => [r.label, r]));
      const [mm] = [...s.kernelsSeen].filter((l) => l.startsWith('matmul'));
      const [norm] = [...s.kernelsSeen].filter((l) => l.startsWith('rmsnorm'));
      expect(rows.map((r) => r.label).sort()).toEqual([mm, norm].sort());
      expect(byLabel[mm].calls).toBe(3);
      expect(byLabel[norm].calls).toBe(1);
      for (const r of rows) expect(r.ms).toBeGreaterThanOrEqual(0);
      expect(formatKernelTimes(rows)).toMatch(/ms total/);
      // One pass per dispatch changes nothing the kernels compute.
      const c = compare(C, matmulRef(A, B, new Float32Array(M * N), { M, N, K }), 1e-4, 1e-4);
      expect(c.ok, c.msg).toBe(true);
      profiler.reset();
      expect(await profiler.report()).toEqual([]);
    } finally {
      gpu.profiler = null;
      done();
    }
  });
});
