// The pretrained-model worker: transformers.js (ONNX Runtime Web, WebGPU or WASM) behind
// PretrainedApi (src/pretrained/api.ts), in a worker of its own beside the engine worker.
// Downloads are kept in the Cache API; datasets are read from (and kept traces written to) the
// same origin-private workspace the engine worker uses.
//
// ONNX Runtime's WASM module is served by the lab itself: the files are imported as assets, so the
// build copies them next to the app and `wasmPaths` points at them; no CDN is ever contacted (the
// build also strips transformers.js's CDN default, and the site's CSP would refuse one). They are
// the files of the onnxruntime-web transformers.js resolves, wherever npm put it ("ort-of-transformers/"
// is aliased in vite.config.ts). transformers.js's WebGPU build of ONNX Runtime loads the "asyncify" variant.
import * as Comlink from 'comlink';
import ortWasm from 'ort-of-transformers/ort-wasm-simd-threaded.asyncify.wasm?url';
import ortMjs from 'ort-of-transformers/ort-wasm-simd-threaded.asyncify.mjs?url';
import { browserWorkspace } from '../src/io/workspace';
import { PretrainedBackend } from '../src/pretrained/backend';
import { browserCacheStore } from '../src/pretrained/cache';
import { createPretrainedService } from '../src/pretrained/service';
import type { AdapterView, PretrainedApi } from '../src/pretrained/api';

const nav = self.navigator as Navigator & { gpu?: GPU; deviceMemory?: number };

async function adapterView(): Promise<AdapterView> {
  const memoryBytes = typeof nav.deviceMemory === 'number' ? nav.deviceMemory * 2 ** 30 : null;
  const adapter = nav.gpu ? await nav.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null) : null;
  if (!adapter) return { webgpu: null, memoryBytes, device: 'wasm' };
  const info = adapter.info;
  return {
    webgpu: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      description: info?.description ?? '',
      features: [...(adapter.features as unknown as Iterable<string>)].sort(),
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    },
    memoryBytes,
    device: 'webgpu',
  };
}

const service = (async () => {
  const adapter = await adapterView();
  const root = nav.storage?.getDirectory ? await nav.storage.getDirectory().catch(() => null) : null;
  const store = typeof caches !== 'undefined' ? browserCacheStore() : null;
  const abs = (u: string) => new URL(u, self.location.href).href;
  const backend = new PretrainedBackend({
    store,
    wasmPaths: { mjs: abs(ortMjs), wasm: abs(ortWasm) },
    adapter: adapter.webgpu ? { features: adapter.webgpu.features, limits: adapter.webgpu } : null,
    memoryBytes: adapter.memoryBytes ?? undefined,
    defaultDevice: adapter.device,
  });
  return createPretrainedService({ backend, store, adapter, workspace: root ? browserWorkspace(root, 'browser storage') : null });
})();

const api = new Proxy({} as PretrainedApi, {
  get:
    (_t, key: string) =>
    async (...args: unknown[]) => {
      const s = await service;
      const f = (s as unknown as Record<string, (...a: unknown[]) => unknown>)[key];
      if (typeof f !== 'function') throw new Error(`the pretrained worker has no call "${key}"`);
      return f(...args);
    },
});

Comlink.expose(api);
