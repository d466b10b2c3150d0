// The device layer: one Gpu object owns the adapter, the device, the pipeline cache and the
// list of live buffers. Everything else in the engine asks it for pipelines and buffers, so
// there is one place to see what the GPU holds and one place where device loss is noticed.

import type { KernelProfiler } from './profile';
import { DeviceLostError, GpuCommandError, NoWebGPUError } from './errors';

/** Features the engine can use when present; none is assumed. */
const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as GPUFeatureName[];

/** Limits the engine raises to the adapter's real values (the WebGPU defaults are far smaller). */
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export interface GpuInfo {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation of WebGPU (SwiftShader, llvmpipe, a browser's fallback adapter). */
  cpu: boolean;
  features: string[];
  limits: Record<string, number>;
  /** Lanes per subgroup the adapter may use ([min, max]; 4 on SwiftShader, 32 on NVIDIA), when it has `subgroups` and says. */
  subgroupSizes?: [number, number];
}

/** "subgroups of 4 lanes" / "subgroups of 16-64 lanes", or null without them: the bench header and the Lab's GPU details say it alike. */
export function subgroupWords(info: Pick<GpuInfo, 'subgroupSizes'>): string | null {
  if (!info.subgroupSizes) return null;
  const [lo, hi] = info.subgroupSizes;
  return `subgroups of ${lo === hi ? lo : `${lo}-${hi}`} lanes`;
}

/** Gpu.kvF16's default on this adapter (why: the field's comment); the Lab's GPU details say it too. */
export const kvF16ByDefault = (info: Pick<GpuInfo, 'cpu'>) => !info.cpu;

const CPU_ADAPTER = /swiftshader|llvmpipe|lavapipe|software/i;

const BROWSER_NO_ADAPTER_HINT =
  'the GPU may be blocklisted or its driver too old: see chrome://gpu; on Linux, start Chrome with ' + '--enable-unsafe-webgpu --enable-features=Vulkan';

export interface GpuOptions {
  powerPreference?: GPUPowerPreference;
  /** Pass false to ignore features even when present (tests of the fallback paths). */
  useOptionalFeatures?: boolean;
  /** What to check when no adapter is found, in this host's terms (the browser's by default). */
  noAdapterHint?: string;
}

export class Gpu {
  readonly features: ReadonlySet<string>;
  readonly limits: Readonly<Record<string, number>>;
  /** Set once the device is lost; every later use throws it. */
  lostError: DeviceLostError | null = null;
  /**
   * Run the one-thread-per-row variants of the row kernels (attention, log-probs, RMSNorm,
   * sampling) and the barrier-free matmul. CPU adapters emulate workgroup barriers by switching
   * between invocations, which makes the workgroup kernels 5-40x slower there; GPUs want the
   * workgroup kernels. Defaults to info.cpu; tests set it to check both paths.
   */
  rowKernels: boolean;
  /**
   * Workgroup reductions (groupSum / groupMax, shaders/lib/) with subgroup operations: two barriers
   * per reduction instead of log2(workgroup size) + 1. On when the device has `subgroups`; tests
   * turn it off to check the barrier trees on the same device.
   */
  subgroupReductions: boolean;
  /**
   * Generation keeps its KV cache in f16 unless asked otherwise (GenerateOptions.kvCache): half the
   * memory, and half the cache bytes each decoded token reads, which is what bounds decoding at
   * GRPO's batch on a GPU. Off on CPU adapters: there the cache is in RAM and decoding is bound by
   * dispatches and the matmul, so f16 measured no faster on SwiftShader (micro at batch 1 and 64, both
   * kernel paths, README "Benchmarks"), and f32 keeps their results those of every run documented.
   * Tests set it to check both.
   */
  kvF16: boolean;
  /** When set, every dispatch is timed on the GPU (src/engine/profile.ts). */
  profiler: KernelProfiler | null = null;
  /**
   * Memory the adapter can use, when the host knows it (WebGPU does not say): a CPU adapter works
   * in the machine's RAM, which src/node/dawn.ts fills in. Null for a GPU.
   */
  memoryBytes: number | null = null;
  private pipelines = new Map<string, GPUComputePipeline>();
  private modules = new Map<string, GPUShaderModule>();
  private live = new Map<GPUBuffer, { label: string; bytes: number }>();
  private uncaptured: GpuCommandError[] = [];

  /**
   * The navigator.gpu this device came from, kept referenced (Dawn aborts if it is collected first),
   * and handed to a library that insists on asking it for an adapter (the bench's ORT WebGPU baseline).
   */
  source: GPU | null = null;

  private constructor(
    readonly device: GPUDevice,
    readonly info: GpuInfo,
  ) {
    this.features = new Set(device.features as unknown as Iterable<string>);
    const limits: Record<string, number> = {};
    for (const k in device.limits) limits[k] = (device.limits as unknown as Record<string, number>)[k];
    this.limits = limits;
    this.rowKernels = info.cpu;
    this.subgroupReductions = this.features.has('subgroups');
    this.kvF16 = kvF16ByDefault(info);
    device.lost.then((l) => {
      if (l.reason !== 'destroyed') this.lostError = new DeviceLostError(String(l.reason), l.message);
    });
    device.addEventListener?.('uncapturederror', (ev: Event) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.uncaptured.push(new GpuCommandError(kindOf(e), 'an uncaptured GPU operation', e.message));
    });
  }

  /** Acquire an adapter and a device with the adapter's real limits and whatever optional features it has. */
  static async create(gpu: GPU | undefined, opts: GpuOptions = {}): Promise<Gpu> {
    if (!gpu) {
      throw new NoWebGPUError(
        'WebGPU is not available here (navigator.gpu is missing). Use a recent Chrome, Edge or ' +
          'Safari 26+, or Firefox 141+; on Linux Chrome needs --enable-unsafe-webgpu. Pages must be served over https or localhost.',
      );
    }
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!adapter) {
      throw new NoWebGPUError(`No WebGPU adapter was found: WebGPU is here but no usable GPU driver (${opts.noAdapterHint ?? BROWSER_NO_ADAPTER_HINT}).`);
    }
    const features = (opts.useOptionalFeatures ?? true) ? OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) : [];
    const requiredLimits: Record<string, number> = {};
    for (const k of RAISED_LIMITS) {
      const v = (adapter.limits as unknown as Record<string, number>)[k];
      if (typeof v === 'number') requiredLimits[k] = v;
    }
    const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
    const ai = adapter.info ?? ({} as GPUAdapterInfo);
    const fallback = (ai as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
    const info: GpuInfo = {
      vendor: ai.vendor ?? '',
      architecture: ai.architecture ?? '',
      description: ai.description ?? '',
      cpu: fallback || CPU_ADAPTER.test(`${ai.architecture} ${ai.description}`),
      features: [...(device.features as unknown as Iterable<string>)].sort(),
      limits: {},
    };
    const sg = ai as { subgroupMinSize?: number; subgroupMaxSize?: number };
    if (info.features.includes('subgroups') && sg.subgroupMinSize && sg.subgroupMaxSize) info.subgroupSizes = [sg.subgroupMinSize, sg.subgroupMaxSize];
    const g = new Gpu(device, info);
    g.source = gpu;
    info.limits = { ...g.limits };
    return g;
  }

  get hasF16() {
    return this.features.has('shader-f16');
  }
  get hasSubgroups() {
    return this.features.has('subgroups');
  }
  get hasTimestamps() {
    return this.features.has('timestamp-query');
  }
  /** Largest single buffer / storage binding the engine may allocate. */
  get maxBindingBytes() {
    return Math.min(this.limits.maxBufferSize, this.limits.maxStorageBufferBindingSize);
  }

  /** Throws if the device was lost or an uncaptured error was seen since the last check. */
  check(): void {
    if (this.lostError) throw this.lostError;
    const e = this.uncaptured.shift();
    if (e) throw e;
  }

  /**
   * A compute pipeline for `entry` in `code`, compiled once and cached. `constants` are WGSL
   * `override` values (workgroup sizes, tile shapes): kernel parameters stay in the .wgsl file
   * instead of being spliced into strings.
   */
  pipeline(name: string, code: string, entry: string, constants: Record<string, number> = {}): GPUComputePipeline {
    const ckeys = Object.keys(constants).sort();
    const key = `${name}|${entry}|${ckeys.map((k) => `${k}=${constants[k]}`).join(',')}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    let module = this.modules.get(name);
    if (!module) {
      module = this.device.createShaderModule({ label: name, code });
      this.modules.set(name, module);
    }
    p = this.device.createComputePipeline({
      label: `${name}:${entry}`,
      layout: 'auto',
      compute: { module, entryPoint: entry, constants },
    });
    this.pipelines.set(key, p);
    return p;
  }

  /** Compile every entry point named, surfacing WGSL compile errors with the file name. */
  async compileCheck(name: string, code: string, entries: string[], constants: Record<string, number> = {}) {
    this.device.pushErrorScope('validation');
    for (const e of entries) this.pipeline(name, code, e, constants);
    const err = await this.device.popErrorScope();
    if (err) throw new GpuCommandError('validation', `shader ${name}`, err.message);
  }

  /** Every GPU buffer is made here, so `liveBytes` is the truth about GPU memory held. */
  createBuffer(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    this.check();
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    const buf = this.device.createBuffer({ label, size, usage });
    this.live.set(buf, { label, bytes: size });
    return buf;
  }

  destroyBuffer(buf: GPUBuffer): void {
    if (this.live.delete(buf)) buf.destroy();
  }

  get liveBytes(): number {
    let n = 0;
    for (const v of this.live.values()) n += v.bytes;
    return n;
  }

  liveBuffers(): { label: string; bytes: number }[] {
    return [...this.live.values()];
  }

  destroy(): void {
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.device.destroy();
  }
}

export function kindOf(e: GPUError): 'validation' | 'out-of-memory' | 'internal' {
  const n = e.constructor?.name ?? '';
  if (n.includes('OutOfMemory')) return 'out-of-memory';
  if (n.includes('Internal')) return 'internal';
  return 'validation';
}
