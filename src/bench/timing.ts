// Timing for the benchmark. Both engines share one GPUDevice, so the same clock can bracket either:
// an empty compute pass that writes a timestamp is submitted before the work and another after
// it, and the queue's ordering makes their difference the GPU time of everything in between,
// whoever encoded it. Without the timestamp-query feature the wall clock from the first record to
// onSubmittedWorkDone stands in, which also counts the host's encoding time.

import type { Gpu } from '../engine/gpu';

export type TimingMethod = 'gpu-timestamps' | 'wall-clock';

export interface Timed {
  /** Milliseconds by `method`. */
  ms: number;
  /** Wall-clock milliseconds of the same run (always measured). */
  wallMs: number;
  method: TimingMethod;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

const QUERY_RESOLVE = 0x0200;
const COPY_SRC = 0x0004;
const COPY_DST = 0x0008;
const MAP_READ = 0x0001;

export class GpuTimer {
  readonly method: TimingMethod;
  private querySet: GPUQuerySet | null = null;
  private resolveBuf: GPUBuffer | null = null;
  private readBuf: GPUBuffer | null = null;

  constructor(
    readonly gpu: Gpu,
    useTimestamps = gpu.hasTimestamps,
  ) {
    this.method = useTimestamps ? 'gpu-timestamps' : 'wall-clock';
    if (useTimestamps) {
      this.querySet = gpu.device.createQuerySet({ label: 'bench.timer', type: 'timestamp', count: 2 });
      this.resolveBuf = gpu.createBuffer('bench.timer.resolve', 16, QUERY_RESOLVE | COPY_SRC);
      this.readBuf = gpu.createBuffer('bench.timer.read', 16, MAP_READ | COPY_DST);
    }
  }

  /**
   * Time `work`, which records GPU commands and must have submitted all of them when its promise
   * settles (the timer's closing marker is queued behind them).
   */
  async time(work: () => void | Promise<void>): Promise<Timed> {
    const device = this.gpu.device;
    const t0 = performance.now();
    if (this.querySet) this.marker({ querySet: this.querySet, beginningOfPassWriteIndex: 0 });
    await work();
    if (!this.querySet) {
      await device.queue.onSubmittedWorkDone();
      const wallMs = performance.now() - t0;
      return { ms: wallMs, wallMs, method: this.method };
    }
    const enc = device.createCommandEncoder({ label: 'bench.timer.end' });
    enc.beginComputePass({ label: 'bench.timer.end', timestampWrites: { querySet: this.querySet, endOfPassWriteIndex: 1 } }).end();
    enc.resolveQuerySet(this.querySet, 0, 2, this.resolveBuf!, 0);
    enc.copyBufferToBuffer(this.resolveBuf!, 0, this.readBuf!, 0, 16);
    device.queue.submit([enc.finish()]);
    await this.readBuf!.mapAsync(GPUMapMode.READ);
    const wallMs = performance.now() - t0;
    const ts = new BigUint64Array(this.readBuf!.getMappedRange().slice(0));
    this.readBuf!.unmap();
    this.gpu.check();
    // Some drivers quantize or reset the counter; a non-positive span is not a measurement, so the
    // wall clock of the same run is reported instead of a zero that would read as infinite speed.
    const gpuMs = Number(ts[1] - ts[0]) / 1e6;
    if (!(gpuMs > 0) || ts[1] < ts[0]) return { ms: wallMs, wallMs, method: 'wall-clock' };
    return { ms: gpuMs, wallMs, method: this.method };
  }

  private marker(writes: GPUComputePassTimestampWrites) {
    const enc = this.gpu.device.createCommandEncoder({ label: 'bench.timer.begin' });
    enc.beginComputePass({ label: 'bench.timer.begin', timestampWrites: writes }).end();
    this.gpu.device.queue.submit([enc.finish()]);
  }

  destroy(): void {
    this.querySet?.destroy();
    if (this.resolveBuf) this.gpu.destroyBuffer(this.resolveBuf);
    if (this.readBuf) this.gpu.destroyBuffer(this.readBuf);
  }
}

/** Run `once` `warmup` times untimed, then `repeats` times timed; returns every timed sample. */
export async function sample<T>(warmup: number, repeats: number, once: () => Promise<T>): Promise<T[]> {
  for (let i = 0; i < warmup; i++) await once();
  const out: T[] = [];
  for (let i = 0; i < repeats; i++) out.push(await once());
  return out;
}
