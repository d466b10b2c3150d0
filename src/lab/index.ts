// The lab: EngineApi (src/lab/api.ts) over a workspace and a GPU. The browser worker
// (workers/engine.worker.ts) serves it over comlink with the OPFS workspace; Node tests build it
// on a folder or in memory. Each concern lives in its own module and contributes its calls.
import type { Gpu } from '../engine/gpu';
import type { Workspace } from '../io/workspace';
import type { EngineApi } from './api';
import { LabContext } from './context';
import type { LockManagerLike } from './locks';
import { dataApi } from './data';
import { modelsApi } from './models';
import { runsApi } from './runs';
import { evalApi } from './evaluate';
import { basicsApi } from './basics';

/** `o.locks`: the lock manager of the storage's origin (tests pass one client per simulated tab; see locks.ts). */
export function createLab(ws: Workspace, makeGpu: () => Promise<Gpu>, o: { locks?: LockManagerLike } = {}): EngineApi & { context: LabContext } {
  const ctx = new LabContext(ws, makeGpu, o.locks);
  return { context: ctx, ...basicsApi(ctx), ...dataApi(ctx), ...modelsApi(ctx), ...runsApi(ctx), ...evalApi(ctx) };
}
