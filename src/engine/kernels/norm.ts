import code from '../../../shaders/norm.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d, rowThreads } from '../stream';
import type { Tensor } from '../tensor';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';
import { withReductions } from './reduce';

/** A compute pipeline of this family's module, with the workgroup reductions it calls linked in (kernels/reduce.ts). */
const pipeline = (s: CommandStream, entry: string, constants: Record<string, number>) =>
  s.gpu.pipeline(...withReductions(s.gpu, 'norm', code), entry, constants);

const CX = 32;
const CY = 8;

/** Threads per workgroup of the one-thread-per-row entry points (Gpu.rowKernels). */
const RT = 64;

export const NORM_PARAMS = uniformLayout('norm', 'Params', { rows: 'u32', dim: 'u32', eps: 'f32', accumulate: 'u32' });

/** Pipeline and grid of a row entry point: one workgroup per row, or one thread per row. */
function rowLaunch(s: CommandStream, entry: string, rows: number, dim: number) {
  const maxDim = s.gpu.limits.maxComputeWorkgroupsPerDimension;
  return s.gpu.rowKernels
    ? { pipeline: pipeline(s, `${entry}_rows`, { RT }), workgroups: grid1d(rows, RT, maxDim), suffix: '.rows' }
    : { pipeline: pipeline(s, entry, { WG: rowThreads(dim) }), workgroups: grid1d(rows, 1, maxDim), suffix: '' };
}

/** Hugging Face LlamaRMSNorm: y = x * rsqrt(mean(x^2) + eps) * w per row; saves rstd [rows] for the backward. */
export function rmsnormForward(s: CommandStream, x: Tensor, w: Tensor, y: Tensor, rstd: Tensor, rows: number, dim: number, eps: number): void {
  const k = 'rmsnormForward';
  requireTensor(k, x, rows * dim, 'x', 'f32', `[${rows}, ${dim}]`);
  requireTensor(k, w, dim, 'w', 'f32', `[${dim}]`);
  requireTensor(k, y, rows * dim, 'y', 'f32', `[${rows}, ${dim}]`);
  requireTensor(k, rstd, rows, 'rstd', 'f32', `[${rows}]`);
  requireDisjoint(k, { x, w, y, rstd });
  if (rows === 0 || dim === 0) return;
  const l = rowLaunch(s, 'forward', rows, dim);
  s.dispatch({
    label: 'rmsnorm.fwd' + l.suffix,
    pipeline: l.pipeline,
    uniforms: NORM_PARAMS.values({ rows, dim, eps, accumulate: 0 }),
    bindings: [x, w, rstd, y],
    workgroups: l.workgroups,
  });
}

/** torch.nn.LayerNorm: y = (x - mean) * rsqrt(var + eps) * w + b per row (biased variance); saves rstd [rows]. */
export function layernormForward(s: CommandStream, x: Tensor, w: Tensor, b: Tensor, y: Tensor, rstd: Tensor, rows: number, dim: number, eps: number): void {
  const k = 'layernormForward';
  requireTensor(k, x, rows * dim, 'x', 'f32', `[${rows}, ${dim}]`);
  requireTensor(k, w, dim, 'w', 'f32', `[${dim}]`);
  requireTensor(k, b, dim, 'b', 'f32', `[${dim}]`);
  requireTensor(k, y, rows * dim, 'y', 'f32', `[${rows}, ${dim}]`);
  requireTensor(k, rstd, rows, 'rstd', 'f32', `[${rows}]`);
  requireDisjoint(k, { x, w, b, y, rstd });
  if (rows === 0 || dim === 0) return;
  const l = rowLaunch(s, 'layernorm_forward', rows, dim);
  s.dispatch({
    label: 'layernorm.fwd' + l.suffix,
    pipeline: l.pipeline,
    uniforms: NORM_PARAMS.values({ rows, dim, eps, accumulate: 0 }),
    bindings: [x, w, rstd, y, null, null, b],
    workgroups: l.workgroups,
  });
}

/**
 * Gradients of rmsnormForward. dw is always accumulated (dw += ...), because a norm weight may be
 * reached by several paths (null dw: a frozen weight, no gradient); dx is overwritten unless
 * accumulateDx (then dx += ...).
 */
export function rmsnormBackward(
  s: CommandStream,
  x: Tensor,
  w: Tensor,
  rstd: Tensor,
  dy: Tensor,
  dx: Tensor,
  dw: Tensor | null,
  rows: number,
  dim: number,
  accumulateDx = false,
): void {
  const k = 'rmsnormBackward';
  requireTensor(k, x, rows * dim, 'x', 'f32', `[${rows}, ${dim}]`);
  requireTensor(k, w, dim, 'w', 'f32', `[${dim}]`);
  requireTensor(k, rstd, rows, 'rstd', 'f32', `[${rows}]`);
  requireTensor(k, dy, rows * dim, 'dy', 'f32', `[${rows}, ${dim}]`);
  requireTensor(k, dx, rows * dim, 'dx', 'f32', `[${rows}, ${dim}]`);
  if (dw) requireTensor(k, dw, dim, 'dw', 'f32', `[${dim}]`);
  requireDisjoint(k, dw ? { x, w, rstd, dy, dx, dw } : { x, w, rstd, dy, dx });
  if (rows === 0 || dim === 0) return;
  const uniforms = NORM_PARAMS.values({ rows, dim, eps: 0, accumulate: accumulateDx ? 1 : 0 });
  const l = rowLaunch(s, 'backward_dx', rows, dim);
  s.dispatch({
    label: 'rmsnorm.bwd.dx' + l.suffix,
    pipeline: l.pipeline,
    uniforms,
    bindings: [x, w, rstd, dy, dx],
    workgroups: l.workgroups,
  });
  // A frozen weight (LoRA's base) has no gradient to accumulate.
  if (!dw) return;
  s.dispatch({
    label: 'rmsnorm.bwd.dw' + l.suffix,
    pipeline: s.gpu.rowKernels ? pipeline(s, 'backward_dw_rows', { RT }) : pipeline(s, 'backward_dw', { CX, CY }),
    uniforms,
    bindings: [x, null, rstd, dy, null, dw],
    workgroups: [Math.ceil(dim / (s.gpu.rowKernels ? RT : CX))],
  });
}
