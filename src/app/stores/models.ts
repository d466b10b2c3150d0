// Saved models and run checkpoints, and the "current" model the Evaluate, Ask and Data pages use
// (and whose memory need the header shows).
import { create } from 'zustand';
import { DEFAULT_HUB_MODEL, type DownloadModelRequest, type ModelInfo, type RunInfo, type RunKind } from '../../lab/api';
import { callback, getEngine } from '../engine-client';
import { nameProblem } from '../lib/names';
import { attempt, useJobs } from './jobs';
import { loadProblem } from './pretrained';
import { useSession } from './session';

/** The Models page's "Download from the Hugging Face Hub" form, as typed. */
export interface HubForm {
  repo: string;
  /** Empty: the repository's name. */
  name: string;
  /** Empty: main. */
  revision: string;
  /** Empty: https://huggingface.co. */
  endpoint: string;
  /** For gated or private models; kept in this tab's memory only, sent only to the endpoint. */
  token: string;
}

export const DEFAULT_HUB_FORM: HubForm = { repo: DEFAULT_HUB_MODEL, name: '', revision: '', endpoint: '', token: '' };

/** The name a download gets: the one typed, else the repository's ("owner/name" -> "name"). */
export function hubModelName(f: Pick<HubForm, 'repo' | 'name'>): string {
  const repo = f.repo.trim();
  return f.name.trim() || repo.slice(repo.lastIndexOf('/') + 1);
}

/** What keeps the form from being sent (the engine checks again), or null. `taken`: saved models' names. */
export function hubFormProblem(f: HubForm, taken: readonly string[]): string | null {
  const rev = f.revision.trim();
  return (
    loadProblem(f.repo, f.endpoint) ??
    (rev && (/[/\\?#\s]/.test(rev) || rev === '.' || rev === '..') ? `"${rev}" is not a branch, tag or commit name` : null) ??
    nameProblem(hubModelName(f), taken)
  );
}

/** The request for the engine: only what was typed. */
export function downloadRequest(f: HubForm): DownloadModelRequest {
  const t = (s: string) => s.trim();
  return {
    repo: t(f.repo),
    ...(t(f.name) ? { name: t(f.name) } : {}),
    ...(t(f.revision) ? { revision: t(f.revision) } : {}),
    ...(t(f.endpoint) ? { endpoint: t(f.endpoint) } : {}),
    ...(t(f.token) ? { token: t(f.token) } : {}),
  };
}

/** Names of the saved models (models/NAME), which a new one may not take. */
export const savedNames = (models: readonly ModelInfo[]) => models.filter((m) => !m.run).map((m) => m.path.replace(/^models\//, ''));

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
  hub: HubForm;
  setHub(patch: Partial<HubForm>): void;
  /** The model the last download brought, for the form's notice until the form is edited. */
  downloaded: ModelInfo | null;
  /** Download the form's repository (engine downloadModel) as a job with progress and Cancel. */
  download(): Promise<ModelInfo | undefined>;
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
  hub: DEFAULT_HUB_FORM,
  downloaded: null,

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

  setHub(patch) {
    // An edited form is a new download: the last one's notice goes.
    set({ hub: { ...get().hub, ...patch }, downloaded: null });
  },

  async download() {
    const form = get().hub;
    const problem = hubFormProblem(form, savedNames(get().models));
    if (problem) {
      useJobs.getState().alert(problem, 'error', 'models');
      return undefined;
    }
    const req = downloadRequest(form);
    const info = await useJobs
      .getState()
      .run({ kind: 'download', label: `Downloading ${req.repo} as models/${hubModelName(form)}`, cancel: () => getEngine().cancel() }, (report) =>
        getEngine().downloadModel(req, callback(report)),
      );
    if (info) {
      set({ downloaded: info, hub: { ...get().hub, name: '' } });
      // An earlier try's error ("cut after ..., run again to resume") or cancel note is answered now.
      const jobs = useJobs.getState();
      const earlier = (m: string) => m.startsWith(`hf ${req.repo}:`) || m.startsWith(`Downloading ${req.repo} as `);
      for (const a of jobs.alerts) if (a.page === 'models' && earlier(a.message)) jobs.dismiss(a.id);
    }
    await get().refresh();
    void useSession.getState().refreshStorage();
    return info;
  },

  async importFrom(name, from) {
    const info = await useJobs.getState().run({ kind: 'model', label: `Importing a model as models/${name}` }, () => getEngine().importModel(name, from));
    await get().refresh();
    void useSession.getState().refreshStorage();
    return info;
  },
}));
