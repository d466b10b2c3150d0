import code from '../../../shaders/optimizer.wgsl?raw';
import type { Gpu } from '../gpu';
import type { CommandStream } from '../stream';
import { grid1d } from '../stream';
import { BYTES, STORAGE_USAGE, type Tensor } from '../tensor';
import { EngineError } from '../errors';
import { requireDisjoint, requireTensor } from './check';
import { uniformLayout } from '../uniforms';
import { withReductions } from './reduce';

/** A compute pipeline of this family's module, with the workgroup reductions it calls linked in (kernels/reduce.ts). */
const pipeline = (s: CommandStream, entry: string, constants: Record<string, number>) =>
  s.gpu.pipeline(...withReductions(s.gpu, 'optimizer', code), entry, constants);

const WG = 256;
/** Partial sums per accumulate slot: enough workgroups to keep a large GPU's memory busy. */
const PARTS = 512;
/** Elements each sum-of-squares thread should handle at least before another workgroup is worth it. */
const PER_THREAD = 8;
/** The same for the barrier-free partial sums of CPU adapters (one thread per partial), and their workgroup size. */
const PER_ROW_THREAD = 256;
const RT = 64;

// One struct per entry point family: sumsq_partial, sumsq_finalize, adamw.
export const SUMSQ_PARAMS = uniformLayout('optimizer', 'SumsqParams', { n: 'u32', base: 'u32', groups: 'u32', _pad: 'u32' });
export const FINALIZE_PARAMS = uniformLayout('optimizer', 'FinalizeParams', { count: 'u32', max_norm: 'f32', _pad0: 'u32', _pad1: 'u32' });
export const ADAM_PARAMS = uniformLayout('optimizer', 'AdamParams', {
  n: 'u32',
  decay: 'f32',
  beta1: 'f32',
  beta2: 'f32',
  one_m_beta1: 'f32',
  one_m_beta2: 'f32',
  step_size: 'f32',
  inv_sqrt_bc2: 'f32',
  eps: 'f32',
  _pad0: 'u32',
  _pad1: 'u32',
  _pad2: 'u32',
});

function wgslTensor(name: string, buffer: GPUBuffer, size: number): Tensor {
  return { name, buffer, byteOffset: 0, shape: [size], dtype: 'f32', size };
}

/**
 * Global L2 norm of many gradient tensors and the clip scale derived from it, computed and kept on
 * the GPU. Each `accumulate` fills its own slot of partial sums (no atomics, fixed order), so the
 * result is bit-reproducible; `finalize` folds the slots used since `reset`. `maxRanges` bounds the
 * accumulate calls per reset (one per parameter tensor, or one per arena slab); each costs 2 KiB.
 */
export class GradNorm {
  /** f32 [2]: norm, clip scale. */
  readonly state: Tensor;
  private readonly partials: Tensor;
  private used = 0;

  constructor(
    readonly gpu: Gpu,
    readonly maxRanges = 1024,
  ) {
    if (!Number.isInteger(maxRanges) || maxRanges < 1) throw new EngineError(`GradNorm: maxRanges must be a positive integer, got ${maxRanges}`);
    const n = maxRanges * PARTS;
    if (n * BYTES > gpu.maxBindingBytes) throw new EngineError(`GradNorm: ${maxRanges} ranges need more than this GPU's largest buffer`);
    this.partials = wgslTensor('gradnorm.partials', gpu.createBuffer('gradnorm.partials', n * BYTES, STORAGE_USAGE), n);
    this.state = wgslTensor('gradnorm.state', gpu.createBuffer('gradnorm.state', 2 * BYTES, STORAGE_USAGE), 2);
  }

  /**
   * Start a new sum. Nothing is dispatched: every accumulate overwrites its whole slot and finalize
   * reads only the slots written since, so forgetting the old count is what zeroes the sum.
   */
  reset(_s: CommandStream): void {
    this.used = 0;
  }

  /** Add Σ g[i]² over i < n (default the whole tensor). */
  accumulate(s: CommandStream, g: Tensor, n = g.size): void {
    if (!Number.isInteger(n) || n < 0) throw new EngineError(`GradNorm.accumulate: bad element count ${n} for ${g.name}`);
    requireTensor('GradNorm.accumulate', g, n, 'g');
    if (this.used >= this.maxRanges) {
      throw new EngineError(`GradNorm.accumulate: more than ${this.maxRanges} ranges since reset (at ${g.name}); construct GradNorm with a larger maxRanges`);
    }
    const base = this.used * PARTS;
    this.used++;
    if (s.gpu.rowKernels) {
      const groups = Math.max(1, Math.min(PARTS / RT, Math.ceil(n / (RT * PER_ROW_THREAD))));
      s.dispatch({
        label: 'gradnorm.sumsq.rows',
        pipeline: pipeline(s, 'sumsq_partial_rows', { RT, PARTS }),
        uniforms: SUMSQ_PARAMS.values({ n, base, groups }),
        bindings: [g, this.partials],
        workgroups: [groups],
      });
      return;
    }
    const maxWg = s.gpu.limits.maxComputeWorkgroupsPerDimension;
    const groups = Math.max(1, Math.min(PARTS, maxWg, Math.ceil(n / (WG * PER_THREAD))));
    s.dispatch({
      label: 'gradnorm.sumsq',
      pipeline: pipeline(s, 'sumsq_partial', { WG, PARTS }),
      uniforms: SUMSQ_PARAMS.values({ n, base, groups }),
      bindings: [g, this.partials],
      workgroups: [groups],
    });
  }

  /** state = [norm, maxNorm > 0 ? min(1, maxNorm / (norm + 1e-6)) : 1]. */
  finalize(s: CommandStream, maxNorm: number): void {
    if (!Number.isFinite(maxNorm)) throw new EngineError(`GradNorm.finalize: maxNorm must be finite, got ${maxNorm}`);
    s.dispatch({
      label: 'gradnorm.finalize',
      pipeline: pipeline(s, 'sumsq_finalize', { WG }),
      uniforms: FINALIZE_PARAMS.values({ count: this.used * PARTS, max_norm: maxNorm }),
      bindings: [this.partials, this.state],
      workgroups: [1],
    });
  }

  destroy(): void {
    this.gpu.destroyBuffer(this.partials.buffer);
    this.gpu.destroyBuffer(this.state.buffer);
  }
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based, for bias correction. */
  step: number;
}

/**
 * One AdamW step over the first n elements (default p.size), PyTorch semantics: decoupled decay
 * p -= lr*wd*p, then Adam with bias correction, the gradient first multiplied by clipState[1]
 * (GradNorm.state, or any f32 [2] tensor holding [_, 1] for no clipping). g is not modified.
 */
export function adamw(s: CommandStream, p: Tensor, g: Tensor, m: Tensor, v: Tensor, h: AdamWHyper, clipState: Tensor, n = p.size): void {
  const names = `${p.name}/${g.name}/${m.name}/${v.name}`;
  if (!Number.isInteger(n) || n < 0) throw new EngineError(`adamw: bad element count ${n} for ${names}`);
  for (const [what, t] of Object.entries({ p, g, m, v })) requireTensor('adamw', t, n, what);
  if (clipState.size < 2) throw new EngineError(`adamw: clip state ${clipState.name} must hold 2 values, has ${clipState.size}`);
  if (!Number.isInteger(h.step) || h.step < 1) throw new EngineError(`adamw: step must be an integer >= 1 (bias correction), got ${h.step}`);
  if (!(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1)) throw new EngineError(`adamw: betas must be in [0, 1), got ${h.beta1}, ${h.beta2}`);
  if (!(h.eps > 0) || !Number.isFinite(h.lr) || !Number.isFinite(h.weightDecay)) {
    throw new EngineError(`adamw: need eps > 0 and finite lr / weightDecay (got eps=${h.eps}, lr=${h.lr}, wd=${h.weightDecay})`);
  }
  requireDisjoint('adamw', { p, g, m, v, clipState });
  const bc1 = 1 - Math.pow(h.beta1, h.step);
  const bc2 = 1 - Math.pow(h.beta2, h.step);
  s.dispatch({
    label: 'adamw',
    pipeline: pipeline(s, 'adamw', { WG }),
    uniforms: ADAM_PARAMS.values({
      n,
      decay: 1 - h.lr * h.weightDecay,
      beta1: h.beta1,
      beta2: h.beta2,
      one_m_beta1: 1 - h.beta1,
      one_m_beta2: 1 - h.beta2,
      step_size: h.lr / bc1,
      inv_sqrt_bc2: 1 / Math.sqrt(bc2),
      eps: h.eps,
    }),
    bindings: [p, g, m, v, clipState],
    workgroups: grid1d(n, WG, s.gpu.limits.maxComputeWorkgroupsPerDimension),
  });
}
