import { describe, it, expect } from 'vitest';
import { setup, randArray, compare, foldedStream, REDUCTION_PATHS, useKernelPath } from '../helpers/gpu';
import { rmsnormForward, rmsnormBackward, layernormForward } from '../../src/engine/kernels/norm';
import { rmsnormRef, rmsnormBackwardRef, layernormRef } from './norm.ref';
import { EngineError } from '../../src/engine/errors';
import { slice } from '../../src/engine/tensor';

const f32 = 'f32' as const;

async function runCase(rows: number, dim: number, eps: number, seed: number, fold = 0) {
  const x = randArray(rows * dim, seed, 2);
  const w = randArray(dim, seed + 1);
  const dy = randArray(rows * dim, seed + 2);
  const dx0 = randArray(rows * dim, seed + 3);
  const dw0 = randArray(dim, seed + 4);
  const { gpu, s, t, read, done } = await setup([
    { name: 'x', shape: [rows, dim], dtype: f32, data: x },
    { name: 'w', shape: [dim], dtype: f32, data: w },
    { name: 'y', shape: [rows, dim], dtype: f32 },
    { name: 'rstd', shape: [rows], dtype: f32 },
    { name: 'dy', shape: [rows, dim], dtype: f32, data: dy },
    { name: 'dx', shape: [rows, dim], dtype: f32, data: dx0 },
    { name: 'dxAcc', shape: [rows, dim], dtype: f32, data: dx0 },
    { name: 'dw', shape: [dim], dtype: f32, data: dw0 },
  ]);
  const ls = fold ? foldedStream(s, fold) : s;
  rmsnormForward(ls, t('x'), t('w'), t('y'), t('rstd'), rows, dim, eps);
  rmsnormBackward(ls, t('x'), t('w'), t('rstd'), t('dy'), t('dx'), t('dw'), rows, dim);
  // Second backward: accumulates into dxAcc and adds a second copy of the dw contribution.
  rmsnormBackward(ls, t('x'), t('w'), t('rstd'), t('dy'), t('dxAcc'), t('dw'), rows, dim, true);
  for (const label of s.kernelsSeen) expect(label.endsWith('.rows'), label).toBe(gpu.rowKernels);
  const got = { y: await read('y'), rstd: await read('rstd'), dx: await read('dx'), dxAcc: await read('dxAcc'), dw: await read('dw') };
  done();
  const f = rmsnormRef(x, w, rows, dim, eps);
  const b = rmsnormBackwardRef(x, w, dy, rows, dim, eps);
  const checks = {
    y: compare(got.y, f.y),
    rstd: compare(got.rstd, f.rstd),
    dx: compare(got.dx, b.dx),
    dxAcc: compare(
      got.dxAcc,
      Array.from(b.dx, (v, i) => v + dx0[i]),
    ),
    dw: compare(
      got.dw,
      Array.from(b.dw, (v, i) => dw0[i] + 2 * v),
      1e-4,
      1e-4,
    ),
  };
  for (const [k, c] of Object.entries(checks)) expect(c.ok, `${k} (rows ${rows}, dim ${dim}): ${c.msg}`).toBe(true);
}

describe.each(REDUCTION_PATHS)('rmsnorm ($path)', ({ rowKernels, subgroups }) => {
  useKernelPath(rowKernels, subgroups);

  it('the float64 backward reference agrees with central differences', () => {
    const rows = 2,
      dim = 5,
      eps = 1e-5;
    const x = Array.from(randArray(rows * dim, 11), Number);
    const w = Array.from(randArray(dim, 12), Number);
    const dy = Array.from(randArray(rows * dim, 13), Number);
    const loss = (xx: number[], ww: number[]) => rmsnormRef(xx, ww, rows, dim, eps).y.reduce((a, v, i) => a + v * dy[i], 0);
    const b = rmsnormBackwardRef(x, w, dy, rows, dim, eps);
    const h = 1e-6;
    for (let i = 0; i < rows * dim; i++) {
      const xp = x.slice(),
        xm = x.slice();
      xp[i] += h;
      xm[i] -= h;
      expect(Math.abs((loss(xp, w) - loss(xm, w)) / (2 * h) - b.dx[i])).toBeLessThan(1e-6);
    }
    for (let j = 0; j < dim; j++) {
      const wp = w.slice(),
        wm = w.slice();
      wp[j] += h;
      wm[j] -= h;
      expect(Math.abs((loss(x, wp) - loss(x, wm)) / (2 * h) - b.dw[j])).toBeLessThan(1e-6);
    }
  });

  it('matches float64 on rows 7, dim 37 (smaller than a workgroup)', async () => {
    await runCase(7, 37, 1e-6, 100);
  });

  it('matches float64 on rows 45, dim 300 (strided rows, a partial column strip, uneven row lanes)', async () => {
    await runCase(45, 300, 1e-5, 200);
  });

  it('folds the row grid into 2D when rows exceed the per-dimension workgroup limit', async () => {
    await runCase(7, 37, 1e-6, 300, 3);
    // The row kernels put 64 rows in a workgroup: 200 rows are 4 workgroups, folded 2 x 2.
    if (rowKernels) await runCase(200, 37, 1e-6, 301, 2);
  });

  it('leaves data past `rows` untouched and rejects bad shapes and in-place use', async () => {
    const rows = 3,
      dim = 10;
    const { s, t, read, done } = await setup([
      { name: 'x', shape: [4, dim], dtype: f32, data: randArray(4 * dim, 5) },
      { name: 'w', shape: [dim], dtype: f32, data: randArray(dim, 6) },
      { name: 'y', shape: [4, dim], dtype: f32, data: new Float32Array(4 * dim).fill(9) },
      { name: 'rstd', shape: [4], dtype: f32, data: new Float32Array(4).fill(9) },
    ]);
    rmsnormForward(s, t('x'), t('w'), t('y'), t('rstd'), rows, dim, 1e-6);
    const y = await read('y');
    const r = await read('rstd');
    expect(Array.from(y.slice(rows * dim))).toEqual(new Array(dim).fill(9));
    expect(r[3]).toBe(9);
    expect(() => rmsnormForward(s, t('x'), t('w'), t('y'), t('rstd'), 5, dim, 1e-6)).toThrow(EngineError);
    expect(() => rmsnormForward(s, t('x'), t('w'), t('y'), t('rstd'), rows, 41, 1e-6)).toThrow(/w/);
    expect(() => rmsnormForward(s, t('x'), t('w'), t('x'), t('rstd'), rows, dim, 1e-6)).toThrow(/overlap/);
    expect(() => rmsnormForward(s, t('x'), t('w'), slice(t('y'), 0, [2, dim]), t('rstd'), rows, dim, 1e-6)).toThrow(EngineError);
    done();
  });
});

describe.each(REDUCTION_PATHS)('layernorm ($path)', ({ rowKernels, subgroups }) => {
  useKernelPath(rowKernels, subgroups);

  async function layerCase(rows: number, dim: number, eps: number, seed: number, offset = 0, fold = 0) {
    // `offset` shifts every value: a residual stream's large mean must not cancel its variance.
    const x = randArray(rows * dim, seed, 2).map((v) => v + offset);
    const w = randArray(dim, seed + 1);
    const b = randArray(dim, seed + 2);
    const { gpu, s, t, read, done } = await setup([
      { name: 'x', shape: [rows, dim], dtype: f32, data: x },
      { name: 'w', shape: [dim], dtype: f32, data: w },
      { name: 'b', shape: [dim], dtype: f32, data: b },
      { name: 'y', shape: [rows + 1, dim], dtype: f32, data: new Float32Array((rows + 1) * dim).fill(7) },
      { name: 'rstd', shape: [rows], dtype: f32 },
    ]);
    layernormForward(fold ? foldedStream(s, fold) : s, t('x'), t('w'), t('b'), t('y'), t('rstd'), rows, dim, eps);
    for (const label of s.kernelsSeen) expect(label.endsWith('.rows'), label).toBe(gpu.rowKernels);
    const y = await read('y');
    const rstd = await read('rstd');
    done();
    const ref = layernormRef(x, w, b, rows, dim, eps);
    // With an offset, the f32 input itself carries ~offset * 2^-24 of rounding per element: a
    // one-pass variance (E[x^2] - mean^2) would be ~1% off at offset 200, a two-pass one ~1e-4.
    const tol = offset ? 1e-3 : undefined;
    const cy = compare(y.subarray(0, rows * dim), ref.y, tol, tol);
    expect(cy.ok, `y (rows ${rows}, dim ${dim}, offset ${offset}): ${cy.msg}`).toBe(true);
    const cr = compare(rstd, ref.rstd, tol, tol);
    expect(cr.ok, `rstd: ${cr.msg}`).toBe(true);
    expect(Array.from(y.subarray(rows * dim))).toEqual(new Array(dim).fill(7));
  }

  it('matches float64 on rows 7, dim 37 and rows 45, dim 300', async () => {
    await layerCase(7, 37, 1e-6, 400);
    await layerCase(45, 300, 1e-6, 410);
  });

  it('keeps the variance of rows whose mean is 100x their spread (two-pass, no E[x^2] - mean^2)', async () => {
    await layerCase(9, 96, 1e-6, 420, 200);
  });

  it('folds the row grid into 2D and rejects a bias of the wrong size', async () => {
    await layerCase(7, 37, 1e-6, 430, 0, 3);
    const { s, t, done } = await setup([
      { name: 'x', shape: [2, 8], dtype: f32 },
      { name: 'w', shape: [8], dtype: f32 },
      { name: 'b', shape: [4], dtype: f32 },
      { name: 'y', shape: [2, 8], dtype: f32 },
      { name: 'rstd', shape: [2], dtype: f32 },
    ]);
    expect(() => layernormForward(s, t('x'), t('w'), t('b'), t('y'), t('rstd'), 2, 8, 1e-6)).toThrow(/\bb\b/);
    done();
  });
});
