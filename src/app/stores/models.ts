// Saved models and run checkpoints, and the "current" model the Evaluate, Ask and Data pages use
// (and whose memory need the header shows).
import { create } from 'zustand';
import type { ModelInfo, RunInfo, RunKind } from '../../lab/api';
import { getEngine } from '../engine-client';
import { attempt, useJobs } from './jobs';
import { useSession } from './session';

interface ModelsState {
  models: ModelInfo[];
  loaded: boolean;
  current: string | null;
  /** The user picked the current model; until then it follows the newest model as runs add checkpoints. */
  chosen: boolean;
  refresh(): Promise<void>;
  setCurrent(path: string | null): void;
  save(from: string, name: string): Promise<ModelInfo | undefined>;
  remove(path: string): Promise<void>;
  /** True when the folder was written (a failure is an alert already). */
  exportTo(path: string, to: FileSystemDirectoryHandle): Promise<boolean>;
  importFrom(name: string, from: FileSystemDirectoryHandle | File[]): Promise<ModelInfo | undefined>;
}

/**
 * Run checkpoints, newest first: the run updated last first (the engine lists runs in storage
 * order, which says nothing about age), and within a run the highest step first.
 */
export function newestCheckpoints(models: readonly ModelInfo[], runs: readonly Pick<RunInfo, 'name' | 'updatedAt'>[], kind?: RunKind): ModelInfo[] {
  const updated = new Map(runs.map((r) => [r.name, r.updatedAt]));
  return models
    .filter((m) => m.run && (!kind || m.run.kind === kind))
    .sort((a, b) => (updated.get(b.run!.name) ?? '').localeCompare(updated.get(a.run!.name) ?? '') || b.run!.step - a.run!.step);
}

/** The current model stays when it still exists; else the newest saved model, else the newest checkpoint. */
export function pickCurrent(models: ModelInfo[], current: string | null, runs: readonly Pick<RunInfo, 'name' | 'updatedAt'>[] = []): string | null {
  if (current && models.some((m) => m.path === current)) return current;
  const saved = models.filter((m) => !m.run);
  if (saved.length) return saved[saved.length - 1].path;
  return newestCheckpoints(models, runs)[0]?.path ?? null;
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
  chosen: false,

  async refresh() {
    const models = await attempt(() => getEngine().listModels());
    if (!models) return;
    // Only to order checkpoints by age: without it they keep the engine's order, no alert needed.
    const runs = await getEngine()
      .listRuns()
      .catch(() => []);
    const { current, chosen } = get();
    set({ models, loaded: true, current: pickCurrent(models, chosen ? current : null, runs) });
  },

  setCurrent(path) {
    set({ current: path, chosen: path !== null });
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
    const done = await useJobs.getState().run({ kind: 'model', label: `Exporting ${path}` }, async () => {
      await getEngine().exportModel(path, to);
      return true;
    });
    return done === true;
  },

  async importFrom(name, from) {
    const info = await useJobs.getState().run({ kind: 'model', label: `Importing a model as models/${name}` }, () => getEngine().importModel(name, from));
    await get().refresh();
    void useSession.getState().refreshStorage();
    return info;
  },
}));
