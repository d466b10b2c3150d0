// The UI side of the pretrained-model worker: one comlink proxy, created on first use, so the
// transformers.js bundle and its ONNX Runtime files load only when a page asks for a pretrained
// model. The engine worker (src/app/engine-client.ts) is separate: a download or an answer here
// never waits on training there.
import * as Comlink from 'comlink';
import type { PretrainedApi } from './api';

export type Pretrained = Comlink.Remote<PretrainedApi>;

let api: Pretrained | null = null;

export function getPretrained(): Pretrained {
  if (!api) {
    const worker = new Worker(new URL('../../workers/pretrained.worker.ts', import.meta.url), { type: 'module', name: 'pretrained' });
    api = Comlink.wrap<PretrainedApi>(worker);
  }
  return api;
}

/** Replace the worker (tests: an in-process fake with the same calls). */
export function setPretrained(p: Pretrained | PretrainedApi | null): void {
  api = p as Pretrained | null;
}
