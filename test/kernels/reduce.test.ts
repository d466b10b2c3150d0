// shaders/lib: the workgroup reductions (groupSum, groupMax) that norm, attention and the grad
// norm link in, as barrier trees and with subgroup operations, against float64 sums and exact
// maxima. A test kernel calls them back to back, as the attention kernels do, and writes what
// every invocation got, so a result that differs between invocations or subgroups shows.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { setup, rng, testGpu } from '../helpers/gpu';
import { withReductions } from '../../src/engine/kernels/reduce';
import { uniformLayout } from '../../src/engine/uniforms';

const KERNEL = `
struct Probe { groups: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Probe;
@group(0) @binding(1) var<storage, read_write> xs: array<f32>;
@group(0) @binding(2) var<storage, read_write> outs: array<f32>;
override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn probe(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  if (wid.x >= p.groups) { return; }
  let i = wid.x * WG + t;
  let x = xs[i];
  let s = groupSum(t, x);
  let m = groupMax(t, x);
  // A third call right after: it must not read what the first two left in workgroup memory.
  let s2 = groupSum(t, -2.0 * x);
  // Branching on a result around a barrier needs it workgroup-uniform.
  var flag = 0.0;
  if (m > 0.0) {
    workgroupBarrier();
    flag = 1.0;
  }
  outs[i * 4u] = s;
  outs[i * 4u + 1u] = m;
  outs[i * 4u + 2u] = s2;
  outs[i * 4u + 3u] = flag;
}`;

const PROBE = uniformLayout('reduce-probe', 'Probe', { groups: 'u32', _a: 'u32', _b: 'u32', _c: 'u32' });

describe.each([
  { variant: 'barrier trees', subgroups: false },
  { variant: 'subgroup operations', subgroups: true },
])('groupSum and groupMax ($variant)', ({ subgroups }) => {
  let before = false;
  beforeAll(async () => {
    const gpu = await testGpu();
    before = gpu.subgroupReductions;
    gpu.subgroupReductions = subgroups && gpu.hasSubgroups;
  });
  afterAll(async () => {
    (await testGpu()).subgroupReductions = before;
  });

  it.each([32, 64, 256])('WG = %i: every invocation gets the workgroup sum and max, the same bits run after run', async (WG) => {
    const groups = 5;
    const r = rng(WG);
    // Mixed signs and magnitudes; group 3 all negative (its max is negative), group 4 one spike.
    const xs = Float32Array.from({ length: groups * WG }, (_, i) => {
      const g = Math.floor(i / WG);
      if (g === 3) return -Math.abs(r.normal()) - 0.5;
      if (g === 4) return i % WG === WG - 3 ? 1000 : r.uniform(-1, 1) * 1e-3;
      return r.normal() * 10 ** (g - 1);
    });
    const { gpu, s, t, read, done } = await setup([
      { name: 'xs', shape: [xs.length], dtype: 'f32', data: xs },
      { name: 'outs', shape: [xs.length * 4], dtype: 'f32' },
    ]);
    if (subgroups) expect(gpu.subgroupReductions, 'SwiftShader has subgroups; this variant must run them').toBe(true);
    try {
      const run = async () => {
        s.dispatch({
          label: 'reduce.probe',
          pipeline: gpu.pipeline(...withReductions(gpu, 'reduce-probe', KERNEL), 'probe', { WG }),
          uniforms: PROBE.values({ groups }),
          bindings: [t('xs'), t('outs')],
          workgroups: [groups],
        });
        return read('outs');
      };
      const out = await run();
      for (let g = 0; g < groups; g++) {
        const row = xs.subarray(g * WG, (g + 1) * WG);
        let sum = 0,
          abs = 0;
        for (const x of row) {
          sum += x;
          abs += Math.abs(x);
        }
        const max = Math.max(...row);
        for (let k = 0; k < WG; k++) {
          const o = out.subarray((g * WG + k) * 4, (g * WG + k) * 4 + 4);
          const first = out.subarray(g * WG * 4, g * WG * 4 + 4);
          expect(Array.from(o), `group ${g} invocation ${k} differs from invocation 0`).toEqual(Array.from(first));
        }
        const [s1, m1, s2, flag] = out.subarray(g * WG * 4, g * WG * 4 + 4);
        expect(Math.abs(s1 - sum), `group ${g} sum`).toBeLessThanOrEqual(abs * 1e-6);
        expect(m1, `group ${g} max`).toBe(Math.fround(max));
        expect(Math.abs(s2 + 2 * sum), `group ${g} second sum`).toBeLessThanOrEqual(abs * 2e-6);
        expect(flag).toBe(max > 0 ? 1 : 0);
      }
      expect(Array.from(await run())).toEqual(Array.from(out));
    } finally {
      done();
    }
  });
});
