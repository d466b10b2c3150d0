// WebGPU in Node through Dawn (the `webgpu` npm package). On machines without a GPU, Dawn runs on
// SwiftShader, the CPU Vulkan driver that ships inside Debian's chromium package; on a GPU server,
// point VK_ICD_FILENAMES / VK_DRIVER_FILES at the vendor's Vulkan ICD instead.

import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { Gpu, type GpuOptions } from '../engine/gpu';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let dawn: { create: (flags: string[]) => GPU; globals: Record<string, unknown> } | null = null;
/**
 * One Dawn instance per process, kept referenced for the process's life: if the instance is
 * garbage-collected while a device is alive, Dawn's event processing aborts the whole process.
 */
let instance: GPU | null = null;

/** A Gpu on Dawn. Picks SwiftShader when no Vulkan driver was named and it is installed. */
export async function createNodeGpu(opts: GpuOptions = {}): Promise<Gpu> {
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD)) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  // The Vulkan loader complains on every start when this is unset; any writable dir silences it.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  if (!dawn) {
    try {
      dawn = (await import('webgpu')) as unknown as typeof dawn;
    } catch (e) {
      throw new Error(`Could not load Dawn for Node (the 'webgpu' package): ${(e as Error).message}`);
    }
    Object.assign(globalThis, dawn!.globals);
  }
  instance ??= dawn!.create([]);
  const icd = process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES;
  const noAdapterHint = icd
    ? `Dawn found no Vulkan device through ${icd}: check that the file exists and names a driver installed here`
    : 'no Vulkan driver was named and SwiftShader is not installed: install chromium (it ships SwiftShader) or set ' +
      'VK_ICD_FILENAMES to your GPU vendor\'s Vulkan ICD json';
  const gpu = await Gpu.create(instance, { noAdapterHint, ...opts });
  if (gpu.info.cpu) gpu.memoryBytes = totalmem();
  return gpu;
}
