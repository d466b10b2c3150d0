import code from '../../../shaders/rope.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';

const WG = 256;

export const ROPE_PARAMS = uniformLayout('rope', 'Params', { n: 'u32', half: 'u32', nHeads: 'u32', sign: 'f32' });

/**
 * invFreq[i] = theta^(-2i/hd), i < hd/2. Kept on the CPU so rope-scaling variants (linear, NTK,
 * Llama 3) only change this table, not the kernel.
 */
export function ropeInvFreq(theta: number, hd: number): Float32Array {
  if (!(theta > 0)) throw new EngineError(`ropeInvFreq: theta = ${theta} must be positive`);
  if (!Number.isInteger(hd) || hd < 2 || hd % 2 !== 0) throw new EngineError(`ropeInvFreq: head dim ${hd} must be even and >= 2`);
  const f = new Float32Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) f[i] = Math.pow(theta, (-2 * i) / hd);
  return f;
}

/**
 * Rotates x [N, nHeads, hd] in place by angle positions[n] * invFreq[i] (rotate_half pairing of i
 * with i + hd/2). inverse = true rotates by -angle: the transpose, which is the backward pass.
 */
export function rope(s: CommandStream, x: Tensor, positions: Tensor, invFreq: Tensor, N: number, nHeads: number, hd: number, inverse = false): void {
  const K = 'rope';
  for (const [name, n] of Object.entries({ N, nHeads, hd })) {
    if (!Number.isInteger(n) || n < 0 || n >= 2 ** 31) throw new EngineError(`${K}: ${name} = ${n} is not a valid size`);
  }
  if (hd < 2 || hd % 2 !== 0) throw new EngineError(`${K}: head dim ${hd} must be even and >= 2`);
  requireTensor(K, x, N * nHeads * hd, 'x', 'f32', `[${N}, ${nHeads}, ${hd}]`);
  requireTensor(K, positions, N, 'positions', 'u32', `[${N}]`);
  requireTensor(K, invFreq, hd / 2, 'invFreq', 'f32', `[${hd / 2}]`);
  requireDisjoint(K, { x, positions, invFreq });
  const n = (N * nHeads * hd) / 2;
  s.dispatch({
    label: inverse ? 'rope_inv' : 'rope',
    pipeline: s.gpu.pipeline('rope', code, 'rope', { WG }),
    uniforms: ROPE_PARAMS.values({ n, half: hd / 2, nHeads, sign: inverse ? -1 : 1 }),
    bindings: [x, positions, invFreq],
    workgroups: grid1d(n, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
