// `thinker data hub <repo> --split S`: a dataset's parquet files from the Hugging Face Hub into a
// folder that `thinker data stats` / `thinker eval --data-dir` read. Files are written whole
// (temp file + rename) once each has arrived, so an interrupted run leaves only complete files,
// and a second run skips those.
//
// `thinker hub model <repo> --out DIR`: a model repository into a model folder, through the lab's
// own download (src/lab/hub-models.ts) on a Node folder: config.json first and a model this
// machine's adapter cannot hold refused before any weight is fetched, files staged beside DIR
// (.DIR.download/) as they arrive so that an interrupted run resumes, DIR written at once at the end.

import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import path from 'node:path';
// @ts-expect-error cli-progress ships no type declarations; the few members used are typed below.
import cliProgressModule from 'cli-progress';
import { InputError } from '../../engine/errors';
import { nodeDirSink, nodeWorkspace } from '../../io/workspace';
import { downloadHubDataset, formatHubProgress, formatSeconds, HF_ENDPOINT, type HubDownloadResult, type HubFile, type HubProgress } from '../../data/hub';
import { DEFAULT_HUB_MODEL, downloadHubModel, formatModelProgress, type HubModelProgress, type HubModelResult } from '../../lab/hub-models';
import type { AdapterBudget } from '../../model/memory';
import { createNodeGpu } from '../../node/dawn';
import { intOpt } from '../args';
import { modelOutput } from '../outputs';

export interface HubCliOptions {
  repo: string;
  split: string;
  config?: string;
  /** Default: ./<name> for repo owner/name, as `git clone` does. */
  out?: string;
  endpoint?: string;
  token?: string;
  revision?: string;
  /** Download files again even when a complete copy is in the folder. */
  force?: boolean;
  stallTimeoutMs?: number;
}

export const defaultOutDir = (repo: string) => repo.slice(repo.lastIndexOf('/') + 1);

/** The download into a folder; progress goes to `onProgress`, cancel through `signal`. */
export async function hubToFolder(
  o: HubCliOptions,
  onProgress?: (p: HubProgress) => void,
  signal?: AbortSignal,
): Promise<{ dir: string; result: HubDownloadResult<ReturnType<typeof nodeDirSink>> }> {
  const dir = path.resolve(o.out ?? defaultOutDir(o.repo));
  const existing = await stat(dir).catch(() => null);
  if (existing && !existing.isDirectory()) throw new InputError(dir, 'is a file; --out must be a folder');
  // A file counts as done when its size matches the listing's: writes are atomic, so a file of
  // the right size is a finished earlier download, not half of one.
  const isComplete = async (f: HubFile) =>
    !o.force &&
    (await stat(path.join(dir, ...f.path.split('/'))).then(
      (s) => s.isFile() && s.size === f.size,
      () => false,
    ));
  const result = await downloadHubDataset({
    repo: o.repo,
    split: o.split,
    config: o.config,
    endpoint: o.endpoint,
    token: o.token,
    revision: o.revision,
    stallTimeoutMs: o.stallTimeoutMs,
    sink: nodeDirSink(dir),
    signal,
    onProgress,
    isComplete,
  });
  return { dir, result };
}

interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
  stop(): void;
}
const cliProgress = cliProgressModule as { SingleBar: new (opts: Record<string, unknown>, preset?: unknown) => Bar; Presets: Record<string, unknown> };

/** What the byte bar reads of a dataset's or a model's download progress. */
type BytesProgress = Pick<HubProgress, 'file' | 'fileIndex' | 'filesDone' | 'filesTotal' | 'bytesDone' | 'bytesTotal' | 'bytesPerSecond' | 'etaSeconds'> & {
  phase: string;
};

/**
 * A byte bar on a terminal; elsewhere (logs, CI) one line per finished file, and one per step
 * outside the byte transfer (`steps`: the phases worth a line, labelled by `format`).
 */
function progressPrinter<P extends BytesProgress>(repo: string, format: (p: P) => string, steps: readonly string[] = []): { update(p: P): void; stop(): void } {
  if (!process.stderr.isTTY) {
    let files = 0;
    let step = '';
    return {
      update(p) {
        if (steps.includes(p.phase) && p.phase !== step) {
          step = p.phase;
          process.stderr.write(`${format(p)}\n`);
          return;
        }
        if (p.phase !== 'downloading' || p.filesDone <= files) return;
        files = p.filesDone;
        process.stderr.write(`${files}/${p.filesTotal} done, ${p.file}: ${format(p).replace(/^[^:]*: /, '')}\n`);
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      format: `${repo} [{bar}] {percentage}% | {mb} | file {file} | {rate} | ETA {etaText}`,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      if (p.phase !== 'downloading' && p.phase !== 'done') return;
      const total = p.bytesTotal ?? Math.max(p.bytesDone, 1);
      const payload = {
        mb: `${(p.bytesDone / 1e6).toFixed(1)}/${p.bytesTotal !== null ? (p.bytesTotal / 1e6).toFixed(1) : '?'} MB`,
        file: `${p.fileIndex}/${p.filesTotal}`,
        rate: p.bytesPerSecond ? `${(p.bytesPerSecond / 1e6).toFixed(1)} MB/s` : '-',
        etaText: p.etaSeconds !== null ? formatSeconds(p.etaSeconds) : '?',
      };
      if (!started) {
        bar.start(total, p.bytesDone, payload);
        started = true;
        return;
      }
      bar.setTotal(total);
      bar.update(p.bytesDone, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Models

export interface HubModelCliOptions {
  repo: string;
  /** Default: ./<name> for repo owner/name. */
  out?: string;
  revision?: string;
  endpoint?: string;
  token?: string;
  /** Replace a model already in --out. */
  force?: boolean;
  stallTimeoutMs?: number;
  /** What the model must fit; default: this machine's adapter (a Dawn device made for the check). null: no check. */
  budget?: () => Promise<AdapterBudget | null>;
  /** Injected for tests; default: the global fetch. */
  fetch?: typeof fetch;
  partBytes?: number;
}

/** This machine's adapter limits, from a device made for the check and destroyed after it. */
async function localBudget(): Promise<AdapterBudget> {
  const gpu = await createNodeGpu();
  try {
    return { maxBindingBytes: gpu.maxBindingBytes, memoryBytes: gpu.memoryBytes };
  } finally {
    gpu.destroy();
  }
}

/** A model repository into the folder --out; progress goes to `onProgress`, cancel through `signal`. */
export async function hubModelToFolder(
  o: HubModelCliOptions,
  onProgress?: (p: HubModelProgress) => void,
  signal?: AbortSignal,
): Promise<{ dir: string; staging: string; result: HubModelResult }> {
  const dir = path.resolve(o.out ?? defaultOutDir(o.repo));
  await modelOutput(dir, o.force);
  const parent = path.dirname(dir);
  const base = path.basename(dir);
  if (!base || base === '.' || base === '..') throw new InputError(dir, 'is not a folder name --out can use');
  // Beside the folder, so that the folder itself only ever holds a complete model.
  const staging = `.${base}.download`;
  const result = await downloadHubModel({
    repo: o.repo,
    revision: o.revision,
    endpoint: o.endpoint,
    token: o.token,
    stallTimeoutMs: o.stallTimeoutMs,
    fetch: o.fetch,
    signal,
    ws: nodeWorkspace(parent),
    dir: base,
    staging,
    budget: o.budget ?? localBudget,
    onProgress,
    partBytes: o.partBytes,
  });
  return { dir, staging: path.join(parent, staging), result };
}

/** Register `hub model` (created when absent). */
function registerHubModel(program: Command) {
  const hub = program.commands.find((c) => c.name() === 'hub') ?? program.command('hub').description('download from the Hugging Face Hub');
  hub
    .command('model [repo]')
    .description(
      `download a model repository (default ${DEFAULT_HUB_MODEL}) into a model folder the lab loads: config.json first, refused before the weights ` +
        "when this machine's adapter cannot hold it; resumes an interrupted download",
    )
    .option('--out <dir>', 'model folder to write (default: ./<model name>)')
    .option('--revision <rev>', 'branch, tag or commit', 'main')
    .option('--endpoint <url>', `Hub or mirror URL (default: $HF_ENDPOINT or ${HF_ENDPOINT})`)
    .option('--token <token>', 'Hugging Face access token for gated or private models (default: $HF_TOKEN)')
    .option('--force', 'replace a model already in --out')
    .option('--no-fit-check', "download even when this machine's adapter cannot hold the model (for another machine)")
    .option('--stall-timeout <s>', 'give up when nothing arrives for this many seconds', '60')
    .action(
      async (
        repo: string | undefined,
        o: { out?: string; endpoint?: string; token?: string; revision: string; force?: boolean; fitCheck: boolean; stallTimeout: string },
      ) => {
        const id = repo ?? DEFAULT_HUB_MODEL;
        const stallTimeoutMs = intOpt('stall-timeout', o.stallTimeout, 1) * 1000;
        const ac = new AbortController();
        // Ctrl-C cancels the download; what arrived stays staged for the next run.
        const onSigint = () => ac.abort(new DOMException('cancelled by Ctrl-C', 'AbortError'));
        process.once('SIGINT', onSigint);
        const bar = progressPrinter<HubModelProgress>(id, formatModelProgress, ['config', 'checking', 'writing', 'done']);
        let out;
        try {
          out = await hubModelToFolder(
            {
              repo: id,
              out: o.out,
              revision: o.revision,
              force: o.force,
              stallTimeoutMs,
              endpoint: o.endpoint ?? (process.env.HF_ENDPOINT || undefined),
              token: o.token ?? (process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined),
              ...(o.fitCheck === false ? { budget: async () => null } : {}),
            },
            (p) => bar.update(p),
            ac.signal,
          );
        } catch (e) {
          if ((e as Error)?.name === 'AbortError') throw new InputError(id, 'download cancelled; what arrived is kept, run the same command again to resume');
          throw e;
        } finally {
          bar.stop();
          process.removeListener('SIGINT', onSigint);
        }
        const { dir, result } = out;
        const t = result.config.text;
        process.stdout.write(
          `${id}${result.commit ? ` (commit ${result.commit.slice(0, 12)})` : ''}: ${result.files.length} files, ${(result.bytes / 1e6).toFixed(1)} MB ` +
            `(${(result.downloaded / 1e6).toFixed(1)} MB downloaded${result.resumed ? `, ${(result.resumed / 1e6).toFixed(1)} MB from an earlier run` : ''}), in ${dir}\n` +
            `  ${result.config.idefics3 ? 'Idefics3 (SmolVLM): vision tower + ' : ''}${t.architecture} decoder, ${t.numLayers} layers x ${t.hiddenSize}, vocab ${t.vocabSize}\n`,
        );
        for (const f of result.files) process.stdout.write(`  ${f}\n`);
      },
    );
}

/** Register `data hub` on the program's `data` command, and `hub model` (each created when absent). */
export function registerHub(program: Command) {
  registerHubModel(program);
  const data = program.commands.find((c) => c.name() === 'data') ?? program.command('data').description('inspect the medical QA datasets the lab reads');
  data
    .command('hub <repo>')
    .description("download a dataset's parquet files from the Hugging Face Hub (e.g. UCSC-VLAA/MedVLThinker-Eval) into a folder the loaders read")
    .requiredOption('--split <split>', 'split to download, e.g. test')
    .option('--config <config>', 'dataset config (default: the only one, or "default")')
    .option('--out <dir>', 'folder to write into (default: ./<dataset name>)')
    .option('--endpoint <url>', `Hub or mirror URL (default: $HF_ENDPOINT or ${HF_ENDPOINT})`)
    .option('--token <token>', 'Hugging Face access token for gated or private sets (default: $HF_TOKEN)')
    .option('--revision <rev>', 'branch, tag or commit when the files come from the repository itself', 'main')
    .option('--force', 'download files again even when complete copies are in the folder')
    .option('--stall-timeout <s>', 'give up when nothing arrives for this many seconds', '60')
    .action(
      async (
        repo: string,
        o: { split: string; config?: string; out?: string; endpoint?: string; token?: string; revision: string; force?: boolean; stallTimeout: string },
      ) => {
        const stallTimeoutMs = intOpt('stall-timeout', o.stallTimeout, 1) * 1000;
        const ac = new AbortController();
        // Ctrl-C cancels the download; what is in the folder stays whole.
        const onSigint = () => ac.abort(new DOMException('cancelled by Ctrl-C', 'AbortError'));
        process.once('SIGINT', onSigint);
        const bar = progressPrinter<HubProgress>(repo, formatHubProgress);
        let out;
        try {
          out = await hubToFolder(
            {
              repo,
              split: o.split,
              config: o.config,
              out: o.out,
              revision: o.revision,
              force: o.force,
              stallTimeoutMs,
              endpoint: o.endpoint ?? (process.env.HF_ENDPOINT || undefined),
              token: o.token ?? (process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined),
            },
            (p) => bar.update(p),
            ac.signal,
          );
        } catch (e) {
          if ((e as Error)?.name === 'AbortError')
            throw new InputError(repo, 'download cancelled; the files finished so far are kept, run again to fetch the rest');
          throw e;
        } finally {
          bar.stop();
          process.removeListener('SIGINT', onSigint);
        }
        const { dir, result } = out;
        const where = result.listing.via === 'tree' ? 'the repository files' : `the Hub's parquet conversion (config "${result.listing.config}")`;
        process.stdout.write(
          `${repo} split "${o.split}" from ${where}: ${result.written.length} file(s) downloaded (${(result.bytes / 1e6).toFixed(2)} MB)` +
            `${result.skipped.length ? `, ${result.skipped.length} already complete` : ''}, in ${dir}\n`,
        );
        for (const f of result.listing.files) process.stdout.write(`  ${f.path}${result.skipped.includes(f.path) ? ' (kept)' : ''}\n`);
      },
    );
}
