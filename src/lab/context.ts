// What every part of the lab shares: the workspace (OPFS in the browser, a folder or memory in
// Node), the GPU (acquired on first use), the one GPU job allowed at a time, the locks that keep
// other tabs out of the folders this lab writes (locks.ts), and the model the last job used, kept
// on the GPU so that asking twice does not load it twice.
import { InputError } from '../engine/errors';
import type { Gpu } from '../engine/gpu';
import { loadModelFolder } from '../io/hf-config';
import { loadTokenizer, type TextTokenizer } from '../io/tokenizer';
import type { Model } from '../model/model';
import { subWorkspace, type Workspace } from '../io/workspace';
import { defaultLockManager, LabLocks, type LockManagerLike } from './locks';

/** A workspace model folder on the GPU with its tokenizer. */
export interface OpenedModel {
  path: string;
  model: Model;
  tok: TextTokenizer;
}

export class LabContext {
  private device: Promise<Gpu> | null = null;
  private job: { name: string; controller: AbortController } | null = null;
  /** Cancellable work that needs no GPU (downloads): cancelTasks() ends it. */
  private readonly tasks = new Set<AbortController>();
  private cached: OpenedModel | null = null;

  readonly locks: LabLocks;

  /** `locks`: the origin's lock manager (default: navigator.locks, or the in-process registry of `ws`). */
  constructor(
    readonly ws: Workspace,
    private readonly makeGpu: () => Promise<Gpu>,
    locks?: LockManagerLike,
  ) {
    this.locks = new LabLocks(locks ?? defaultLockManager(ws));
  }

  async gpu(): Promise<Gpu> {
    if (this.device) {
      // A lost device (driver reset, GPU process crash) is replaced by a fresh one, so the run
      // that died with it can be resumed without reloading the tab; the models on it are gone.
      const g = await this.device.catch(() => null);
      if (g?.lostError) {
        this.cached = null;
        this.device = null;
      }
    }
    // A failed acquisition is not cached: the user may enable WebGPU and retry.
    this.device ??= this.makeGpu().catch((e) => {
      this.device = null;
      throw e;
    });
    return this.device;
  }

  /** The job holding the GPU, or null. */
  get busy(): string | null {
    return this.job?.name ?? null;
  }

  /**
   * Run `fn` as the one GPU job. A second job is refused (not queued): the UI shows what holds
   * the GPU and lets the user stop it.
   */
  async exclusive<T>(name: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.job) throw new InputError(name, `the GPU is busy with ${this.job.name}; stop it first or wait until it ends`);
    const controller = new AbortController();
    this.job = { name, controller };
    try {
      return await fn(controller.signal);
    } finally {
      this.job = null;
    }
  }

  /**
   * Run `fn` beside the GPU job (a download holds no GPU) with a signal that cancelTasks() aborts:
   * the worker's cancel call ends the job and these, whichever the UI started.
   */
  async cancellable<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    this.tasks.add(controller);
    try {
      return await fn(controller.signal);
    } finally {
      this.tasks.delete(controller);
    }
  }

  /** Abort the current job's signal (the job ends at its next check). */
  cancel(): void {
    this.job?.controller.abort();
  }

  /** Abort every cancellable task's signal. */
  cancelTasks(): void {
    for (const c of this.tasks) c.abort();
  }

  /** A model folder of the workspace ("models/NAME", "runs/R/checkpoint-S") on the GPU with its tokenizer. */
  async loadModel(path: string): Promise<OpenedModel> {
    if (this.cached?.path === path) return this.cached;
    const gpu = await this.gpu();
    const src = subWorkspace(this.ws, path);
    if (!(await src.exists('config.json'))) throw new InputError(path, 'no model here (config.json is missing)');
    const tok = await loadTokenizer(src, path);
    this.dropModel();
    this.cached = { path, model: await loadModelFolder(gpu, src, path), tok };
    return this.cached;
  }

  /** Forget the cached model (after its folder changed or was deleted), releasing its GPU memory. */
  dropModel(path?: string): void {
    if (!this.cached || (path !== undefined && this.cached.path !== path && !this.cached.path.startsWith(`${path}/`))) return;
    this.cached.model.release();
    this.cached = null;
  }
}
