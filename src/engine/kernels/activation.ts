import code from '../../../shaders/activation.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';

const WG = 256;

export const ACTIVATION_PARAMS = uniformLayout('activation', 'Params', { n: 'u32', _pad0: 'u32', _pad1: 'u32', _pad2: 'u32' });

function checkAll(kernel: string, n: number, ts: Record<string, Tensor>): void {
  if (!Number.isInteger(n) || n < 0) throw new EngineError(`${kernel}: element count ${n} must be a non-negative integer`);
  for (const [what, t] of Object.entries(ts)) requireTensor(kernel, t, n, what);
  requireDisjoint(kernel, ts);
}

function launch(s: CommandStream, entry: string, n: number, bindings: (Tensor | null)[]): void {
  s.dispatch({
    label: entry,
    pipeline: s.gpu.pipeline('activation', code, entry, { WG }),
    uniforms: ACTIVATION_PARAMS.values({ n }),
    bindings,
    workgroups: grid1d(n, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** h = silu(gate) * up over the first n elements. */
export function swigluForward(s: CommandStream, gate: Tensor, up: Tensor, h: Tensor, n: number): void {
  checkAll('swigluForward', n, { gate, up, h });
  launch(s, 'swiglu_forward', n, [gate, up, h]);
}

/** dgate = dh * up * silu'(gate), dup = dh * silu(gate); both overwritten. */
export function swigluBackward(s: CommandStream, gate: Tensor, up: Tensor, dh: Tensor, dgate: Tensor, dup: Tensor, n: number): void {
  checkAll('swigluBackward', n, { gate, up, dh, dgate, dup });
  launch(s, 'swiglu_backward', n, [gate, up, dh, dgate, dup]);
}

/** y = gelu(x) with the tanh approximation (PyTorch approximate='tanh', HF gelu_pytorch_tanh). */
export function geluForward(s: CommandStream, x: Tensor, y: Tensor, n: number): void {
  checkAll('geluForward', n, { x, y });
  launch(s, 'gelu_forward', n, [x, null, y]);
}

/** dx = dy * gelu'(x); overwritten. */
export function geluBackward(s: CommandStream, x: Tensor, dy: Tensor, dx: Tensor, n: number): void {
  checkAll('geluBackward', n, { x, dy, dx });
  launch(s, 'gelu_backward', n, [x, null, dy, dx]);
}
