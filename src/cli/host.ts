// What the CLI's commands share on the Node host: dataset folders, progress on stderr, a run's
// stop signal and device, and a time estimate as a person reads it.
import { stat } from 'node:fs/promises';
import path from 'node:path';
// @ts-expect-error cli-progress ships no type declarations; the few members used are typed below.
import cliProgressModule from 'cli-progress';
import { InputError } from '../engine/errors';
import type { Gpu } from '../engine/gpu';
import { KernelProfiler, formatKernelTimes, type KernelTime } from '../engine/profile';
import { DATASETS, findDataset, type DatasetSpec } from '../data/loaders';
import { nodeWorkspace } from '../io/workspace';
import { createNodeGpu } from '../node/dawn';
import type { FolderResolver } from '../recipe/job';
import type { RunEstimate } from '../recipe/estimate';

// ---------------------------------------------------------------------------------------------
// Dataset folders

const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/** The dataset's folder: DIR/<usual folder> when present, else DIR itself (DIR is the dataset folder). */
export async function datasetDir(spec: DatasetSpec, dataDir: string): Promise<string> {
  if (!(await isDir(dataDir))) throw new InputError(dataDir, 'data folder not found');
  const sub = path.join(dataDir, spec.dir);
  return (await isDir(sub)) ? sub : dataDir;
}

export function datasetByName(name: string): DatasetSpec {
  const spec = findDataset(name);
  if (!spec) throw new InputError('--dataset', `unknown dataset "${name}" (choose ${DATASETS.map((d) => d.name).join(', ')})`);
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise (logs, CI).

interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
  stop(): void;
}
const cliProgress = cliProgressModule as { SingleBar: new (opts: Record<string, unknown>, preset?: unknown) => Bar; Presets: Record<string, unknown> };

export interface Progress {
  update(done: number, total: number, what: string): void;
  stop(): void;
}

export function progressOnStderr(title: string, quiet = false): Progress {
  if (quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${title} [{bar}] {percentage}% | {value}/{total} sequences | {what} | ETA {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, what) {
        if (!started) {
          bar.start(total, done, { what });
          started = true;
          return;
        }
        bar.setTotal(total);
        bar.update(done, { what });
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let last = 0;
  let lastDone = -1;
  const t0 = Date.now();
  return {
    update(done, total, what) {
      const now = Date.now();
      if (done === lastDone || (done < total && now - last < 5000)) return;
      last = now;
      lastDone = done;
      process.stderr.write(`${title}: ${done}/${total} sequences (${what}) ${((now - t0) / 1000).toFixed(0)} s\n`);
    },
    stop() {},
  };
}

// ---------------------------------------------------------------------------------------------
// Runs

/** Config paths are folders on disk, absolute or relative to the working directory. */
export const nodeFolders: FolderResolver = (ref) => nodeWorkspace(path.resolve(ref));

/**
 * Ctrl-C (SIGINT) and SIGTERM abort `controller`, so the run stops after its current step and
 * saves a checkpoint; a second signal exits at once (code 130). Returns a function removing the
 * handlers.
 */
export function abortOnSignals(controller: AbortController, log: (msg: string) => void = (m) => process.stderr.write(m + '\n')): () => void {
  let seen = 0;
  const handler = (sig: NodeJS.Signals) => {
    seen++;
    if (seen === 1) {
      log(`${sig}: stopping after the current step and saving a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : 'signal'} again to quit without saving)`);
      controller.abort(new Error(`stopped by ${sig}`));
    } else {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * What the run drivers need from the host: a stop signal fed by the caller's signal and Ctrl-C,
 * and a device made only when asked (after every input is checked) and destroyed at the end
 * unless the caller lent it. `done` undoes both.
 */
export function nodeRunHost(
  deps: { gpu?: Gpu; signal?: AbortSignal; handleSignals?: boolean },
  log: (line: string) => void,
  /** `--profile`: time every kernel of the run on the GPU (KernelProfiler); `kernels()` reports them. */
  profile = false,
) {
  const controller = new AbortController();
  const onOuter = () => controller.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', onOuter);
  if (deps.signal?.aborted) controller.abort();
  const removeSignals = deps.handleSignals === false ? () => undefined : abortOnSignals(controller, log);
  let own: Gpu | null = null;
  let used: Gpu | null = null;
  let profiler: KernelProfiler | null = null;
  const lent = deps.gpu;
  return {
    signal: controller.signal,
    gpu: async () => {
      used = lent ?? (own = await createNodeGpu());
      if (profile && !profiler) {
        if (!used.hasTimestamps)
          throw new InputError('--profile', `this adapter (${used.info.description}) has no timestamp-query feature to time kernels with`);
        profiler = new KernelProfiler(used);
        used.profiler = profiler;
      }
      return used;
    },
    /** GPU time per kernel label over the run, largest first (undefined without --profile). */
    kernels: async (): Promise<KernelTime[] | undefined> => (profiler ? await profiler.report() : undefined),
    done: () => {
      removeSignals();
      deps.signal?.removeEventListener('abort', onOuter);
      if (used && profiler && used.profiler === profiler) used.profiler = null;
      own?.destroy();
    },
  };
}

/** A run's kernel times as a person reads them (stderr): the top kernels and the total. */
export function printKernelTimes(kernels: KernelTime[] | undefined, top = 15) {
  if (!kernels?.length) return;
  const rest = kernels.slice(top);
  const shown = rest.length
    ? [...kernels.slice(0, top), { label: `${rest.length} more kernels`, calls: rest.reduce((n, k) => n + k.calls, 0), ms: rest.reduce((n, k) => n + k.ms, 0) }]
    : kernels;
  process.stderr.write(
    `GPU time per kernel over the run (each dispatch timed in its own pass, so the run was slower than usual):\n${formatKernelTimes(shown)}\n`,
  );
}

/** An estimate as a person reads it (stderr), or as JSON (stdout). */
export function printEstimate(e: RunEstimate, json: boolean) {
  if (json) process.stdout.write(JSON.stringify(e) + '\n');
  process.stderr.write(
    `estimated ${formatDuration(e.totalSeconds)} on this adapter: ${e.totalSteps} steps of ${e.secondsPerStep.toFixed(2)} s` +
      `${e.evals ? `, ${e.evals} evaluations of ${e.secondsPerEval.toFixed(1)} s` : ''}, ${e.setupSeconds.toFixed(0)} s to prepare ` +
      `(measured over ${e.measuredSteps} step${e.measuredSteps === 1 ? '' : 's'} in ${e.measureSeconds.toFixed(0)} s)\n`,
  );
}

export function formatDuration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
