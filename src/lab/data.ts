// The lab's datasets: importing a folder the user picked through a loader into the store, paging
// items for the UI (stored or generated on the fly), and pass-count curation with a model.
// The format of the stored datasets is src/data/store.ts.
import { InputError, cancelled } from '../engine/errors';
import { imageFormat } from '../io/images';
import { DATASETS, findDataset, loadGeneric, loadMedVlThinkerEval, loadPathVqa, type ColumnMapping, type GenericOptions } from '../data/loaders';
import { downloadHubDataset, formatHubProgress } from '../data/hub';
import { parquetColumns } from '../data/parquet';
import type { LoadResult } from '../data/report';
import type { QAItem } from '../task/schema';
import { joinWhere, type FileSource } from '../io/files';
import { type MemoryWorkspace, isCompleteFolder, pickedSource } from '../io/workspace';
import { checkCurateSettings, curate, passCounts } from '../recipe/curate';
import { loadRecipeJsonl } from '../data/loaders/recipe';
import {
  DATASETS_DIR,
  SPLIT_NAME,
  dataLabel,
  forgetDataset,
  formatCounts,
  readDatasetInfo,
  requireFreeName,
  resolveItems,
  writeDataset,
  type DatasetInfo,
} from '../data/store';
import { checkName } from '../util/names';
import { progressReporter } from '../util/progress';
import type { CurateReply, CurateRequest, EngineApi, ImportFolderRequest, ImportHubRequest, ItemView, Progress } from './api';
import type { LabContext } from './context';
import type { LabLocks } from './locks';
import { openModel, requireModel } from './models';

type Calls = Pick<EngineApi, 'previewItems' | 'importFolder' | 'importHub' | 'listDatasets' | 'deleteDataset' | 'curate'>;

/** Items per previewItems call: a page for the UI, not an export. */
export const MAX_PREVIEW = 500;

/**
 * `fn` as the one writer of datasets/NAME (an import, a curation or distillation saving there):
 * another tab or worker writing the same name is refused, from the free-name check to the write.
 */
export function owningDataset<T>(locks: LabLocks, name: string, fn: () => Promise<T>): Promise<T> {
  return locks.hold(
    `${DATASETS_DIR}/${name}`,
    `${DATASETS_DIR}/${name}`,
    'is being written by another tab or job (an import, a curation or saved traces); wait until it ends or choose another name',
    fn,
  );
}

// ---------------------------------------------------------------------------------------------
// Loading a picked folder.

/** Loaders for one data file with a column mapping (src/data/loaders/generic.ts). */
const GENERIC = ['jsonl', 'json', 'csv', 'parquet'] as const;
const MAPPING_KEYS = ['question', 'options', 'answerLabel', 'answer', 'image', 'images', 'reasoning', 'index'] as const;
const SETTING_KEYS = ['file', 'split', 'imageDir', 'closed', 'optionColumns'] as const;

/**
 * The generic loaders' settings from ImportFolderRequest.columns: the field -> column mapping
 * (question, options, answerLabel, answer, image, images, reasoning, index), optionColumns as a
 * comma-separated list of columns in letter order, and file (the data file, needed when the folder
 * holds several of that format), split (the split's name, default "train"), imageDir, closed ("true":
 * open-ended answers -> multiple choice).
 */
async function genericOptions(
  src: FileSource,
  format: (typeof GENERIC)[number],
  columns: Record<string, string> | undefined,
  name: string,
): Promise<{ opts: GenericOptions; split: string }> {
  const where = `import ${name}: columns`;
  if (!columns || typeof columns !== 'object')
    throw new InputError(where, `the ${format} loader needs a column mapping (at least question, options and answerLabel or answer)`);
  for (const [k, v] of Object.entries(columns)) {
    if (!(MAPPING_KEYS as readonly string[]).includes(k) && !(SETTING_KEYS as readonly string[]).includes(k)) {
      throw new InputError(`${where}.${k}`, `unknown key (known: ${[...MAPPING_KEYS, ...SETTING_KEYS].join(', ')})`);
    }
    if (typeof v !== 'string' || v === '') throw new InputError(`${where}.${k}`, 'must be a non-empty string');
  }
  const ext = format === 'csv' ? /\.(csv|tsv)$/i : format === 'jsonl' ? /\.(jsonl|ndjson)$/i : new RegExp(`\\.${format}$`, 'i');
  let file = columns.file;
  if (file === undefined) {
    const found = (await src.list()).filter((f) => ext.test(f));
    if (found.length === 0) throw new InputError(src.name, `no ${format} file in this folder`);
    if (found.length > 1)
      throw new InputError(
        src.name,
        `${found.length} ${format} files (${found.slice(0, 5).join(', ')}${found.length > 5 ? ', ...' : ''}): name one with columns.file`,
      );
    file = found[0];
  } else if (!(await src.exists(file))) {
    throw new InputError(joinWhere(src.name, file), 'file not found (columns.file)');
  }
  const mapping: ColumnMapping = { question: columns.question };
  for (const k of MAPPING_KEYS) if (columns[k] !== undefined) (mapping as unknown as Record<string, string>)[k] = columns[k];
  if (columns.optionColumns)
    mapping.optionColumns = columns.optionColumns
      .split(',')
      .map((c) => c.trim())
      .filter(Boolean);
  if (columns.closed !== undefined && columns.closed !== 'true' && columns.closed !== 'false')
    throw new InputError(`${where}.closed`, `must be "true" or "false", got "${columns.closed}"`);
  const split = columns.split ?? 'train';
  return {
    opts: { file, format, columns: mapping, datasetName: name, closed: columns.closed === 'true', imageDir: columns.imageDir, split },
    split,
  };
}

interface LoadedSplits {
  source: string;
  splits: { name: string; result: LoadResult }[];
}

const KNOWN_LOADERS = () => [...DATASETS.map((d) => d.name), 'recipe', ...GENERIC].join(', ');

/**
 * Read a folder with a named loader: every split that loader knows and finds in the folder (or
 * only `splits`), the recipe-schema JSONL files of the folder (loader "recipe": one split per
 * file, as the lab stores datasets), or one data file through a column mapping.
 */
async function loadFolder(src: FileSource, req: { name: string; loader: string; columns?: Record<string, string>; splits?: string[] }): Promise<LoadedSplits> {
  const loader = typeof req.loader === 'string' ? req.loader : '';
  if ((GENERIC as readonly string[]).includes(loader)) {
    const { opts, split } = await genericOptions(src, loader as (typeof GENERIC)[number], req.columns, req.name);
    return { source: loader, splits: [{ name: split, result: await loadGeneric(src, opts) }] };
  }
  if (loader === 'recipe') {
    const files = (await src.list()).filter((f) => !f.includes('/') && f.endsWith('.jsonl'));
    if (files.length === 0) throw new InputError(src.name, 'no .jsonl files at the top of this folder (the recipe loader reads one split per file)');
    const out: LoadedSplits = { source: 'recipe', splits: [] };
    for (const f of files) {
      const split = f.replace(/\.jsonl$/, '');
      if (req.splits && !req.splits.includes(split)) continue;
      out.splits.push({ name: split, result: await loadRecipeJsonl(src, f, { split }) });
    }
    return out;
  }
  const spec = findDataset(loader);
  if (!spec) throw new InputError(`import ${req.name}`, `unknown loader "${loader}" (known: ${KNOWN_LOADERS()})`);
  const wanted = req.splits ?? spec.splits.filter((s) => s !== 'all');
  for (const s of wanted)
    if (!spec.splits.includes(s)) throw new InputError(`import ${req.name}`, `${spec.name} has no split "${s}" (it has ${spec.splits.join(', ')})`);
  const out: LoadedSplits = { source: spec.name, splits: [] };
  let firstError: unknown = null;
  for (const split of wanted) {
    try {
      out.splits.push({ name: split, result: await spec.load(src, { split }) });
    } catch (e) {
      // A folder with only some splits (SLAKE's test.json alone) is fine unless the split was asked for.
      if (!(e instanceof InputError) || req.splits) throw e;
      firstError ??= e;
    }
  }
  if (out.splits.length === 0 && firstError) throw firstError;
  return out;
}

function droppedCounts(loaded: LoadedSplits): Record<string, number> {
  const c: Record<string, number> = {};
  for (const { result } of loaded.splits) {
    for (const d of result.report.dropped) c[d.kind] = (c[d.kind] ?? 0) + 1;
    for (const [why, n] of Object.entries(result.report.excluded)) c[`excluded: ${why}`] = (c[`excluded: ${why}`] ?? 0) + n;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// The Hugging Face Hub.

/** Columns of the recipe schema (§1) that a Hub parquet must have to be read as items. */
const RECIPE_COLUMNS = ['question', 'options', 'answer_label'];

/**
 * Which loader reads a downloaded Hub split: a known dataset's own loader when the repo names one
 * that reads parquet (PathVQA), else the recipe-schema reader (MedVLThinker's released sets and any
 * parquet with question / options / answer_label columns, images embedded).
 */
async function loadHubFiles(files: MemoryWorkspace, req: ImportHubRequest): Promise<LoadResult> {
  const spec = findDataset(req.repo) ?? findDataset(req.repo.slice(req.repo.lastIndexOf('/') + 1));
  if (spec?.load === loadPathVqa) return loadPathVqa(files, { split: req.split });
  const first = (await files.list()).find((f) => f.endsWith('.parquet'));
  if (!first) throw new InputError(`hf ${req.repo}`, `no parquet files arrived for split "${req.split}"`);
  const cols = parquetColumns(await files.read(first), `hf ${req.repo}/${first}`);
  const missing = RECIPE_COLUMNS.filter((c) => !cols.includes(c));
  if (missing.length) {
    throw new InputError(
      `hf ${req.repo}`,
      `its parquet has no ${missing.join(', ')} column (it has ${cols.join(', ')}): the lab reads Hub sets in the recipe schema; ` +
        'download the files and import the folder with a column mapping (loader "parquet")',
    );
  }
  return loadMedVlThinkerEval(files, { split: req.split });
}

// ---------------------------------------------------------------------------------------------

async function itemView(item: QAItem): Promise<ItemView> {
  const images: ItemView['images'] = [];
  for (const im of item.images) {
    const bytes = await im.load();
    const fmt = imageFormat(bytes);
    if (!fmt) throw new InputError(`${item.dataset_name}[${item.dataset_index}] image ${im.name}`, 'is not a JPEG or PNG image');
    images.push({ name: im.name, mime: fmt === 'jpeg' ? 'image/jpeg' : 'image/png', bytes });
  }
  const v: ItemView = {
    question: item.question,
    options: item.options,
    answer_label: item.answer_label,
    answer: item.answer,
    dataset_name: item.dataset_name,
    dataset_index: item.dataset_index,
    hash: item.hash,
    images,
  };
  if (item.reasoning !== undefined) v.reasoning = item.reasoning;
  if (item.split !== undefined) v.split = item.split;
  return v;
}

export interface ImportFolderFromRequest extends Omit<ImportFolderRequest, 'files'> {
  /** Only these splits of a named loader (default: every split it finds). */
  splits?: string[];
}

export interface DataInternal {
  /** importFolder from any FileSource (Node has no directory handles). */
  importFrom(req: ImportFolderFromRequest, src: FileSource, onProgress?: (p: Progress) => void): Promise<DatasetInfo>;
  /** importHub with an injected fetch (tests, hosts with their own). */
  importHubWith(req: ImportHubRequest, onProgress: ((p: Progress) => void) | undefined, fetchImpl: typeof fetch | undefined): Promise<DatasetInfo>;
}

export function dataApi(ctx: LabContext): Calls & DataInternal {
  const ws = ctx.ws;

  async function importFrom(req: ImportFolderFromRequest, src: FileSource, onProgress?: (p: Progress) => void): Promise<DatasetInfo> {
    return owningDataset(ctx.locks, checkName('import', req.name), () => importFromOwned(req, src, onProgress));
  }

  async function importFromOwned(req: ImportFolderFromRequest, src: FileSource, onProgress?: (p: Progress) => void): Promise<DatasetInfo> {
    const name = await requireFreeName(ws, req.name, 'import');
    onProgress?.({ phase: `reading ${src.name} with the ${req.loader} loader`, done: 0, total: 1 });
    const loaded = await loadFolder(src, { ...req, name });
    const dropped = droppedCounts(loaded);
    const splits = loaded.splits.filter((s) => s.result.items.length > 0).map((s) => ({ name: s.name, items: s.result.items }));
    const read = splits.reduce((a, s) => a + s.items.length, 0);
    onProgress?.({ phase: `read ${read} items`, done: 1, total: 1 });
    if (read === 0) {
      throw new InputError(
        src.name,
        `the ${loaded.source} loader found no usable items here${Object.keys(dropped).length ? ` (${formatCounts(dropped)})` : ''}`,
      );
    }
    return writeDataset(ws, name, loaded.source, splits, dropped, onProgress);
  }

  async function importHubWith(
    req: ImportHubRequest,
    onProgress: ((p: Progress) => void) | undefined,
    fetchImpl: typeof fetch | undefined,
  ): Promise<DatasetInfo> {
    return owningDataset(ctx.locks, checkName('import', req.name), () =>
      // The worker's cancel call ends the download (the dataset is written only from whole files).
      ctx.cancellable(async (signal) => {
        try {
          return await importHubOwned(req, onProgress, fetchImpl, signal);
        } catch (e) {
          if (signal.aborted) throw cancelled(`the download of ${req.repo}`);
          throw e;
        }
      }),
    );
  }

  async function importHubOwned(
    req: ImportHubRequest,
    onProgress: ((p: Progress) => void) | undefined,
    fetchImpl: typeof fetch | undefined,
    signal: AbortSignal,
  ): Promise<DatasetInfo> {
    const name = await requireFreeName(ws, req.name, 'import');
    if (typeof req.split !== 'string' || !SPLIT_NAME.test(req.split)) throw new InputError('import.split', `${JSON.stringify(req.split)} is not a split name`);
    // The parquet files are held in memory until parsed; the dataset stores the items, not the files.
    const { files } = await downloadHubDataset({
      repo: req.repo,
      split: req.split,
      config: req.config || undefined,
      endpoint: req.endpoint || undefined,
      token: req.token || undefined,
      fetch: fetchImpl,
      signal,
      onProgress: (p) =>
        onProgress?.({
          phase: formatHubProgress(p),
          done: p.bytesDone,
          total: p.bytesTotal ?? Math.max(p.bytesDone, 1),
          ...(p.etaSeconds !== null ? { etaSeconds: p.etaSeconds } : {}),
        }),
    });
    onProgress?.({ phase: `reading the ${req.split} split`, done: 0, total: 1 });
    const result = await loadHubFiles(files, req);
    const dropped = droppedCounts({ source: '', splits: [{ name: req.split, result }] });
    if (result.items.length === 0)
      throw new InputError(`hf ${req.repo}`, `no usable items in split "${req.split}"${Object.keys(dropped).length ? ` (${formatCounts(dropped)})` : ''}`);
    return writeDataset(ws, name, `hub:${req.repo}`, [{ name: req.split, items: result.items }], dropped, onProgress);
  }

  async function curateOwned(
    req: CurateRequest,
    settings: ReturnType<typeof checkCurateSettings>,
    saveAs: string | undefined,
    onProgress: ((p: Progress) => void) | undefined,
  ): Promise<CurateReply> {
    return ctx.exclusive('curation', async (signal) => {
      const items = await resolveItems(ws, req.data, 'curate.data');
      if (items.length === 0) throw new InputError('curate.data', 'no items to curate');
      const { model, tok } = await openModel(ctx, req.model);
      const report = progressReporter(onProgress);
      const k = settings.k;
      const phase = `sampling ${k} answers per question`;
      report({ phase, done: 0, total: items.length });
      let entries;
      try {
        entries = await passCounts(model, tok, items, {
          k,
          maxNewTokens: req.maxNewTokens,
          seed: settings.seed,
          signal,
          onProgress: (done, total) => report({ phase, done: Math.floor(done / k), total: Math.floor(total / k) }),
        });
      } catch (e) {
        if (signal.aborted) throw cancelled('curation');
        throw e;
      }
      const res = curate(entries, settings);
      const reply: Awaited<ReturnType<Calls['curate']>> = { histogram: res.histogram, total: res.total, kept: res.kept.length };
      if (saveAs !== undefined) {
        if (res.kept.length === 0) throw new InputError('curate.saveAs', `no question has a pass count in ${settings.lo}..${settings.hi}: nothing to save`);
        // Curated sets are training data; they keep the split name they were drawn from when there is one.
        const split = req.data.kind === 'dataset' ? (req.data.split ?? 'train') : req.data.options.split;
        reply.saved = await writeDataset(
          ws,
          saveAs,
          `curated:${dataLabel(req.data)}`,
          [{ name: split, items: res.kept.map((e) => e.item), passCounts: res.kept.map((e) => e.passCount) }],
          {},
          onProgress,
          signal,
        );
      }
      return reply;
    });
  }

  return {
    importFrom,
    importHubWith,

    async importFolder(req, onProgress) {
      return importFrom({ name: req.name, loader: req.loader, columns: req.columns, splits: req.splits }, pickedSource(req.files), onProgress);
    },

    async importHub(req, onProgress) {
      return importHubWith(req, onProgress, undefined);
    },

    async listDatasets() {
      const out: DatasetInfo[] = [];
      for (const e of await ws.listDir(DATASETS_DIR)) {
        if (e.kind !== 'dir' || !SPLIT_NAME.test(e.name)) continue;
        const dir = `${DATASETS_DIR}/${e.name}`;
        // Torn writes (no marker) are not datasets; deleteDataset still removes them.
        if (!(await isCompleteFolder(ws, dir))) continue;
        out.push(await readDatasetInfo(ws, e.name));
      }
      return out;
    },

    async deleteDataset(name) {
      checkName('delete dataset', name);
      const dir = `${DATASETS_DIR}/${name}`;
      await owningDataset(ctx.locks, name, async () => {
        if ((await ws.listDir(dir)).length === 0) throw new InputError(dir, 'no such dataset');
        forgetDataset(ws, name);
        await ws.remove(dir);
      });
    },

    async previewItems(data, offset, count) {
      for (const [k, v] of [
        ['offset', offset],
        ['count', count],
      ] as const) {
        if (!Number.isInteger(v) || v < 0) throw new InputError(`preview ${k}`, `must be an integer >= 0, got ${v}`);
      }
      if (count > MAX_PREVIEW) throw new InputError('preview count', `at most ${MAX_PREVIEW} items per page, got ${count}`);
      const items = await resolveItems(ws, data, 'preview');
      const page = items.slice(offset, offset + count);
      const views: ItemView[] = [];
      for (const it of page) views.push(await itemView(it));
      return { total: items.length, items: views };
    },

    async curate(req: CurateRequest, onProgress) {
      const settings = checkCurateSettings(req.settings, 'curate.settings');
      if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1)
        throw new InputError('curate.maxNewTokens', `must be an integer >= 1, got ${req.maxNewTokens}`);
      await requireModel(ws, req.model);
      const saveAs = req.saveAs !== undefined ? checkName('curate.saveAs', req.saveAs) : undefined;
      // Saving holds the name from its check to the write, the whole curation long.
      const owned = <T>(fn: () => Promise<T>) => (saveAs !== undefined ? owningDataset(ctx.locks, saveAs, fn) : fn());
      return owned(async () => {
        if (saveAs !== undefined) await requireFreeName(ws, saveAs, 'curate.saveAs');
        return curateOwned(req, settings, saveAs, onProgress);
      });
    },
  };
}
