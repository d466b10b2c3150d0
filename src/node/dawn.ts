// WebGPU in Node through Dawn (the `webgpu` npm package). On machines without a GPU, Dawn runs on
// SwiftShader, the CPU Vulkan driver that ships inside Debian's chromium package; on a GPU server,
// point VK_ICD_FILENAMES / VK_DRIVER_FILES at the vendor's Vulkan ICD instead.

import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { Gpu, type GpuOptions } from '../engine/gpu';
import { NoWebGPUError } from '../engine/errors';

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
  let gpu: Gpu;
  try {
    gpu = await Gpu.create(instance, { noAdapterHint: noAdapterHint(icd, null), ...opts });
  } catch (e) {
    // Without the loader Dawn reaches no driver at all, whatever the ICD file says.
    const loader = e instanceof NoWebGPUError && process.platform === 'linux' ? vulkanLoaderProblem() : null;
    if (loader) throw new NoWebGPUError(`No WebGPU adapter was found: ${noAdapterHint(icd, loader)}.`);
    throw e;
  }
  if (gpu.info.cpu) gpu.memoryBytes = totalmem();
  return gpu;
}

/** What to check when Dawn finds no adapter: the ICD named (if any), or why the Vulkan loader could not be loaded. */
export function noAdapterHint(icd: string | undefined, loaderProblem: string | null): string {
  if (loaderProblem) {
    return (
      `the Vulkan loader libvulkan.so.1, which Dawn opens to reach any Vulkan driver, could not be loaded (${loaderProblem}): install it ` +
      '(Debian/Ubuntu: apt-get install libvulkan1; Fedora: dnf install vulkan-loader), or run npm test once, which does'
    );
  }
  return icd
    ? `Dawn found no Vulkan device through ${icd}: check that the file exists and names a driver installed here`
    : 'no Vulkan driver was named and SwiftShader is not installed: install chromium (it ships SwiftShader) or set ' +
        "VK_ICD_FILENAMES to your GPU vendor's Vulkan ICD json";
}

/**
 * Why libvulkan.so.1 cannot be loaded, or null when it can: opened the way Dawn opens it (by name,
 * through the dynamic linker's search). It is no Node module, so a load that works ends in "did
 * not self-register".
 */
export function vulkanLoaderProblem(open: (name: string) => void = (name) => process.dlopen({ exports: {} } as NodeJS.Module, name)): string | null {
  try {
    open('libvulkan.so.1');
    return null;
  } catch (e) {
    const msg = (e as Error).message;
    return /did not self-register/.test(msg) ? null : msg;
  }
}
