import code from '../../../shaders/crossentropy.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d, rowThreads } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';

export const CROSSENTROPY_PARAMS = uniformLayout('crossentropy', 'Params', { n: 'u32', v: 'u32', invTemp: 'f32', _pad: 'u32' });

/** Threads per workgroup of the one-thread-per-row entry points (Gpu.rowKernels). */
const RT = 64;

/** The pipeline and grid of an entry point: one workgroup per row, or one thread per row. */
function launch(s: CommandStream, entry: string, N: number, V: number) {
  const maxDim = s.gpu.limits.maxComputeWorkgroupsPerDimension;
  return s.gpu.rowKernels
    ? { pipeline: s.gpu.pipeline('crossentropy', code, `${entry}_rows`, { RT }), workgroups: grid1d(N, RT, maxDim), suffix: '.rows' }
    : { pipeline: s.gpu.pipeline('crossentropy', code, entry, { WG: rowThreads(V) }), workgroups: grid1d(N, 1, maxDim), suffix: '' };
}

function checkSizes(kernel: string, N: number, V: number, invTemp: number): void {
  if (!Number.isInteger(V) || V <= 0) throw new EngineError(`${kernel}: vocabulary size ${V} must be a positive integer`);
  if (!Number.isInteger(N) || N < 0) throw new EngineError(`${kernel}: row count ${N} must be a non-negative integer`);
  if (N * V >= 2 ** 32) throw new EngineError(`${kernel}: ${N} x ${V} logits exceed the 32-bit index range`);
  if (!(invTemp > 0) || !Number.isFinite(invTemp)) throw new EngineError(`${kernel}: inverse temperature ${invTemp} must be positive and finite`);
}

/**
 * Per row n of logits [N, V], with z = logits * invTemp and targets i32 [N]:
 * logp[n] = log softmax(z)[target] and entropy[n] = -Σ softmax(z) log softmax(z).
 * The loss is -logp. Rows whose target is < 0 (or >= V) are ignored: logp and entropy are 0 and
 * their softmax is not computed.
 */
export function logprobForward(s: CommandStream, logits: Tensor, targets: Tensor, logp: Tensor, entropy: Tensor, N: number, V: number, invTemp: number): void {
  const k = 'logprobForward';
  checkSizes(k, N, V, invTemp);
  requireTensor(k, logits, N * V, 'logits', 'f32', `[${N}, ${V}]`);
  requireTensor(k, targets, N, 'targets', 'i32', `[${N}]`);
  requireTensor(k, logp, N, 'logp', 'f32', `[${N}]`);
  requireTensor(k, entropy, N, 'entropy', 'f32', `[${N}]`);
  requireDisjoint(k, { logits, targets, logp, entropy });
  const l = launch(s, 'forward', N, V);
  s.dispatch({
    label: 'logprob.fwd' + l.suffix,
    pipeline: l.pipeline,
    uniforms: CROSSENTROPY_PARAMS.values({ n: N, v: V, invTemp }),
    bindings: [logits, targets, logp, entropy],
    workgroups: l.workgroups,
  });
}

/**
 * dlogits[n, :] = coef[n] * invTemp * (onehot(target[n]) - softmax(logits[n, :] * invTemp)): the
 * gradient of Σ_n coef[n] * logp[n]. Written, not accumulated; ignored rows (target < 0 or >= V)
 * and rows with coef 0 get zeros. dlogits may be the logits tensor itself (the gradient then
 * replaces the logits, saving an [N, V] buffer); any other overlap is an error.
 */
export function logprobBackward(s: CommandStream, logits: Tensor, targets: Tensor, coef: Tensor, dlogits: Tensor, N: number, V: number, invTemp: number): void {
  const k = 'logprobBackward';
  checkSizes(k, N, V, invTemp);
  requireTensor(k, logits, N * V, 'logits', 'f32', `[${N}, ${V}]`);
  requireTensor(k, targets, N, 'targets', 'i32', `[${N}]`);
  requireTensor(k, coef, N, 'coef', 'f32', `[${N}]`);
  requireTensor(k, dlogits, N * V, 'dlogits', 'f32', `[${N}, ${V}]`);
  const inPlace = dlogits.buffer === logits.buffer && dlogits.byteOffset === logits.byteOffset;
  requireDisjoint(k, { logits, targets, coef, dlogits: inPlace ? null : dlogits });
  const l = launch(s, inPlace ? 'backward_inplace' : 'backward', N, V);
  s.dispatch({
    label: (inPlace ? 'logprob.bwd.inplace' : 'logprob.bwd') + l.suffix,
    pipeline: l.pipeline,
    uniforms: CROSSENTROPY_PARAMS.values({ n: N, v: V, invTemp }),
    bindings: inPlace ? [logits, targets, coef] : [logits, targets, coef, dlogits],
    workgroups: l.workgroups,
  });
}
