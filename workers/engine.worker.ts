// The engine worker: owns the GPU device and serves the lab (src/lab) to the UI over comlink.
// Everything it keeps lives in the origin private file system (OPFS).
import * as Comlink from 'comlink';
import { Gpu } from '../src/engine/gpu';
import { browserWorkspace } from '../src/io/workspace';
import { createLab } from '../src/lab';
import type { EngineApi } from '../src/lab/api';

const nav = self.navigator as Navigator & { gpu?: GPU };

async function opfs(): Promise<FileSystemDirectoryHandle> {
  if (!nav.storage?.getDirectory) throw new Error('this browser has no origin private file system (navigator.storage.getDirectory)');
  return nav.storage.getDirectory();
}

// The workspace handle is asynchronous; every call waits for it once.
const lab = opfs().then((root) => createLab(browserWorkspace(root, 'browser storage'), () => Gpu.create(nav.gpu)));

const api = new Proxy({} as EngineApi, {
  get:
    (_t, key: string) =>
    async (...args: unknown[]) => {
      const l = await lab;
      const f = (l as unknown as Record<string, (...a: unknown[]) => unknown>)[key];
      if (typeof f !== 'function') throw new Error(`the engine has no call "${key}"`);
      return f(...args);
    },
});

Comlink.expose(api);
