import type { Command } from 'commander';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InputError } from '../../engine/errors';
import { nodeDirSource } from '../../io/workspace';
import { loadTokenizer } from '../../io/tokenizer';
import { createNodeGpu } from '../../node/dawn';
import { loadModel } from '../../node/checkpoint';
import { findDataset, loadMedVlThinkerEval } from '../../data/loaders';
import type { LoadReport } from '../../data/report';
import type { QAItem } from '../../task/schema';
import { runEval, type BenchmarkInput, type EvalRecord } from '../../eval/run';
import { evalReportJson, formatEvalTable, type EvalBaseline } from '../../eval/report';
import { selectPaperRows } from '../../eval/paper';
import { intOpt, numOpt } from '../args';
import { progressOnStderr } from '../host';

/**
 * Benchmarks by name: the dataset loader that reads the source's own files, and the `dataset_name`
 * the paper's evaluation set (UCSC-VLAA/MedVLThinker-Eval parquet) gives its rows.
 */
export const EVAL_BENCHMARKS: { name: string; aliases: string[]; dataset: string | null; evalSet: string | null }[] = [
  { name: 'vqa-rad', aliases: ['vqa_rad', 'vqarad', 'vqa_rad_closed'], dataset: 'vqa-rad', evalSet: 'vqa_rad_closed' },
  { name: 'slake', aliases: ['slake_closed'], dataset: 'slake', evalSet: 'slake_closed' },
  { name: 'pathvqa', aliases: ['path-vqa', 'pathvqa_closed'], dataset: 'pathvqa', evalSet: 'pathvqa_closed' },
  { name: 'pmc-vqa', aliases: ['pmc_vqa', 'pmcvqa', 'pmc'], dataset: 'pmc-vqa', evalSet: 'pmc_vqa' },
  // MMMU's question texts are not openly copyable; the paper's evaluation set carries them.
  { name: 'mmmu', aliases: ['mmmu-medical', 'mmmu_medical'], dataset: null, evalSet: 'MMMU-medical' },
  { name: 'medxpertqa-mm', aliases: ['medxpertqa', 'medxpertqa_mm', 'medx-m'], dataset: 'medxpertqa-mm', evalSet: 'MedXpertQA-MM' },
  { name: 'medqa', aliases: ['medqa-usmle'], dataset: 'medqa', evalSet: null },
  { name: 'medmcqa', aliases: [], dataset: 'medmcqa', evalSet: null },
  { name: 'pubmedqa', aliases: ['pubmedqa-l'], dataset: 'pubmedqa', evalSet: null },
  { name: 'mmlu-med', aliases: ['mmlu', 'mmlu_medical', 'mmlu-medical'], dataset: 'mmlu-med', evalSet: null },
];

export const PAPER_SIX = ['pmc-vqa', 'mmmu', 'medxpertqa-mm', 'pathvqa', 'slake', 'vqa-rad'];

export type BenchmarkSource = 'auto' | 'native' | 'eval-set';

export function benchmarkByName(name: string) {
  const n = name.trim().toLowerCase();
  const spec = EVAL_BENCHMARKS.find((b) => b.name === n || b.aliases.includes(n));
  if (!spec)
    throw new InputError(
      '--benchmarks',
      `unknown benchmark "${name}" (choose ${EVAL_BENCHMARKS.map((b) => b.name).join(', ')}, or "paper" for the paper's six)`,
    );
  return spec;
}

/** Benchmark names from a comma list; "paper" stands for the paper's six. */
export function parseBenchmarkList(list: string): string[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .flatMap((s) => (s.toLowerCase() === 'paper' ? PAPER_SIX : [benchmarkByName(s).name]));
  if (names.length === 0) throw new InputError('--benchmarks', 'give at least one benchmark');
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new InputError('--benchmarks', `${dup} is listed twice`);
  return names;
}

const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

export interface LoadBenchmarksOptions {
  names: string[];
  dataDir: string;
  /** Split for the sources' own files (default: each dataset's test split); the evaluation set has only `test`. */
  split?: string;
  limit?: number;
  source?: BenchmarkSource;
  onBad?: 'skip' | 'stop';
}

export interface LoadedBenchmarks {
  benchmarks: BenchmarkInput[];
  /** What each loader saw, by benchmark (the evaluation set's one report is shared by the benchmarks read from it). */
  reports: Record<string, LoadReport & { from: string }>;
}

function dropSummary(r: LoadReport): string {
  const kinds = new Map<string, number>();
  for (const d of r.dropped) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
  const parts = [...kinds].map(([k, n]) => `${k} ${n}`);
  const first = r.dropped[0] ? `; first: ${r.dropped[0].where} ${r.dropped[0].reason}` : '';
  return `${r.records} records, ${r.out} items${parts.length ? `, dropped ${parts.join(', ')}` : ''}${first}`;
}

/**
 * Load benchmarks from a data folder: each from its own folder (DATA/<dataset>/) when there, else
 * from the paper's evaluation set (DATA/medvlthinker-eval/). Benchmarks that end with no usable item
 * are one InputError naming each with what its loader saw, before any GPU work.
 */
export async function loadBenchmarks(o: LoadBenchmarksOptions): Promise<LoadedBenchmarks> {
  if (!(await isDir(o.dataDir))) throw new InputError(o.dataDir, 'data folder not found');
  const source = o.source ?? 'auto';
  const evalDir = path.join(o.dataDir, findDataset('medvlthinker-eval')!.dir);
  const hasEvalSet = await isDir(evalDir);
  const reports: LoadedBenchmarks['reports'] = {};
  const byName = new Map<string, QAItem[]>();
  const fromEvalSet: string[] = [];
  const problems: string[] = [];

  for (const name of o.names) {
    const spec = benchmarkByName(name);
    const ds = spec.dataset ? findDataset(spec.dataset)! : null;
    const nativeDir = ds ? path.join(o.dataDir, ds.dir) : null;
    const useNative = source !== 'eval-set' && nativeDir !== null && (await isDir(nativeDir));
    if (useNative) {
      const split = o.split ?? ds!.defaultSplit;
      const res = await ds!.load(nodeDirSource(nativeDir!), { split, onBad: o.onBad, limit: o.limit });
      reports[spec.name] = { ...res.report, from: nativeDir! };
      byName.set(spec.name, res.items);
      if (res.items.length === 0) problems.push(`${spec.name} (${nativeDir}: ${dropSummary(res.report)})`);
    } else if (source !== 'native' && spec.evalSet && hasEvalSet) {
      if (o.split && o.split !== 'test') throw new InputError('--split', `${spec.name} comes from the paper's evaluation set, which has only the test split`);
      fromEvalSet.push(spec.name);
    } else {
      const looked = [
        nativeDir && source !== 'eval-set' ? nativeDir : null,
        spec.evalSet && source !== 'native' ? `${evalDir} (parquet with dataset_name ${spec.evalSet})` : null,
      ].filter(Boolean);
      problems.push(`${spec.name} (no data: looked for ${looked.join(' and ') || 'nothing: this source has none'})`);
    }
  }

  if (fromEvalSet.length) {
    const wanted = fromEvalSet.map((n) => benchmarkByName(n).evalSet!);
    const res = await loadMedVlThinkerEval(nodeDirSource(evalDir), { split: 'test', onBad: o.onBad, benchmarks: wanted });
    for (const name of fromEvalSet) {
      const evalName = benchmarkByName(name).evalSet!;
      const items = res.items.filter((it) => it.dataset_name === evalName);
      byName.set(name, o.limit ? items.slice(0, o.limit) : items);
      reports[name] = { ...res.report, from: evalDir };
      if (items.length === 0) problems.push(`${name} (${evalDir}: no usable rows with dataset_name ${evalName}; ${dropSummary(res.report)})`);
    }
  }
  if (problems.length) throw new InputError('eval', `no usable items in ${problems.length} benchmark(s): ${problems.join('; ')}`);
  return { benchmarks: o.names.map((name) => ({ name, items: byName.get(name)! })), reports };
}

// ---------------------------------------------------------------------------------------------

export interface EvalCliOptions {
  model: string;
  benchmarks: string;
  dataDir: string;
  split?: string;
  source: string;
  limit?: string;
  n: string;
  maxNewTokens: string;
  batch: string;
  temperature: string;
  topP: string;
  seed: string;
  out?: string;
  json?: boolean;
  paperRows: string;
  newline: string;
  onBad: string;
  quiet?: boolean;
  /** lab (default): the engine; transformers: a pretrained model through transformers.js (src/pretrained). */
  backend?: string;
  endpoint?: string;
  dtype?: string;
  offline?: boolean;
  cacheDir?: string;
  /** Also evaluate this model folder (e.g. the base a run started from) on the same items, and print the difference. */
  baseline?: string;
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

/** `thinker eval`: the paper's evaluation on a lab model; writes records.jsonl, summary.json and table.txt. */
export async function evalCommand(o: EvalCliOptions): Promise<void> {
  // Every option and every file is checked before the GPU starts.
  const names = parseBenchmarkList(o.benchmarks);
  const limit = o.limit === undefined ? undefined : intOpt('limit', o.limit, 1);
  const n = intOpt('n', o.n, 1);
  const maxNewTokens = intOpt('max-new-tokens', o.maxNewTokens, 1);
  const batchSize = intOpt('batch', o.batch, 1);
  const temperature = numOpt('temperature', o.temperature, 1e-4, 100);
  const topP = numOpt('top-p', o.topP, 1e-6, 1);
  const seed = intOpt('seed', o.seed, 0);
  if (!['auto', 'native', 'eval-set'].includes(o.source)) throw new InputError('--source', `must be auto, native or eval-set, not "${o.source}"`);
  if (o.onBad !== 'skip' && o.onBad !== 'stop') throw new InputError('--on-bad', `must be skip or stop, not "${o.onBad}"`);
  if (o.newline !== 'literal' && o.newline !== 'real') throw new InputError('--newline', `must be literal or real, not "${o.newline}"`);
  const paperRows =
    o.paperRows === 'none'
      ? []
      : selectPaperRows(
          o.paperRows === 'all'
            ? []
            : o.paperRows
                .split(',')
                .map((s) => s.trim())
                .filter(Boolean),
        );
  if (o.paperRows !== 'none' && o.paperRows !== 'all' && paperRows.length === 0) throw new InputError('--paper-rows', `no paper row matches "${o.paperRows}"`);
  const backend = o.backend ?? 'lab';
  if (backend !== 'lab' && backend !== 'transformers') throw new InputError('--backend', `must be lab or transformers, not "${backend}"`);
  const pretrained = backend === 'transformers';
  if (!pretrained && (o.endpoint || o.dtype || o.offline))
    throw new InputError('--backend lab', '--endpoint, --dtype and --offline are for --backend transformers');
  if (!pretrained && !(await isDir(o.model))) throw new InputError(o.model, 'model folder not found');
  const tok = pretrained ? null : await loadTokenizer(nodeDirSource(o.model), o.model);
  const { benchmarks, reports } = await loadBenchmarks({
    names,
    dataDir: o.dataDir,
    split: o.split,
    limit,
    source: o.source as BenchmarkSource,
    onBad: o.onBad,
  });

  const label = pretrained && !(await isDir(o.model)) ? o.model.split('/').pop()! : path.basename(path.resolve(o.model));
  const out = path.resolve(o.out ?? path.join('out', 'eval', `${label}-${stamp()}`));
  await mkdir(out, { recursive: true });
  // The baseline first, on the same benchmarks, items and settings, into out/baseline.
  let baseline: EvalBaseline | undefined;
  if (o.baseline) {
    const bout = path.join(out, 'baseline');
    await evalCommand({ ...o, model: o.baseline, baseline: undefined, out: bout, paperRows: 'none', json: false });
    const run = (JSON.parse(await readFile(path.join(bout, 'summary.json'), 'utf8')) as { run: EvalBaseline['summary'] & { label: string } }).run;
    baseline = { label: run.label, summary: run };
  }
  const recordsPath = path.join(out, 'records.jsonl');
  const stream: WriteStream = createWriteStream(recordsPath);
  const write = (r: EvalRecord) => {
    stream.write(`${JSON.stringify(r)}\n`);
  };

  // The pretrained backend decodes on ONNX Runtime (CPU): no GPU device is opened for it.
  const opened = pretrained
    ? await (await import('../../pretrained/backend-node')).openPretrained({
        model: o.model,
        endpoint: o.endpoint,
        dtype: o.dtype,
        offline: o.offline,
        cacheDir: o.cacheDir,
        log: o.quiet ? undefined : (s) => process.stderr.write(`${s}\n`),
      })
    : null;
  const gpu = pretrained ? null : await createNodeGpu();
  const model = gpu ? (await loadModel(gpu, o.model)).model : null;
  const progress = progressOnStderr('eval', o.quiet);
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  try {
    const evalOpts = {
      n,
      limit,
      maxNewTokens,
      batchSize,
      temperature,
      topP,
      seed,
      prompt: { newline: o.newline as 'literal' | 'real' },
      signal: ac.signal,
      onRecord: write,
      onProgress: (p: { done: number; total: number; benchmark: string }) => progress.update(p.done, p.total, p.benchmark),
    };
    const { summary } = opened ? await opened.backend.evaluate(benchmarks, evalOpts) : await runEval(model!, tok!, benchmarks, evalOpts);
    progress.stop();
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    const report = {
      ...evalReportJson(summary, label, paperRows),
      ...(baseline ? { baseline: { label: baseline.label, summary: path.join(out, 'baseline', 'summary.json'), average: baseline.summary.average } } : {}),
      model: opened ? opened.info.id : path.resolve(o.model),
      data_dir: path.resolve(o.dataDir),
      files: { records: recordsPath, summary: path.join(out, 'summary.json'), table: path.join(out, 'table.txt') },
      load_reports: Object.fromEntries(
        Object.entries(reports).map(([k, r]) => [
          k,
          {
            from: r.from,
            dataset: r.dataset,
            split: r.split,
            records: r.records,
            in: r.in,
            out: r.out,
            dropped: r.dropped.length,
            excluded: r.excluded,
            notes: r.notes,
          },
        ]),
      ),
      device: gpu
        ? gpu.info.description || gpu.info.vendor || 'unknown'
        : `transformers.js on onnxruntime-node (${opened!.info.device}${opened!.info.dtype ? `, ${opened!.info.dtype}` : ''})`,
    };
    const table = formatEvalTable(summary, label, paperRows, baseline);
    await writeFile(report.files.summary, `${JSON.stringify(report, null, 2)}\n`);
    await writeFile(report.files.table, `${table}\n`);
    if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`${table}\n`);
    if (!o.quiet) {
      process.stderr.write(
        `eval: ${summary.generated_tokens} tokens in ${summary.seconds.toFixed(1)} s (${(summary.generated_tokens / Math.max(summary.seconds, 1e-9)).toFixed(1)} tokens/s); wrote ${out}\n`,
      );
    }
  } finally {
    process.off('SIGINT', onSigint);
    progress.stop();
    if (!stream.closed) stream.end();
    model?.release();
    gpu?.destroy();
    await opened?.backend.unload();
  }
}

export function registerEval(program: Command) {
  program
    .command('eval')
    .description(
      "evaluate a model on medical benchmarks the paper's way: recipe prompt, greedy decoding, the paper's grader; accuracy per benchmark and the unweighted average, printed beside the paper's reported rows",
    )
    .requiredOption(
      '--model <dir>',
      'model folder (config.json, model.safetensors, tokenizer.json); with --backend transformers, a Hugging Face model id or an ONNX folder',
    )
    .option('--backend <name>', 'lab (the engine on WebGPU) or transformers (a pretrained model through transformers.js, on the CPU)', 'lab')
    .option('--endpoint <url>', 'transformers: Hugging Face Hub mirror (default https://huggingface.co)')
    .option('--dtype <dtype>', 'transformers: fp32, fp16, q4, q4f16 or q8')
    .option('--offline', 'transformers: use only the download cache')
    .option('--cache-dir <dir>', 'transformers: where downloads are kept (default ~/.cache/thinker/transformers)')
    .requiredOption('--benchmarks <list>', `comma-separated: ${EVAL_BENCHMARKS.map((b) => b.name).join(', ')}, or "paper" for the paper's six`)
    .requiredOption(
      '--data-dir <dir>',
      "data folder holding each dataset's folder (vqa-rad/, slake/, ...) and/or medvlthinker-eval/ (the paper's evaluation parquet)",
    )
    .option('--split <split>', "split of the datasets' own files (default: each one's test split)")
    .option('--source <where>', "auto (a dataset's own folder, else the evaluation set), native or eval-set", 'auto')
    .option('--limit <n>', 'first n items of each benchmark (quick runs)')
    .option('--n <n>', 'also sample n responses per item for pass@n and majority vote (1 = greedy only)', '1')
    .option('--max-new-tokens <n>', "response budget (the paper: 4096; clipped to the model's context)", '4096')
    .option('--batch <n>', 'sequences decoded together', '16')
    .option('--temperature <t>', 'sampling temperature of the n samples', '1')
    .option('--top-p <p>', 'nucleus mass of the n samples', '1')
    .option('--seed <n>', 'sampling seed', '0')
    .option('--newline <kind>', "the instruction's \\n: literal (the paper's code) or real", 'literal')
    .option('--on-bad <mode>', 'malformed input or missing images: skip (report) or stop', 'skip')
    .option('--paper-rows <which>', 'paper rows to print: all, none, or comma-separated name filters (e.g. 3B,GPT-4o)', 'all')
    .option(
      '--baseline <dir>',
      'also evaluate this model (e.g. the base a fine-tune started from) on the same items, into OUT/baseline, and print the difference',
    )
    .option('--out <dir>', 'folder for records.jsonl, summary.json and table.txt (default out/eval/<model>-<time>)')
    .option('--json', 'print the summary JSON instead of the table')
    .option('--quiet', 'no progress on stderr')
    .action(evalCommand);
}
