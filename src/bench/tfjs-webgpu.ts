// TensorFlow.js's WebGPU backend on the engine's own GPUDevice, so the baseline runs on the very
// adapter, device and limits the engine measured (in Node: the same Dawn instance).
//
// What tfjs-backend-webgpu needs, read from its dist code:
//  - `globalThis.navigator.gpu` to be truthy: the WebGPUBackend constructor throws without it, and
//    the package's own 'webgpu' backend factory is only registered when it is present at import.
//    Node 20 has no navigator and Node 21+ has one without `gpu`, so a stand-in is installed. The
//    factory below never calls it (the device is passed in), so it only has to say what it is.
//  - its kernels are registered under the backend name 'webgpu'; a backend registered under any
//    other name finds none. So the package's factory (which would request a second device) is
//    replaced by one that wraps ours.
//  - gradients: the Node builds of tfjs-core carry no gradient functions (the full @tensorflow/tfjs
//    package registers them), so '@tensorflow/tfjs-core/dist/register_all_gradients' is imported.
//    It is an ES-module copy of core's internals, which share the engine and registries with the
//    CommonJS copy through tfjs's global namespace, as tfjs designs for multiple copies.
//  - it reads timestamp-query from device.features (ours requests it when the adapter has it) and
//    never destroys the device on dispose.

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { Gpu } from '../engine/gpu';
import { ensureNavigatorGpu } from './navigator-gpu';

export type Tf = typeof tf;

export interface TfjsWebgpu {
  tf: Tf;
  backend: WebGPUBackend;
  /** Submit every command tfjs has recorded but not yet sent (it batches dispatches). */
  flush(): void;
  /** Dispose tfjs's backend (its buffers); the shared device stays alive. */
  dispose(): void;
}

let active: { gpu: Gpu; handle: TfjsWebgpu } | null = null;

/** Make tfjs's current backend a WebGPUBackend on `gpu.device`. One Gpu at a time per process. */
export async function initTfjsWebgpu(gpu: Gpu): Promise<TfjsWebgpu> {
  if (active?.gpu === gpu && tf.getBackend() === 'webgpu') return active.handle;
  ensureNavigatorGpu();
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  const info = { vendor: gpu.info.vendor, architecture: gpu.info.architecture, description: gpu.info.description, device: '' };
  let backend: WebGPUBackend | null = null;
  tf.registerBackend('webgpu', () => (backend = new WebGPUBackend(gpu.device, info as unknown as GPUAdapterInfo)), 10);
  if (!(await tf.setBackend('webgpu')) || !backend) {
    throw new Error("bench: tfjs could not start its WebGPU backend on the engine's device");
  }
  await tf.ready();
  const b = backend as WebGPUBackend;
  const handle: TfjsWebgpu = {
    tf,
    backend: b,
    flush() {
      // tfjs submits every WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches or on readback; a timed
      // region must end with everything it recorded actually on the queue.
      const bb = b as unknown as { commandEncoder: GPUCommandEncoder | null; endComputePassEncoder(): void; submitQueue(): void };
      if (bb.commandEncoder) {
        bb.endComputePassEncoder();
        bb.submitQueue();
      }
    },
    dispose() {
      if (active?.handle === handle) active = null;
      tf.removeBackend('webgpu');
    },
  };
  active = { gpu, handle };
  return handle;
}

/**
 * tfjs never checks its GPU commands: a pipeline the device rejects (say, one binding more storage
 * buffers than the adapter allows) is skipped silently and would time as fast, wrong work. The
 * shared device's uncaptured errors are collected by Gpu, so any of them fails the measurement.
 */
export async function settled(gpu: Gpu): Promise<void> {
  await gpu.device.queue.onSubmittedWorkDone();
  // One rejected pipeline queues several errors (pipeline, bind group, pass, submit); drain them
  // all so the next measurement starts clean, and report the first, which names the cause.
  const seen: string[] = [];
  for (let i = 0; i < 64; i++) {
    try {
      gpu.check();
      break;
    } catch (e) {
      seen.push(e instanceof Error ? e.message : String(e));
      if (gpu.lostError) break;
    }
  }
  if (seen.length) throw new Error(seen.length > 1 ? `${seen[0]} (and ${seen.length - 1} follow-on GPU errors)` : seen[0]);
}
