import code from '../../../shaders/elementwise.wgsl?raw';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import type { Tensor } from '../tensor';
import { EngineError } from '../errors';
import { uniformLayout } from '../uniforms';

const WG = 256;

export const ELEMENTWISE_PARAMS = uniformLayout('elementwise', 'Params', { n: 'u32', alpha: 'f32', beta: 'f32', m: 'u32' });

/** y = alpha * x + beta * y over the first n elements (n defaults to y.size). */
export function axpby(s: CommandStream, x: Tensor, y: Tensor, alpha: number, beta: number, n = y.size): void {
  if (x.size < n || y.size < n) throw new EngineError(`axpby: ${x.name}(${x.size}) / ${y.name}(${y.size}) smaller than ${n}`);
  s.dispatch({
    label: 'axpby',
    pipeline: s.gpu.pipeline('elementwise', code, 'axpby', { WG }),
    uniforms: ELEMENTWISE_PARAMS.values({ n, alpha, beta, m: 0 }),
    bindings: [x, y],
    workgroups: grid1d(n, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** y = x. */
export const copy = (s: CommandStream, x: Tensor, y: Tensor, n = y.size) => axpby(s, x, y, 1, 0, n);

/** y[:n] = value. */
export function fill(s: CommandStream, y: Tensor, value: number, n = y.size): void {
  s.dispatch({
    label: 'fill',
    pipeline: s.gpu.pipeline('elementwise', code, 'fill', { WG }),
    uniforms: ELEMENTWISE_PARAMS.values({ n, alpha: value, beta: 0, m: 0 }),
    bindings: [null, y],
    workgroups: grid1d(n, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** y[i] += x[i % period] for i < n: adds one block to every consecutive block of y. */
export function addBroadcastRows(s: CommandStream, x: Tensor, y: Tensor, period: number, n = y.size): void {
  if (x.size < period || y.size < n || n % period !== 0) {
    throw new EngineError(`addBroadcastRows: ${x.name}(${x.size}) period ${period} does not tile ${y.name}(${n})`);
  }
  s.dispatch({
    label: 'add_broadcast',
    pipeline: s.gpu.pipeline('elementwise', code, 'add_broadcast', { WG }),
    uniforms: ELEMENTWISE_PARAMS.values({ n, alpha: 0, beta: 0, m: period }),
    bindings: [x, y],
    workgroups: grid1d(n, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
