import type { Command } from 'commander';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import { nodeDirSource } from '../../io/workspace';
import { loadTokenizer } from '../../io/tokenizer';
import { createNodeGpu } from '../../node/dawn';
import { loadModel } from '../../node/checkpoint';
import type { LoadResult } from '../../data/report';
import {
  checkCurateSettings,
  curate,
  DEFAULT_CURATE,
  formatHistogram,
  passCounts,
  verlParquet,
  verlRows,
  type CurateOrder,
  type CurateSettings,
} from '../../recipe/curate';
import { loadRecipeJsonl, recipeRow } from '../../data/loaders/recipe';
import { intOpt, numOpt } from '../args';
import { fileOutputs } from '../outputs';
import { datasetByName, datasetDir, progressOnStderr } from '../host';

export interface CurateCliOptions {
  model: string;
  dataset?: string;
  dataDir?: string;
  split?: string;
  items?: string;
  imageRoot?: string;
  limit?: string;
  k: string;
  lo: string;
  hi?: string;
  order: string;
  shuffleSeed: string;
  seed: string;
  temperature: string;
  topP: string;
  maxNewTokens: string;
  batch: string;
  grade: string;
  newline: string;
  onBad: string;
  out?: string;
  summary?: string;
  responses?: string;
  exportVerl?: string;
  dataSource?: string;
  verlSplit: string;
  json?: boolean;
  quiet?: boolean;
  force?: boolean;
}

const summaryBeside = (out: string) => `${out.replace(/\.jsonl?$/i, '')}.summary.json`;
const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

/** The items to curate: a dataset split by name, or a JSONL file in the recipe schema. */
async function loadItems(o: CurateCliOptions, limit: number | undefined, onBad: 'skip' | 'stop'): Promise<{ res: LoadResult; label: string }> {
  if (!o.items === !o.dataset) throw new InputError('curate', 'give exactly one of --dataset (with --data-dir) or --items FILE.jsonl');
  if (o.items) {
    const file = path.resolve(o.items);
    const images = o.imageRoot ? nodeDirSource(path.resolve(o.imageRoot)) : undefined;
    if (o.imageRoot && !(await isDir(o.imageRoot))) throw new InputError(o.imageRoot, 'image folder not found');
    const res = await loadRecipeJsonl(nodeDirSource(path.dirname(file)), path.basename(file), { images, limit, onBad, split: o.split });
    return { res, label: path.basename(file).replace(/\.jsonl?$/i, '') };
  }
  if (!o.dataDir) throw new InputError('--data-dir', 'needed with --dataset');
  const spec = datasetByName(o.dataset!);
  const dir = await datasetDir(spec, o.dataDir);
  const split = o.split ?? spec.defaultSplit;
  const res = await spec.load(nodeDirSource(dir), { split, onBad, limit });
  return { res, label: `${spec.name}-${split}` };
}

/** `thinker curate`: pass counts from a model, the recipe's keep window and order, JSONL and verl parquet out. */
export async function curateCommand(o: CurateCliOptions): Promise<void> {
  const k = intOpt('k', o.k, 1);
  const settings: CurateSettings = checkCurateSettings(
    {
      // The recipe keeps 1..7 of 16; with fewer samples the window ends at k - 1 unless --hi says otherwise.
      k,
      lo: intOpt('lo', o.lo, 0),
      hi: o.hi === undefined ? Math.min(DEFAULT_CURATE.hi, k - 1) : intOpt('hi', o.hi, 0),
      order: o.order as CurateOrder,
      seed: intOpt('shuffle-seed', o.shuffleSeed, 0),
    },
    'curate options',
  );
  const limit = o.limit === undefined ? undefined : intOpt('limit', o.limit, 1);
  const seed = intOpt('seed', o.seed, 0);
  const temperature = numOpt('temperature', o.temperature, 1e-4, 100);
  const topP = numOpt('top-p', o.topP, 1e-6, 1);
  const maxNewTokens = intOpt('max-new-tokens', o.maxNewTokens, 1);
  const batchSize = intOpt('batch', o.batch, 1);
  if (o.grade !== 'reward' && o.grade !== 'grader') throw new InputError('--grade', `must be reward or grader, not "${o.grade}"`);
  if (o.onBad !== 'skip' && o.onBad !== 'stop') throw new InputError('--on-bad', `must be skip or stop, not "${o.onBad}"`);
  if (o.newline !== 'literal' && o.newline !== 'real') throw new InputError('--newline', `must be literal or real, not "${o.newline}"`);
  if (o.exportVerl && !o.exportVerl.endsWith('.parquet')) throw new InputError('--export-verl', `expected a .parquet file name, got ${o.exportVerl}`);
  // The default --out is a new timestamped name; named outputs must not hold earlier results.
  await fileOutputs([o.out, o.summary ?? (o.out && summaryBeside(o.out)), o.responses, o.exportVerl], o.force);
  if (!(await isDir(o.model))) throw new InputError(o.model, 'model folder not found');
  const tok = await loadTokenizer(nodeDirSource(o.model), o.model);
  const { res, label } = await loadItems(o, limit, o.onBad);
  if (res.items.length === 0) {
    throw new InputError(
      res.report.source,
      `no usable items (${res.report.records} records, ${res.report.dropped.length} dropped${res.report.dropped[0] ? `; first: ${res.report.dropped[0].where} ${res.report.dropped[0].reason}` : ''})`,
    );
  }
  const out = path.resolve(o.out ?? path.join('out', 'curate', `${label}-${stamp()}.jsonl`));
  const summaryPath = path.resolve(o.summary ?? summaryBeside(out));
  const prompt = { newline: o.newline as 'literal' | 'real' };

  const gpu = await createNodeGpu();
  const { model } = await loadModel(gpu, o.model);
  const progress = progressOnStderr('curate', o.quiet);
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    const t0 = performance.now();
    const entries = await passCounts(model, tok, res.items, {
      k: settings.k,
      temperature,
      topP,
      maxNewTokens,
      batchSize,
      seed,
      prompt,
      grade: o.grade,
      signal: ac.signal,
      onProgress: (d, t) => progress.update(d, t, label),
    });
    progress.stop();
    const seconds = (performance.now() - t0) / 1000;
    const result = curate(entries, settings);
    // Nothing kept: no empty items file or parquet to be mistaken for a result (the summary says why).
    const empty = result.kept.length === 0;
    if (!empty) {
      await mkdir(path.dirname(out), { recursive: true });
      await writeFile(out, result.kept.map((e) => `${JSON.stringify(recipeRow(e.item, e.passCount))}\n`).join(''));
    }
    if (o.responses) {
      await mkdir(path.dirname(path.resolve(o.responses)), { recursive: true });
      await writeFile(
        o.responses,
        entries
          .map(
            (e) =>
              `${JSON.stringify({
                dataset_name: e.item.dataset_name,
                dataset_index: e.item.dataset_index,
                hash: e.item.hash,
                answer_label: e.item.answer_label,
                pass_count: e.passCount,
                grades: e.grades,
                responses: e.responses,
                ...(e.skipped ? { skipped: e.skipped } : {}),
              })}\n`,
          )
          .join(''),
      );
    }
    let verl: { file: string; rows: number; data_source: string } | null = null;
    if (o.exportVerl && !empty) {
      const dataSource = o.dataSource ?? path.basename(o.exportVerl).replace(/\.parquet$/i, '');
      const rows = await verlRows(
        result.kept.map((e) => e.item),
        { dataSource, split: o.verlSplit, prompt },
      );
      await mkdir(path.dirname(path.resolve(o.exportVerl)), { recursive: true });
      await writeFile(o.exportVerl, verlParquet(rows));
      verl = { file: path.resolve(o.exportVerl), rows: rows.length, data_source: dataSource };
    }
    const summary = {
      source: res.report.source,
      dataset: res.report.dataset,
      split: res.report.split,
      model: path.resolve(o.model),
      settings: { ...settings, temperature, top_p: topP, max_new_tokens: maxNewTokens, sampling_seed: seed, grade: o.grade },
      items: entries.length,
      kept: result.kept.length,
      not_sampled: result.unscored,
      histogram: result.histogram,
      load: { records: res.report.records, in: res.report.in, out: res.report.out, dropped: res.report.dropped.length, notes: res.report.notes },
      files: { items: empty ? null : out, summary: summaryPath, responses: o.responses ? path.resolve(o.responses) : null, verl: verl?.file ?? null },
      verl,
      seconds,
      device: gpu.info.description || gpu.info.vendor || 'unknown',
    };
    await mkdir(path.dirname(summaryPath), { recursive: true });
    await writeFile(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
    if (empty) {
      throw new Error(
        `no item has a pass count in ${settings.lo}..${settings.hi} (pass counts 0..${settings.k}: ${result.histogram.map((b) => b.items).join(', ')}): ` +
          `no items file${o.exportVerl ? ' or verl parquet' : ''} written; the pass counts are in ${summaryPath}`,
      );
    }
    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(`${formatHistogram(result, settings)}\nwrote ${out}${verl ? ` and ${verl.file} (${verl.rows} verl rows)` : ''}\n`);
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
    model.release();
    gpu.destroy();
  }
}

export function registerCurate(program: Command) {
  program
    .command('curate')
    .description(
      'difficulty curation (recipe §2): k sampled answers per question graded with the reward, keep pass counts in [lo, hi], shuffle or easy-to-hard order; JSONL in the recipe schema and verl RL parquet out',
    )
    .requiredOption('--model <dir>', 'model folder whose pass counts decide (config.json, model.safetensors, tokenizer.json)')
    .option('--dataset <name>', 'dataset to curate (with --data-dir and --split)')
    .option('--data-dir <dir>', "data folder holding the dataset's folder, or the dataset folder itself")
    .option('--split <split>', "split (default: the dataset's default split)")
    .option('--items <file>', 'or: a JSONL file in the recipe schema (images as paths)')
    .option('--image-root <dir>', "folder the --items image paths are relative to (default: the file's folder)")
    .option('--limit <n>', 'first n items only (quick runs)')
    .option('--k <n>', 'samples per question', String(DEFAULT_CURATE.k))
    .option('--lo <n>', 'lowest pass count kept', String(DEFAULT_CURATE.lo))
    .option('--hi <n>', `highest pass count kept (default: ${DEFAULT_CURATE.hi}, the recipe's for k 16, or k - 1 when that is less)`)
    .option('--order <order>', 'shuffle or easy-to-hard (shuffled, then by pass count, highest first)', DEFAULT_CURATE.order)
    .option('--shuffle-seed <n>', 'seed of the shuffle', String(DEFAULT_CURATE.seed))
    .option('--seed <n>', 'sampling seed', '0')
    .option('--temperature <t>', 'sampling temperature', '1')
    .option('--top-p <p>', 'nucleus mass', '1')
    .option('--max-new-tokens <n>', "response budget (the recipe: 4096; clipped to the model's context)", '4096')
    .option('--batch <n>', 'sequences decoded together', '16')
    .option('--grade <how>', 'reward (the recipe: format gate + answer) or grader (the evaluation grader)', 'reward')
    .option('--newline <kind>', "the instruction's \\n: literal (the paper's code) or real", 'literal')
    .option('--on-bad <mode>', 'malformed input or missing images: skip (report) or stop', 'skip')
    .option('--out <file>', 'kept items as JSONL with pass_count (default out/curate/<dataset>-<time>.jsonl)')
    .option('--summary <file>', 'summary JSON (default: beside --out, .summary.json)')
    .option('--responses <file>', "also write every item's k responses and grades as JSONL")
    .option('--export-verl <file>', 'also write the kept items as a verl RL parquet (images embedded)')
    .option('--data-source <name>', "verl data_source (default: the parquet file's name)")
    .option('--verl-split <split>', 'extra_info.split of the verl rows', 'train')
    .option('--force', 'replace output files that exist')
    .option('--json', 'print the summary JSON instead of the histogram')
    .option('--quiet', 'no progress on stderr')
    .action(curateCommand);
}
