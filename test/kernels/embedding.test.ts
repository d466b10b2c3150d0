import { describe, it, expect } from 'vitest';
import { setup, randArray, compare, rng, foldedStream } from '../helpers/gpu';
import { embeddingForward, embeddingBackward, planEmbeddingGrad, scatterRows, gatherRows } from '../../src/engine/kernels/embedding';
import { embeddingRef, embeddingGradRef, scatterRowsRef, gatherRowsRef } from './embedding.ref';
import { EngineError } from '../../src/engine/errors';

const f32 = 'f32' as const,
  u32 = 'u32' as const;

describe('embedding', () => {
  for (const fold of [0, 3])
    it(`forward looks rows up and gives zero rows for ids >= V${fold ? ' (grid folded into 2D)' : ''}`, async () => {
      const N = 29,
        D = 37,
        V = 50;
      const r = rng(1);
      const ids = Uint32Array.from({ length: N }, () => r.int(V));
      ids[3] = V;
      ids[17] = V + 1000; // placeholders past the vocabulary
      const table = randArray(V * D, 2);
      const { s, t, read, done } = await setup([
        { name: 'ids', shape: [N], dtype: u32, data: ids },
        { name: 'table', shape: [V, D], dtype: f32, data: table },
        { name: 'out', shape: [N, D], dtype: f32, data: new Float32Array(N * D).fill(5) },
      ]);
      embeddingForward(fold ? foldedStream(s, fold) : s, t('ids'), t('table'), t('out'), N, D, V);
      const got = await read('out');
      done();
      const c = compare(got, embeddingRef(ids, table, N, D, V), 1e-12, 0);
      expect(c.ok, c.msg).toBe(true);
      expect(got[3 * D]).toBe(0);
    });

  it('planEmbeddingGrad groups repeated ids in order and drops skipped and out-of-range ids', () => {
    const plan = planEmbeddingGrad([4, 2, 4, 9, 7, 2, 4, -1, 12, 7], 10, [9, 7]);
    expect(Array.from(plan.rows)).toEqual([2, 4]);
    expect(Array.from(plan.starts)).toEqual([0, 2, 5]);
    expect(Array.from(plan.positions)).toEqual([1, 5, 0, 2, 6]);
    const empty = planEmbeddingGrad([3, 3], 10, [3]);
    expect(empty.rows.length).toBe(0);
    expect(Array.from(empty.starts)).toEqual([0]);
  });

  for (const fold of [0, 5])
    it(`backward accumulates repeated ids and leaves skipped and unused rows alone${fold ? ' (grid folded into 2D)' : ''}`, async () => {
      const N = 300,
        D = 37,
        V = 23,
        placeholder = 5;
      const r = rng(3);
      // Few distinct ids over many positions, so most groups have several members.
      const ids = Array.from({ length: N }, () => r.int(V + 2));
      for (let i = 40; i < 60; i++) ids[i] = placeholder;
      ids[7] = 11;
      ids[8] = 11;
      ids[9] = 11;
      const skip = [placeholder];
      const plan = planEmbeddingGrad(ids, V, skip);
      expect(plan.rows.length).toBeGreaterThan(10);
      const dOut = randArray(N * D, 4);
      const dTable0 = randArray(V * D, 5);
      const { s, t, read, done } = await setup([
        { name: 'dOut', shape: [N, D], dtype: f32, data: dOut },
        { name: 'dTable', shape: [V, D], dtype: f32, data: dTable0 },
        { name: 'rows', shape: [plan.rows.length], dtype: u32, data: plan.rows },
        { name: 'starts', shape: [plan.starts.length], dtype: u32, data: plan.starts },
        { name: 'pos', shape: [plan.positions.length], dtype: u32, data: plan.positions },
      ]);
      embeddingBackward(fold ? foldedStream(s, fold) : s, t('dOut'), t('dTable'), t('rows'), t('starts'), t('pos'), plan.rows.length, D);
      const got = await read('dTable');
      done();
      const want = embeddingGradRef(ids, dOut, dTable0, N, D, V, skip);
      const c = compare(got, want, 1e-5, 1e-5);
      expect(c.ok, c.msg).toBe(true);
      // The skipped placeholder's row is exactly what it was.
      expect(Array.from(got.slice(placeholder * D, (placeholder + 1) * D))).toEqual(Array.from(dTable0.slice(placeholder * D, (placeholder + 1) * D)));
    });

  for (const fold of [0, 3])
    it(`scatterRows and gatherRows move rows by index and are each other's reverse${fold ? ' (grid folded into 2D)' : ''}`, async () => {
      const n = 13,
        D = 97,
        rows = 40;
      const r = rng(6);
      const perm = Array.from({ length: rows }, (_, i) => i);
      for (let i = rows - 1; i > 0; i--) {
        const j = r.int(i + 1);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      const index = Uint32Array.from(perm.slice(0, n));
      index[4] = rows + 3; // out of range: scatter drops it, gather gives zeros
      const src = randArray(n * D, 7);
      const dst0 = randArray(rows * D, 8);
      const { s, t, read, done } = await setup([
        { name: 'src', shape: [n, D], dtype: f32, data: src },
        { name: 'index', shape: [n], dtype: u32, data: index },
        { name: 'dst', shape: [rows, D], dtype: f32, data: dst0 },
        { name: 'back', shape: [n, D], dtype: f32, data: new Float32Array(n * D).fill(3) },
      ]);
      const ls = fold ? foldedStream(s, fold) : s;
      scatterRows(ls, t('src'), t('index'), t('dst'), n, D);
      gatherRows(ls, t('dst'), t('index'), t('back'), n, D);
      const dst = await read('dst');
      const back = await read('back');
      done();
      const wantDst = scatterRowsRef(src, index, dst0, n, D);
      const c1 = compare(dst, wantDst, 1e-12, 0);
      expect(c1.ok, c1.msg).toBe(true);
      const c2 = compare(back, gatherRowsRef(wantDst, index, n, D), 1e-12, 0);
      expect(c2.ok, c2.msg).toBe(true);
      const wantBack = Array.from(src, (v, i) => (Math.floor(i / D) === 4 ? 0 : v));
      expect(compare(back, wantBack, 1e-12, 0).ok).toBe(true);
    });

  it('rejects wrong dtypes, short tensors and overlapping outputs', async () => {
    const { s, t, done } = await setup([
      { name: 'ids', shape: [8], dtype: u32 },
      { name: 'idsF', shape: [8], dtype: f32 },
      { name: 'table', shape: [10, 4], dtype: f32 },
      { name: 'out', shape: [8, 4], dtype: f32 },
    ]);
    expect(() => embeddingForward(s, t('idsF'), t('table'), t('out'), 8, 4, 10)).toThrow(/must be u32/);
    expect(() => embeddingForward(s, t('ids'), t('table'), t('out'), 8, 4, 11)).toThrow(EngineError);
    expect(() => embeddingForward(s, t('ids'), t('table'), t('out'), 9, 4, 10)).toThrow(EngineError);
    expect(() => gatherRows(s, t('table'), t('ids'), t('table'), 8, 4)).toThrow(/overlap/);
    expect(() => embeddingBackward(s, t('out'), t('table'), t('ids'), t('ids'), t('idsF'), 3, 4)).toThrow(/u32/);
    done();
  });
});
