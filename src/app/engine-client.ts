// The UI side of the worker API: one comlink proxy to the engine worker. Stores reach the engine
// only through getEngine(), so tests can put a fake engine in its place (setEngine).
import * as Comlink from 'comlink';
import type { EngineApi } from '../lab/api';

export type Engine = Comlink.Remote<EngineApi>;

let engine: Engine | null = null;

export function getEngine(): Engine {
  if (!engine) {
    const worker = new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'engine' });
    engine = Comlink.wrap<EngineApi>(worker);
  }
  return engine;
}

/** Replace the engine (tests: an in-process fake with the same calls). */
export function setEngine(e: Engine | EngineApi | null): void {
  engine = e as Engine | null;
}

/** Wrap a callback for the worker: comlink proxies it instead of trying to clone a function. */
export const callback = <T extends (...args: never[]) => unknown>(fn: T) => Comlink.proxy(fn);

export { Comlink };
