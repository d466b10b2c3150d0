// Command batching. Kernels are recorded into a CommandStream and go to the GPU as one compute
// pass per `submit()`: a training step is a handful of submissions, not one per op. Each dispatch's
// small parameter block (sizes, flags, scalars) is packed into one uniform arena that is uploaded
// with a single writeBuffer at submit time.
//
// Binding convention for every kernel in shaders/: @group(0) @binding(0) is the uniform parameter
// block (its fields declared by the launcher through uniforms.ts), @binding(1..) are storage
// buffers in the order the TypeScript launcher passes them, and every storage binding is declared
// read_write, so tensors of one arena can be read and written by the same dispatch (WebGPU forbids
// mixing read-only and writable bindings of one buffer).

import type { Gpu } from './gpu';
import type { Tensor } from './tensor';
import { tensorBytes } from './tensor';
import { GpuCommandError, EngineError } from './errors';
import { kindOf } from './gpu';
import type { UniformBlock } from './uniforms';

const SLOT_BYTES = 256; // minUniformBufferOffsetAlignment on every adapter we know
const SLOTS = 2048;

export interface Dispatch {
  pipeline: GPUComputePipeline;
  /** The shader's uniform struct, filled through its declared layout (uniforms.ts). */
  uniforms: UniformBlock;
  /** Storage bindings 1..n in order; null leaves a binding index unused by this entry point. */
  bindings: (Tensor | null)[];
  workgroups: [number, number?, number?];
  label: string;
}

export class CommandStream {
  private pending: Dispatch[] = [];
  private uniformBuf: GPUBuffer;
  private errorChecks: Promise<void>[] = [];
  /** Dispatches recorded over this stream's life (for the "a step is a few submissions" check). */
  dispatchCount = 0;
  submitCount = 0;
  /** Labels of the kernels this stream has dispatched (which path a launcher took). */
  readonly kernelsSeen = new Set<string>();

  constructor(
    readonly gpu: Gpu,
    readonly label = 'stream',
  ) {
    this.uniformBuf = gpu.createBuffer(`${label}.uniforms`, SLOT_BYTES * SLOTS, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  }

  /** Record one dispatch. Flushes by itself when the uniform arena is full. */
  dispatch(d: Dispatch): void {
    if (d.uniforms.length * 4 > SLOT_BYTES) throw new EngineError(`${d.label}: too many uniform fields`);
    const [x, y = 1, z = 1] = d.workgroups;
    const maxWg = this.gpu.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new EngineError(`${d.label}: dispatch ${x}x${y}x${z} exceeds ${maxWg} workgroups per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (this.pending.length === SLOTS) this.submit();
    this.pending.push(d);
    this.dispatchCount++;
    this.kernelsSeen.add(d.label);
  }

  /** Encode everything recorded so far as one compute pass and submit it. */
  submit(): void {
    if (this.pending.length === 0) return;
    const gpu = this.gpu;
    gpu.check();
    const device = gpu.device;
    const data = new ArrayBuffer(this.pending.length * SLOT_BYTES);
    const u32 = new Uint32Array(data);
    const i32 = new Int32Array(data);
    const f32 = new Float32Array(data);
    this.pending.forEach((d, i) => {
      const base = (i * SLOT_BYTES) / 4;
      d.uniforms.forEach(([t, v], j) => {
        if (t === 'f32') f32[base + j] = v;
        else if (t === 'i32') i32[base + j] = v;
        else u32[base + j] = v >>> 0;
      });
    });
    device.queue.writeBuffer(this.uniformBuf, 0, data);

    device.pushErrorScope('internal');
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const enc = device.createCommandEncoder({ label: this.label });
    const profiler = gpu.profiler;
    let pass = enc.beginComputePass({ label: this.label });
    this.pending.forEach((d, i) => {
      if (profiler) {
        pass.end();
        pass = enc.beginComputePass({ label: d.label, timestampWrites: profiler.passWrites(i) });
      }
      const entries: GPUBindGroupEntry[] = [
        { binding: 0, resource: { buffer: this.uniformBuf, offset: i * SLOT_BYTES, size: Math.max(16, d.uniforms.length * 4) } },
      ];
      d.bindings.forEach((t, j) => {
        if (t) entries.push({ binding: j + 1, resource: { buffer: t.buffer, offset: t.byteOffset, size: tensorBytes(t) } });
      });
      const bg = device.createBindGroup({ label: d.label, layout: d.pipeline.getBindGroupLayout(0), entries });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, bg);
      const [x, y = 1, z = 1] = d.workgroups;
      pass.dispatchWorkgroups(x, y, z);
    });
    pass.end();
    const afterSubmit = profiler?.collect(
      enc,
      this.pending.map((d) => d.label),
    );
    device.queue.submit([enc.finish()]);
    afterSubmit?.();
    const labels = this.pending.map((d) => d.label);
    const where = `${this.label} (${labels.length} dispatches: ${summarize(labels)})`;
    const scopes = [device.popErrorScope(), device.popErrorScope(), device.popErrorScope()];
    this.errorChecks.push(
      Promise.all(scopes).then((errs) => {
        const e = errs.find((x) => x);
        if (e) throw new GpuCommandError(kindOf(e), where, e.message);
      }),
    );
    this.pending = [];
    this.submitCount++;
  }

  /** Submit what is pending and wait until the GPU has finished it; throws the first GPU error seen. */
  async sync(): Promise<void> {
    this.submit();
    await this.gpu.device.queue.onSubmittedWorkDone();
    const checks = this.errorChecks;
    this.errorChecks = [];
    await Promise.all(checks);
    this.gpu.check();
  }

  destroy(): void {
    this.gpu.destroyBuffer(this.uniformBuf);
  }
}

function summarize(labels: string[]): string {
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([k, v]) => (v > 1 ? `${k} x${v}` : k)).join(', ');
}

/** Workgroup grid for n threads in groups of `wg`, folded into 2D when it exceeds the per-dimension limit. */
export function grid1d(n: number, wg: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/**
 * Threads for a one-workgroup-per-row kernel over rows of `width` elements: about four elements
 * per thread, a power of two between 32 and 256. Narrow rows then don't park hundreds of idle
 * threads at every barrier, and wide rows (a vocabulary) still get a full workgroup.
 */
export function rowThreads(width: number): number {
  const want = Math.ceil(width / 4);
  let t = 32;
  while (t < want && t < 256) t *= 2;
  return t;
}
