// The baselines' WebGPU libraries (TF.js, onnxruntime-web) look for `navigator.gpu` before they
// will run. Node 20 has no navigator and Node 21+ has one without `gpu`. TF.js is handed the
// engine's GPUDevice and never asks for an adapter, so a stand-in that only has to exist will do
// (it says so if anything calls it); onnxruntime-web requests an adapter even when given a device,
// so it gets the GPU instance the engine's device came from (Gpu.source).

const standInGpu = {
  requestAdapter(): never {
    throw new Error("bench: the baselines must use the engine's device; navigator.gpu here is only a stand-in");
  },
};

export function ensureNavigatorGpu(real?: GPU | null): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu && (!real || g.navigator.gpu === real)) return;
  const value = real ?? standInGpu;
  if (g.navigator) {
    Object.defineProperty(g.navigator, 'gpu', { value, configurable: true });
  } else {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: value }, configurable: true, writable: true });
  }
}
