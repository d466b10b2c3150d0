// Per-kernel GPU time, for finding where a step's time goes (`thinker sft|grpo --profile`, the
// bench's breakdowns, or `gpu.profiler = new KernelProfiler(gpu)`). While a profiler is set, the CommandStream encodes every
// dispatch in its own compute pass with timestamp writes, so the totals are GPU time per kernel
// label. It changes nothing the kernels compute; it does cost a pass per dispatch, so never leave
// it on for a measurement that is not about kernels.
import type { Gpu } from './gpu';

export interface KernelTime {
  label: string;
  calls: number;
  ms: number;
}

const MAX_QUERIES = 4096; // two per dispatch; a CommandStream submits at most 2048 dispatches

export class KernelProfiler {
  private readonly totals = new Map<string, { calls: number; ns: number }>();
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuf: GPUBuffer;
  private pendingReads: Promise<void>[] = [];

  constructor(readonly gpu: Gpu) {
    if (!gpu.hasTimestamps) throw new Error('the kernel profiler needs the timestamp-query feature, which this adapter lacks');
    this.querySet = gpu.device.createQuerySet({ label: 'profiler', type: 'timestamp', count: MAX_QUERIES });
    this.resolveBuf = gpu.device.createBuffer({
      label: 'profiler.resolve',
      size: MAX_QUERIES * 8,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Timestamp writes for the i-th dispatch of a submission. */
  passWrites(i: number): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /**
   * After the passes of one submission are encoded: copy their timestamps out. Returns what to call
   * once that submission is on the queue (it maps the copy and adds it up).
   */
  collect(enc: GPUCommandEncoder, labels: string[]): () => void {
    const n = labels.length * 2;
    const read = this.gpu.device.createBuffer({ label: 'profiler.read', size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.resolveQuerySet(this.querySet, 0, n, this.resolveBuf, 0);
    enc.copyBufferToBuffer(this.resolveBuf, 0, read, 0, n * 8);
    return () => {
      this.pendingReads.push(
        read.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigUint64Array(read.getMappedRange());
          labels.forEach((label, i) => {
            const e = this.totals.get(label) ?? { calls: 0, ns: 0 };
            e.calls++;
            e.ns += Number(t[2 * i + 1] - t[2 * i]);
            this.totals.set(label, e);
          });
          read.unmap();
          read.destroy();
        }),
      );
    };
  }

  /** Totals so far, largest first (waits for outstanding reads). */
  async report(): Promise<KernelTime[]> {
    await new Promise((r) => setTimeout(r, 0));
    await Promise.all(this.pendingReads);
    this.pendingReads = [];
    return [...this.totals].map(([label, v]) => ({ label, calls: v.calls, ms: v.ns / 1e6 })).sort((a, b) => b.ms - a.ms);
  }

  reset(): void {
    this.totals.clear();
  }
}

export function formatKernelTimes(rows: KernelTime[]): string {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  return (
    rows
      .map((r) => `${r.ms.toFixed(1).padStart(10)} ms ${((100 * r.ms) / total).toFixed(1).padStart(5)}% ${String(r.calls).padStart(6)}x  ${r.label}`)
      .join('\n') + `\n${total.toFixed(1).padStart(10)} ms total`
  );
}
