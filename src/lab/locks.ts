// Which tab owns a folder of the lab's storage. A run, a dataset import and a model save write one
// folder for seconds to hours; two tabs of the same origin share that storage, and two writers of
// one folder interleave their files (two trainers appending to one metrics.jsonl, two imports of
// one name). So each such job holds a lock named after its folder for as long as it writes, and a
// job whose folder is locked elsewhere is refused, not queued.
//
// In the browser the locks are the Web Locks API (navigator.locks, in the worker): one manager per
// origin, shared by every tab and worker, and a lock is freed when the tab holding it closes or
// crashes, which is what tells an interrupted run from one running in another tab. Node has no
// tabs; there labs on the same storage in one process share an in-process registry (tests, the
// CLI), where each lab is a client, like a tab, that a test can close.
import { InputError } from '../engine/errors';
import type { Workspace } from '../io/workspace';

/** The part of the Web Locks API the lab uses; navigator.locks is one. */
export interface LockManagerLike {
  request<T>(name: string, options: { ifAvailable: true }, callback: (lock: unknown) => Promise<T>): Promise<T>;
  query(): Promise<{ held?: { name?: string }[] }>;
}

/** Lock names are origin-wide: the prefix keeps other apps of the origin out of the lab's names. */
const PREFIX = 'thinker-lab:';

/** Locks of one origin in one process: what navigator.locks is to the tabs of a browser. */
export class LockRegistry {
  private readonly held = new Map<string, LockClient>();

  /** A new client (a tab). */
  client(): LockClient {
    return new LockClient(this.held);
  }
}

export class LockClient implements LockManagerLike {
  private closed = false;
  constructor(private readonly held: Map<string, LockClient>) {}

  async request<T>(name: string, _o: { ifAvailable: true }, callback: (lock: unknown) => Promise<T>): Promise<T> {
    if (this.closed || this.held.has(name)) return callback(null);
    this.held.set(name, this);
    try {
      return await callback({ name });
    } finally {
      // A closed client's lock may have gone to another since.
      if (this.held.get(name) === this) this.held.delete(name);
    }
  }

  async query() {
    return { held: [...this.held.keys()].map((name) => ({ name })) };
  }

  /** The tab closes: its locks are freed at once, whatever its jobs are still doing. */
  close(): void {
    this.closed = true;
    for (const [n, c] of this.held) if (c === this) this.held.delete(n);
  }
}

const registries = new Map<string, LockRegistry>();

/** navigator.locks where there is one (a browser tab or worker); else a client of the registry of this storage (by its name, a Node folder's path). */
export function defaultLockManager(ws: Workspace): LockManagerLike {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  if (nav?.locks) return nav.locks;
  let r = registries.get(ws.name);
  if (!r) registries.set(ws.name, (r = new LockRegistry()));
  return r.client();
}

/** A lab's locks: which it holds (so "another tab" is never said of its own jobs), and what others hold. */
export class LabLocks {
  private readonly mine = new Set<string>();
  constructor(private readonly manager: LockManagerLike) {}

  /**
   * Run `fn` holding the lock of `folder` ("runs/NAME", "datasets/NAME", "models/NAME"). When
   * another tab holds it, `fn` is not run: an InputError names `what` and says `elsewhere`.
   */
  async hold<T>(folder: string, what: string, elsewhere: string, fn: () => Promise<T>): Promise<T> {
    if (this.mine.has(folder)) throw new InputError(what, 'is in use by another job of this tab; wait until it ends');
    // Marked before the request is granted, so a second call of this tab meanwhile is told so.
    this.mine.add(folder);
    try {
      return await this.manager.request(PREFIX + folder, { ifAvailable: true }, async (lock) => {
        if (!lock) throw new InputError(what, elsewhere);
        return fn();
      });
    } finally {
      this.mine.delete(folder);
    }
  }

  /** Folders whose lock another tab (or worker) holds now. */
  async heldElsewhere(): Promise<Set<string>> {
    const snap = await this.manager.query();
    const out = new Set<string>();
    for (const l of snap.held ?? []) {
      if (l.name?.startsWith(PREFIX)) {
        const folder = l.name.slice(PREFIX.length);
        if (!this.mine.has(folder)) out.add(folder);
      }
    }
    return out;
  }
}
