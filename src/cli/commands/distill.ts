// `thinker distill`: teacher traces for SFT (recipe §4). n responses per question from a teacher
// (a pretrained model through transformers.js, or a lab model), the first correct one kept as the
// item's reasoning; questions with none are dropped. Writes the kept items as JSONL in the recipe
// schema (what `thinker sft` reads) and a summary with how many questions got a trace.
import type { Command } from 'commander';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import { nodeDirSource } from '../../io/workspace';
import { loadTokenizer } from '../../io/tokenizer';
import { createNodeGpu } from '../../node/dawn';
import { loadModel } from '../../node/checkpoint';
import type { QAItem } from '../../task/schema';
import { loadRecipeJsonl, recipeRow } from '../../data/loaders/recipe';
import { sampleResponses } from '../../task/rollout';
import { distill, type DistillRecord, type DistillResult, type ItemSampler } from '../../pretrained/distill';
import { intOpt, numOpt } from '../args';
import { fileOutputs } from '../outputs';
import { datasetByName, datasetDir, progressOnStderr } from '../host';

export interface DistillCliOptions {
  backend: string;
  model: string;
  endpoint?: string;
  dtype?: string;
  offline?: boolean;
  cacheDir?: string;
  dataset?: string;
  dataDir?: string;
  split?: string;
  items?: string;
  imageRoot?: string;
  limit?: string;
  n: string;
  maxNewTokens: string;
  temperature: string;
  topP: string;
  seed: string;
  grade: string;
  newline: string;
  onBad: string;
  out: string;
  records?: string;
  json?: boolean;
  quiet?: boolean;
  force?: boolean;
}

const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

async function loadItems(o: DistillCliOptions, limit: number | undefined): Promise<{ items: QAItem[]; label: string; imageRoot: string }> {
  if (!o.items === !o.dataset) throw new InputError('distill', 'give exactly one of --dataset (with --data-dir) or --items FILE.jsonl');
  const onBad = o.onBad as 'skip' | 'stop';
  let res;
  let label: string;
  let imageRoot: string;
  if (o.items) {
    const file = path.resolve(o.items);
    if (o.imageRoot && !(await isDir(o.imageRoot))) throw new InputError(o.imageRoot, 'image folder not found');
    res = await loadRecipeJsonl(nodeDirSource(path.dirname(file)), path.basename(file), {
      images: o.imageRoot ? nodeDirSource(path.resolve(o.imageRoot)) : undefined,
      limit,
      onBad,
      split: o.split,
    });
    label = path.basename(file);
    imageRoot = path.resolve(o.imageRoot ?? path.dirname(file));
  } else {
    if (!o.dataDir) throw new InputError('--data-dir', 'needed with --dataset');
    const spec = datasetByName(o.dataset!);
    const split = o.split ?? spec.defaultSplit;
    const dir = await datasetDir(spec, o.dataDir);
    res = await spec.load(nodeDirSource(dir), { split, onBad, limit });
    label = `${spec.name} ${split}`;
    imageRoot = path.resolve(dir);
  }
  if (res.items.length === 0) {
    const d = res.report.dropped[0];
    throw new InputError(
      res.report.source,
      `no usable items (${res.report.records} records, ${res.report.dropped.length} dropped${d ? `; first: ${d.where} ${d.reason}` : ''})`,
    );
  }
  return { items: res.items, label, imageRoot };
}

export async function distillCommand(o: DistillCliOptions): Promise<DistillResult> {
  // Every option and the items are checked before a model is loaded.
  if (o.backend !== 'lab' && o.backend !== 'transformers') throw new InputError('--backend', `must be lab or transformers, not "${o.backend}"`);
  const n = intOpt('n', o.n, 1);
  const limit = o.limit === undefined ? undefined : intOpt('limit', o.limit, 1);
  const maxNewTokens = intOpt('max-new-tokens', o.maxNewTokens, 1);
  const temperature = numOpt('temperature', o.temperature, 1e-4, 100);
  const topP = numOpt('top-p', o.topP, 1e-6, 1);
  const seed = intOpt('seed', o.seed, 0);
  if (o.grade !== 'reward' && o.grade !== 'grader') throw new InputError('--grade', `must be reward or grader, not "${o.grade}"`);
  if (o.newline !== 'literal' && o.newline !== 'real') throw new InputError('--newline', `must be literal or real, not "${o.newline}"`);
  if (o.onBad !== 'skip' && o.onBad !== 'stop') throw new InputError('--on-bad', `must be skip or stop, not "${o.onBad}"`);
  if (!o.out.endsWith('.jsonl')) throw new InputError('--out', `expected a .jsonl file name, got ${o.out}`);
  const out = path.resolve(o.out);
  const summaryPath = out.replace(/\.jsonl$/, '.summary.json');
  const recordsPath = o.records ? path.resolve(o.records) : null;
  await fileOutputs([out, summaryPath, recordsPath], o.force);
  const { items, label, imageRoot } = await loadItems(o, limit);
  const prompt = { newline: o.newline as 'literal' | 'real' };
  const log = o.quiet ? undefined : (s: string) => process.stderr.write(`${s}\n`);
  // Opened with the first record, so a teacher that fails to load leaves no empty file.
  let recStream: WriteStream | null = null;
  const openRecords = (file: string) => {
    mkdirSync(path.dirname(file), { recursive: true });
    return createWriteStream(file);
  };
  const onRecord = (r: DistillRecord) =>
    (recStream ??= recordsPath ? openRecords(recordsPath) : null)?.write(
      `${JSON.stringify({
        dataset_name: r.item.dataset_name,
        dataset_index: r.item.dataset_index,
        hash: r.item.hash,
        answer_label: r.item.answer_label,
        kept: r.kept,
        reasoning: r.reasoning,
        responses: r.responses,
      })}\n`,
    );
  const progress = progressOnStderr('distill', o.quiet);
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  const common = {
    n,
    seed,
    grade: o.grade as 'reward' | 'grader',
    signal: ac.signal,
    onRecord,
    onProgress: (d: number, t: number) => progress.update(d, t, label),
  };
  let result: DistillResult;
  let teacher: string;
  try {
    if (o.backend === 'transformers') {
      const { openPretrained } = await import('../../pretrained/backend-node');
      const { backend, info } = await openPretrained({ model: o.model, endpoint: o.endpoint, dtype: o.dtype, offline: o.offline, cacheDir: o.cacheDir, log });
      teacher = info.id;
      try {
        result = await backend.distill(items, { ...common, temperature, topP, maxNewTokens, prompt });
      } finally {
        await backend.unload();
      }
    } else {
      if (o.endpoint || o.dtype || o.offline) throw new InputError('--backend lab', '--endpoint, --dtype and --offline are for --backend transformers');
      if (!(await isDir(o.model))) throw new InputError(o.model, 'model folder not found');
      teacher = path.resolve(o.model);
      const tok = await loadTokenizer(nodeDirSource(o.model), o.model);
      const gpu = await createNodeGpu();
      const { model } = await loadModel(gpu, o.model);
      const sample: ItemSampler = async (item, k, so) => {
        const [s] = await sampleResponses(model, tok, [item], { n: k, temperature, topP, maxNewTokens, seed: so.seed, prompt, signal: so.signal });
        return s.responses.map((r) => ({ text: r.text, finished: r.finished, imagesSeen: s.prompt.nImages }));
      };
      try {
        result = await distill(items, sample, common);
      } finally {
        model.release();
        gpu.destroy();
      }
    }
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    const rs = recStream as WriteStream | null;
    if (rs) await new Promise<void>((resolve) => rs.end(() => resolve()));
  }
  // No trace: no empty traces file to be mistaken for a dataset (the summary says how it went).
  const empty = result.items.length === 0;
  await mkdir(path.dirname(out), { recursive: true });
  if (!empty) await writeFile(out, result.items.map((it) => `${JSON.stringify(recipeRow(it))}\n`).join(''));
  const summary = {
    teacher,
    items: label,
    questions: result.total,
    with_trace: result.withTrace,
    without_images: result.withoutImages,
    samples: result.samples,
    n,
    grade: o.grade,
    temperature,
    top_p: topP,
    max_new_tokens: maxNewTokens,
    seed,
    out: empty ? null : out,
    records: recStream ? recordsPath : null,
    // The rows name their images relative to this folder (pass it as --image-root when reading them).
    image_root: imageRoot,
  };
  await writeFile(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  if (empty)
    throw new Error(`none of the ${result.total} questions got a correct trace (${result.samples} samples): no traces file written; see ${summaryPath}`);
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    process.stdout.write(
      `distill: ${result.withTrace} of ${result.total} questions got a correct trace (${result.samples} samples, ${o.grade}); wrote ${out}\n`,
    );
    if (result.withoutImages)
      process.stdout.write(
        `distill: ${result.withoutImages} of ${result.total} questions were answered without (some of) their images (the teacher does not look at images, or only the first): their traces reason from the text alone\n`,
      );
  }
  return result;
}

export function registerDistill(program: Command) {
  program
    .command('distill')
    .description(
      "teacher traces for SFT (recipe §4): sample n responses per question, keep the first correct one as the item's reasoning, drop questions with none",
    )
    .requiredOption('--model <folder-or-id>', 'the teacher: a Hugging Face model id or folder (transformers), or a lab model folder (lab)')
    .option('--backend <name>', 'transformers (a pretrained model) or lab (the engine)', 'transformers')
    .option('--endpoint <url>', 'Hugging Face Hub mirror (transformers; default https://huggingface.co)')
    .option('--dtype <dtype>', 'transformers: fp32, fp16, q4, q4f16 or q8')
    .option('--offline', 'transformers: use only the download cache')
    .option('--cache-dir <dir>', 'transformers: where downloads are kept (default ~/.cache/thinker/transformers)')
    .option('--dataset <name>', 'dataset to distill (with --data-dir and --split)')
    .option('--data-dir <dir>', "data folder holding the dataset's folder, or the dataset folder itself")
    .option('--split <split>', "split (default: the dataset's default split)")
    .option('--items <file>', 'or: a JSONL file in the recipe schema (images as paths)')
    .option('--image-root <dir>', "folder the --items image paths are relative to (default: the file's folder)")
    .option('--limit <n>', 'first n questions only')
    .option('--n <n>', 'responses per question (the paper: 3)', '3')
    .option('--max-new-tokens <n>', 'response budget', '1024')
    .option('--temperature <t>', 'sampling temperature', '1')
    .option('--top-p <p>', 'nucleus mass', '1')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--grade <how>', 'reward (think/answer format required, as SFT targets need) or grader (the evaluation grader)', 'reward')
    .option('--newline <kind>', "the recipe instruction's \\n: literal (the paper's code) or real", 'literal')
    .option('--on-bad <mode>', 'malformed input or missing images: skip (report) or stop', 'skip')
    .requiredOption('--out <file.jsonl>', 'the questions that got a trace, with reasoning (recipe schema); a .summary.json is written beside it')
    .option('--records <file>', "also write every question's responses, grades and kept trace as JSONL")
    .option('--force', 'replace output files that exist')
    .option('--json', 'print the summary JSON')
    .option('--quiet', 'no progress on stderr')
    .action(async (o: DistillCliOptions) => {
      await distillCommand(o);
    });
}
