import { describe, it, expect } from 'vitest';
import { setup, randArray, compare } from '../helpers/gpu';
import { axpby, fill, addBroadcastRows } from '../../src/engine/kernels/elementwise';

describe('elementwise kernels', () => {
  it('axpby matches y = a x + b y on a size that is not a multiple of the workgroup', async () => {
    const n = 1000;
    const x = randArray(n, 1),
      y = randArray(n, 2);
    const { s, t, read, done } = await setup([
      { name: 'x', shape: [n], dtype: 'f32', data: x },
      { name: 'y', shape: [n], dtype: 'f32', data: y },
    ]);
    axpby(s, t('x'), t('y'), 0.5, -2);
    const got = await read('y');
    const want = Array.from(x, (xi, i) => 0.5 * xi - 2 * y[i]);
    const c = compare(got, want);
    expect(c.ok, c.msg).toBe(true);
    done();
  });

  it('fill writes only the first n elements', async () => {
    const { s, t, read, done } = await setup([{ name: 'y', shape: [300], dtype: 'f32', data: new Float32Array(300).fill(7) }]);
    fill(s, t('y'), 3, 257);
    const got = await read('y');
    expect(got[0]).toBe(3);
    expect(got[256]).toBe(3);
    expect(got[257]).toBe(7);
    done();
  });

  it('addBroadcastRows adds one block to every block (position embeddings over images)', async () => {
    const period = 70,
      blocks = 3;
    const x = randArray(period, 4),
      y = randArray(period * blocks, 5);
    const { s, t, read, done } = await setup([
      { name: 'x', shape: [period], dtype: 'f32', data: x },
      { name: 'y', shape: [period * blocks], dtype: 'f32', data: y },
    ]);
    addBroadcastRows(s, t('x'), t('y'), period);
    const got = await read('y');
    const c = compare(
      got,
      Array.from(y, (v, i) => v + x[i % period]),
    );
    expect(c.ok, c.msg).toBe(true);
    expect(() => addBroadcastRows(s, t('x'), t('y'), 80)).toThrow(/does not tile/);
    done();
  });
});
