// The GPU session: whether WebGPU is there, the adapter the engine got, and the origin's storage.
import { create } from 'zustand';
import type { GpuInfo } from '../../engine/gpu';
import { getEngine } from '../engine-client';
import { errorMessage } from '../lib/errors';
import { missingWebGpu } from '../lib/webgpu';

export type GpuStatus = 'idle' | 'checking' | 'ready' | 'unavailable';

interface SessionState {
  status: GpuStatus;
  info: GpuInfo | null;
  /** Why the lab cannot run here (no WebGPU, no adapter). */
  problem: string | null;
  storage: { usage: number; quota: number } | null;
  /** Check navigator.gpu, then start the engine and acquire the device. */
  start(nav?: unknown): Promise<void>;
  refreshStorage(): Promise<void>;
}

export const useSession = create<SessionState>()((set, get) => ({
  status: 'idle',
  info: null,
  problem: null,
  storage: null,

  async start(nav = typeof navigator !== 'undefined' ? navigator : undefined) {
    if (get().status === 'checking' || get().status === 'ready') return;
    // No worker is started without WebGPU: the explanation page needs nothing from it.
    const missing = missingWebGpu(nav);
    if (missing) {
      set({ status: 'unavailable', problem: missing });
      return;
    }
    set({ status: 'checking', problem: null });
    try {
      const info = await getEngine().init();
      set({ status: 'ready', info });
      void get().refreshStorage();
    } catch (e) {
      set({ status: 'unavailable', problem: errorMessage(e) });
    }
  },

  async refreshStorage() {
    try {
      set({ storage: await getEngine().storage() });
    } catch {
      // Storage figures are informational; the header shows nothing rather than an alert.
    }
  },
}));

/** The adapter's name as people know it: vendor, architecture, description (whatever is given). */
export function adapterName(info: GpuInfo): string {
  const parts = [info.vendor, info.architecture, info.description].filter((s) => s?.trim());
  return parts.length ? [...new Set(parts)].join(' · ') : 'unnamed adapter';
}
