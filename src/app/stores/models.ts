// Saved models and run checkpoints, and the "current" model the Evaluate, Ask and Data pages use
// (and whose memory need the header shows).
import { create } from 'zustand';
import type { ModelInfo } from '../../../workers/api';
import { getEngine } from '../engine-client';
import { attempt, useJobs } from './jobs';
import { useSession } from './session';

interface ModelsState {
  models: ModelInfo[];
  loaded: boolean;
  current: string | null;
  refresh(): Promise<void>;
  setCurrent(path: string | null): void;
  save(from: string, name: string): Promise<ModelInfo | undefined>;
  remove(path: string): Promise<void>;
  exportTo(path: string, to: FileSystemDirectoryHandle): Promise<void>;
  importFrom(name: string, from: FileSystemDirectoryHandle | File[]): Promise<ModelInfo | undefined>;
}

/** The current model stays when it still exists; else the newest saved model, else the newest checkpoint. */
export function pickCurrent(models: ModelInfo[], current: string | null): string | null {
  if (current && models.some((m) => m.path === current)) return current;
  const saved = models.filter((m) => !m.run);
  if (saved.length) return saved[saved.length - 1].path;
  const ckpts = models.filter((m) => m.run);
  return ckpts.length ? ckpts[ckpts.length - 1].path : null;
}

/** How a model is named in pickers: "models/x" -> "x"; checkpoints by run and step. */
export function modelLabel(m: Pick<ModelInfo, 'path' | 'run'>): string {
  if (m.run) return `${m.run.name} · ${m.run.kind.toUpperCase()} step ${m.run.step}`;
  return m.path.replace(/^models\//, '');
}

export const useModels = create<ModelsState>()((set, get) => ({
  models: [],
  loaded: false,
  current: null,

  async refresh() {
    const models = await attempt(() => getEngine().listModels());
    if (!models) return;
    set({ models, loaded: true, current: pickCurrent(models, get().current) });
  },

  setCurrent(path) {
    set({ current: path });
  },

  async save(from, name) {
    const info = await useJobs.getState().run({ kind: 'model', label: `Saving ${from} as models/${name}` }, () => getEngine().saveModel(from, name));
    await get().refresh();
    void useSession.getState().refreshStorage();
    return info;
  },

  async remove(path) {
    await attempt(() => getEngine().deleteModel(path));
    await get().refresh();
    void useSession.getState().refreshStorage();
  },

  async exportTo(path, to) {
    await useJobs.getState().run({ kind: 'model', label: `Exporting ${path}` }, () => getEngine().exportModel(path, to));
  },

  async importFrom(name, from) {
    const info = await useJobs.getState().run({ kind: 'model', label: `Importing a model as models/${name}` }, () => getEngine().importModel(name, from));
    await get().refresh();
    void useSession.getState().refreshStorage();
    return info;
  },
}));
