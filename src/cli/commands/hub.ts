// `thinker data hub <repo> --split S`: a dataset's parquet files from the Hugging Face Hub into a
// folder that `thinker data stats` / `thinker eval --data-dir` read. Files are written whole
// (temp file + rename) once each has arrived, so an interrupted run leaves only complete files,
// and a second run skips those.

import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import path from 'node:path';
// @ts-expect-error cli-progress ships no type declarations; the few members used are typed below.
import cliProgressModule from 'cli-progress';
import { InputError } from '../../engine/errors';
import { nodeDirSink } from '../../io/workspace';
import { downloadHubDataset, formatHubProgress, formatSeconds, HF_ENDPOINT, type HubDownloadResult, type HubFile, type HubProgress } from '../../data/hub';
import { intOpt } from '../args';

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

/** A byte bar on a terminal; elsewhere (logs, CI) one line per finished file. */
function progressPrinter(repo: string): { update(p: HubProgress): void; stop(): void } {
  if (!process.stderr.isTTY) {
    let files = 0;
    return {
      update(p) {
        if (p.phase !== 'downloading' || p.filesDone <= files) return;
        files = p.filesDone;
        process.stderr.write(`${files}/${p.filesTotal} done, ${p.file}: ${formatHubProgress(p).replace(/^[^:]*: /, '')}\n`);
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

/** Register `data hub` on the program's `data` command (created when absent). */
export function registerHub(program: Command) {
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
        const bar = progressPrinter(repo);
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
