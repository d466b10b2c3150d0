// Does the engine run HuggingFaceTB/SmolVLM-256M-Instruct as the model's own published ONNX files
// do? For a few VQA-RAD questions (or any images), the engine (Dawn) and transformers.js (the
// official ONNX files on onnxruntime-node's CPU backend) are given the same prompt: the
// checkpoint's chat template and Idefics3 image processor, as the engine builds it. Per question:
//   - input ids: the engine's prompt tokens against transformers.js's own processor's (the token
//     sequence after image expansion: tile grid, row/column tokens, <image> runs);
//   - first-token logits over the whole vocabulary at the last prompt position, both models fed the
//     same ids and the engine's pixel tiles: max |diff|, relative to the largest |logit|, top-5 of
//     each, whether the argmax agrees;
//   - greedy answers, --max-new-tokens each (no banned tokens on either side, the same end ids);
//   - for information: transformers.js end to end (its own processor, whose resizes are not
//     Pillow's as transformers' and the engine's are), logits difference and argmax.
//
//   npx tsx scripts/check-smolvlm.ts [--model DIR_OR_REPO] [--onnx-dir DIR] [--dtype fp32]
//     [--images DIR] [--n 4] [--max-new-tokens 16] [--tol X] [--question TEXT]
//     [--cache-dir DIR] [--endpoint URL] [--token T] [--json]
//
// --model: a folder (config.json, model.safetensors, tokenizer.json, chat template, and
// preprocessor_config.json / processor_config.json; with onnx/ inside, transformers.js reads the
// ONNX files from there too), or a Hub repo id (default HuggingFaceTB/SmolVLM-256M-Instruct),
// downloaded once into --cache-dir/<repo> (default $THINKER_MODEL_CACHE or
// ~/.cache/thinker/transformers: transformers.js's file-cache layout, which the lab's pretrained
// backend reads too) through the lab's Hub requests (src/data/hub.ts; --endpoint or $HF_ENDPOINT
// for a mirror, --token or $HF_TOKEN; an interrupted download resumes). --onnx-dir: the ONNX files from elsewhere (a folder laid out as the repo,
// or one holding the .onnx files); without it and without <model>/onnx, they come from the Hub.
// --images: a VQA-RAD folder (or a data folder holding vqa-rad/; default ../shared/data beside the
// repository): the first --n closed test questions; or any folder of PNG/JPEG images, each asked
// --question. --dtype picks the ONNX files (fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4; default
// fp32, which the repo publishes) and with it the default tolerance on max |diff| / max |logit|
// (TOLERANCE below; --tol overrides). A disagreement of argmax or of the greedy answers fails unless
// it is a near-tie: both models score the two tokens within the tolerance of each other.
//
// Exit status: 0 when every question agrees, 1 when one does not (the report says where), 2 when
// the check could not run (a bad option, a missing file, no network for a download).
// --json prints one line on stdout: {"pass": bool, "items": [...], ...}; progress goes to stderr.
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FileSource } from '../src/io/files';
import type { TextTokenizer } from '../src/io/tokenizer';
import type { Model } from '../src/model/model';
import type { QAItem } from '../src/task/schema';

export const DEFAULT_REPO = 'HuggingFaceTB/SmolVLM-256M-Instruct';
const HUB = 'https://huggingface.co';
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_IMAGES = path.resolve(REPO_ROOT, '../shared/data');
const DEFAULT_QUESTION = 'Can you describe this image?';

/** transformers.js's ONNX file suffix per dtype (DEFAULT_DTYPE_SUFFIX_MAPPING), for finding files in a folder. */
const DTYPE_SUFFIX: Record<string, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
};
/**
 * Default tolerance on max |engine - reference| / max |reference logit| per ONNX dtype: first
 * estimates, to revisit once the check has run on the real model. fp32 runs the checkpoint's own
 * weights (bf16 values, exact in f32) in another implementation's f32 arithmetic, whose rounding
 * through 30 decoder and 12 vision layers over ~1,100 prompt tokens should stay well under 1e-3 of
 * the largest logit (the SmolVLM-shaped tiny model of the test agrees to ~1e-6), while a wrong
 * kernel, layout or constant moves it by 1e-1 or more (the test's missing pixel shuffle: 0.3-0.5).
 * fp16 rounds weights and activations at ~1e-3 per op; 8-bit and 4-bit weights move the logits by
 * several percent.
 */
export const TOLERANCE: Record<string, number> = { fp32: 2e-3, fp16: 2e-2, q8: 0.15, int8: 0.15, uint8: 0.15, q4: 0.3, q4f16: 0.3, bnb4: 0.3 };
const ONNX_SESSIONS = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'];
const CHAT_TEMPLATE_FILES = ['chat_template.json', 'chat_template.jinja'];
/** What the engine needs from the model folder beside the weights (and a chat template, checkEngineFolder). */
const ENGINE_REQUIRED = ['config.json', 'tokenizer.json', 'preprocessor_config.json', 'processor_config.json'];
/**
 * The repo's small files in download order (optional ones may be absent from a repo): config.json
 * first, processor_config.json last, so that a folder holding processor_config.json had every
 * other file fetched before it and a later run needs no network.
 */
const SMALL_FILES: { file: string; optional?: boolean }[] = [
  { file: 'tokenizer.json' },
  ...[
    'tokenizer_config.json',
    'special_tokens_map.json',
    'added_tokens.json',
    'generation_config.json',
    'vocab.json',
    'merges.txt',
    ...CHAT_TEMPLATE_FILES,
  ].map((file) => ({ file, optional: true })),
  { file: 'preprocessor_config.json' },
  { file: 'processor_config.json' },
];
const LAST_SMALL_FILE = 'processor_config.json';
const WEIGHTS_INDEX = 'model.safetensors.index.json';

const USAGE =
  'usage: npx tsx scripts/check-smolvlm.ts [--model DIR_OR_REPO] [--onnx-dir DIR] [--dtype fp32|fp16|q8|int8|uint8|q4|q4f16|bnb4] ' +
  '[--images DIR] [--n 4] [--max-new-tokens 16] [--tol X] [--question TEXT] [--cache-dir DIR] [--endpoint URL] [--token T] [--json]';
const OFFLINE_HOW =
  'run it offline with the files on disk: npx tsx scripts/check-smolvlm.ts --model DIR [--onnx-dir DIR], where DIR holds a download of ' +
  `${DEFAULT_REPO} (config.json, model.safetensors, tokenizer and processor files, and onnx/ for transformers.js)`;

/** A failure the person running the check can act on: printed as one line, exit status 2. */
export class CheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckError';
  }
}

// ---------------------------------------------------------------------------------------------
// Options

export interface CheckOptions {
  model: string;
  onnxDir?: string;
  dtype?: string;
  images?: string;
  n: number;
  maxNewTokens: number;
  tol?: number;
  question: string;
  cacheDir?: string;
  endpoint: string;
  token?: string;
  json: boolean;
}

function parseArgs(argv: string[]): CheckOptions | 'help' {
  const o: CheckOptions = { model: DEFAULT_REPO, n: 4, maxNewTokens: 16, question: DEFAULT_QUESTION, endpoint: process.env.HF_ENDPOINT || HUB, json: false };
  const int = (k: string, v: string) => {
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < 1) throw new CheckError(`${k} must be a whole number >= 1, not "${v}"`);
    return x;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') {
      o.json = true;
      continue;
    }
    if (a === '--help' || a === '-h') return 'help';
    const v = argv[i + 1];
    if (!a.startsWith('--') || v === undefined || v.startsWith('--')) throw new CheckError(`bad option ${a}${v === undefined ? '' : ` ${v}`}; ${USAGE}`);
    i++;
    switch (a) {
      case '--model':
        o.model = v;
        break;
      case '--onnx-dir':
        o.onnxDir = v;
        break;
      case '--dtype':
        if (!(v in DTYPE_SUFFIX)) throw new CheckError(`--dtype must be one of ${Object.keys(DTYPE_SUFFIX).join(', ')}, not "${v}"`);
        o.dtype = v;
        break;
      case '--images':
        o.images = v;
        break;
      case '--n':
        o.n = int(a, v);
        break;
      case '--max-new-tokens':
        o.maxNewTokens = int(a, v);
        break;
      case '--tol':
        o.tol = Number(v);
        if (!(o.tol > 0 && o.tol < 1)) throw new CheckError(`--tol must be a number between 0 and 1 (a fraction of the largest |logit|), not "${v}"`);
        break;
      case '--question':
        o.question = v;
        break;
      case '--cache-dir':
        o.cacheDir = v;
        break;
      case '--token':
        o.token = v;
        break;
      case '--endpoint':
        if (!/^https?:\/\/[^/]+/.test(v)) throw new CheckError(`--endpoint must be an http(s) URL, not "${v}"`);
        o.endpoint = v;
        break;
      default:
        throw new CheckError(`bad option ${a}; ${USAGE}`);
    }
  }
  o.endpoint = o.endpoint.replace(/\/+$/, '');
  return o;
}

// ---------------------------------------------------------------------------------------------
// Downloads from the Hub (only when --model is a repo id or the ONNX files are not on disk)

interface Downloader {
  endpoint: string;
  fetch: typeof fetch;
  token?: string;
  stallMs: number;
  log: (line: string) => void;
}

const mb = (n: number) => `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)} MB`;
const isFile = (p: string) =>
  stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
const isDir = (p: string) =>
  stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * `repo/file` into `dir/file` through the lab's Hub requests (src/data/hub.ts streamHubFile: its
 * errors, stall guard and Range resume). The bytes go to `file.tmp.0.partial` beside it (a name the
 * lab's and transformers.js's cache listings skip) and are renamed when whole; a download that
 * breaks off keeps them, and the next run asks for the rest. Returns false for an optional file
 * the repo does not have.
 */
async function downloadFile(d: Downloader, repo: string, file: string, dir: string, optional: boolean): Promise<boolean> {
  const { encodeRepoPath, formatSeconds, HubError, hubRepo, streamHubFile } = await import('../src/data/hub');
  const { hubFileUrl } = await import('../src/pretrained/cache');
  const r = hubRepo({ repo, endpoint: d.endpoint, token: d.token, fetch: d.fetch, stallTimeoutMs: d.stallMs }, 'model');
  const dest = path.join(dir, ...file.split('/'));
  const part = `${dest}.tmp.0.partial`;
  await mkdir(path.dirname(dest), { recursive: true });
  const offset = (await stat(part).catch(() => null))?.size ?? 0;
  const fh = await open(part, offset > 0 ? 'a' : 'w');
  let held = offset;
  let total: number | null = null;
  let absent = false;
  const t0 = performance.now();
  let lastLine = t0;
  let fetched = 0;
  let big = false;
  try {
    await streamHubFile(r, hubFileUrl(r.endpoint, repo, encodeRepoPath(file)), file, {
      offset,
      on404: optional
        ? () => {
            absent = true;
          }
        : undefined,
      onStart: async (st) => {
        if (st.start === 0 && offset > 0) await fh.truncate(0); // the server sent the whole file
        held = st.start;
        total = st.size;
        big = total === null || total > 2e7;
        if (big) d.log(`downloading ${repo}/${file}${total !== null ? ` (${mb(total)})` : ''}${held > 0 ? `, from ${mb(held)} on` : ''}`);
      },
      onChunk: async (b) => {
        await fh.write(b);
        held += b.length;
        fetched += b.length;
        const now = performance.now();
        if (big && now - lastLine > 3000) {
          lastLine = now;
          const rate = fetched / ((now - t0) / 1000);
          const eta = total !== null && rate > 0 ? `, ${formatSeconds((total - held) / rate)} left` : '';
          d.log(`  ${file}: ${mb(held)}${total !== null ? ` of ${mb(total)}` : ''}, ${mb(rate)}/s${eta}`);
        }
      },
    });
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (held === 0) await rm(part, { force: true });
    if (e instanceof HubError && e.kind === 'offline') {
      const detail = /\(([^()]*)\)$/.exec(e.message)?.[1] ?? 'no answer';
      throw new CheckError(`cannot reach ${r.endpoint} to download ${repo}/${file} (${detail}): no network? ${OFFLINE_HOW}`);
    }
    if (e instanceof HubError) throw new HubFileError(e.kind, `${repo}/${file}: ${e.message.replace(/^hf [^:]+: /, '')}`);
    throw e;
  }
  await fh.close();
  if (absent) {
    await rm(part, { force: true });
    return false;
  }
  await rename(part, dest);
  if (big) d.log(`  ${file}: ${mb(held)} in ${formatSeconds((performance.now() - t0) / 1000)}`);
  return true;
}

/** A Hub answer other than "offline" (not found, refused, cut, stalled), with the lab's wording. */
class HubFileError extends CheckError {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** Files missing from `dir`, downloaded from `repo` in order; optional ones the repo lacks are skipped. */
async function fetchMissing(d: Downloader, repo: string, dir: string, files: { file: string; optional?: boolean }[]): Promise<void> {
  for (const f of files) {
    if (await isFile(path.join(dir, ...f.file.split('/')))) continue;
    await downloadFile(d, repo, f.file, dir, !!f.optional);
  }
}

async function readJsonFile(p: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CheckError(`${p}: not readable JSON (${(e as Error).message})`);
  }
}

/** The weights the index names, or model.safetensors; null when neither file is there. */
async function weightFiles(dir: string): Promise<string[] | null> {
  if (await isFile(path.join(dir, WEIGHTS_INDEX))) {
    const map = (await readJsonFile(path.join(dir, WEIGHTS_INDEX))).weight_map;
    return [...new Set(Object.values((map ?? {}) as Record<string, string>))];
  }
  return (await isFile(path.join(dir, 'model.safetensors'))) ? ['model.safetensors'] : null;
}

/**
 * `repo`'s small files (and with `weights` its safetensors) into dir, unless an earlier run left
 * them complete: config.json first, then the weights (one file, or an index and its shards), then
 * the tokenizer and processor files with processor_config.json last.
 */
async function fetchRepoFiles(d: Downloader, repo: string, dir: string, o: { weights: boolean }): Promise<void> {
  const have = async () => {
    if (!(await isFile(path.join(dir, LAST_SMALL_FILE)))) return false;
    if (!o.weights) return true;
    const w = await weightFiles(dir);
    if (!w) return false;
    for (const f of w) if (!(await isFile(path.join(dir, ...f.split('/'))))) return false;
    return true;
  };
  if (await have()) return;
  await fetchMissing(d, repo, dir, [{ file: 'config.json' }]);
  if (o.weights) {
    if (!(await weightFiles(dir)) && !(await downloadFile(d, repo, 'model.safetensors', dir, true))) await downloadFile(d, repo, WEIGHTS_INDEX, dir, false);
    await fetchMissing(
      d,
      repo,
      dir,
      ((await weightFiles(dir)) ?? []).map((file) => ({ file })),
    );
  }
  await fetchMissing(d, repo, dir, SMALL_FILES);
}

/** The ONNX files transformers.js loads for `dtype` (its own list: sessions, suffix, external data). */
async function onnxFilesFor(configJson: Record<string, unknown>, dtype: string): Promise<string[]> {
  const { ModelRegistry } = await import('@huggingface/transformers');
  const files = await ModelRegistry.get_model_files('check-smolvlm/model', { config: configJson as never, dtype: dtype as never, device: 'cpu' as never });
  return files.filter((f) => f.startsWith('onnx/'));
}

// ---------------------------------------------------------------------------------------------
// Where the files are

interface Sources {
  /** The engine's model folder. */
  modelDir: string;
  /** The folder holding the ONNX files, and where transformers.js's other files come from first. */
  onnxFilesDir: string;
  onnxRoot: string;
  dtype: string;
  /** Said in the report: where each side's files came from. */
  modelFrom: string;
  onnxFrom: string;
}

/** Which files a local model folder lacks for the engine (all of them, named, in one message). */
async function checkEngineFolder(dir: string): Promise<void> {
  const has = (f: string) => isFile(path.join(dir, f));
  const missing: string[] = [];
  for (const f of ENGINE_REQUIRED) {
    if (!(await has(f))) missing.push(f);
    if (f === 'config.json' && !(await has('model.safetensors')) && !(await has(WEIGHTS_INDEX))) missing.push('model.safetensors');
  }
  let template = false;
  for (const f of CHAT_TEMPLATE_FILES) template ||= await has(f);
  if (!template && (await has('tokenizer_config.json')))
    template = typeof (await readJsonFile(path.join(dir, 'tokenizer_config.json'))).chat_template === 'string';
  if (!template) missing.push('chat_template.json (or a chat_template in tokenizer_config.json)');
  if (missing.length)
    throw new CheckError(
      `${dir}: ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing; the engine reads config.json, model.safetensors, tokenizer.json, ` +
        `the chat template, preprocessor_config.json and processor_config.json from the model folder (all in ${HUB}/${DEFAULT_REPO})`,
    );
}

/** dtypes whose three ONNX files are in `dir`, in DTYPE_SUFFIX order. */
async function onnxDtypesIn(dir: string): Promise<string[]> {
  const names = new Set(await readdir(dir).catch(() => [] as string[]));
  return Object.entries(DTYPE_SUFFIX)
    .filter(([, s]) => ONNX_SESSIONS.every((n) => names.has(`${n}${s}.onnx`)))
    .map(([k]) => k);
}

async function resolveSources(o: CheckOptions, d: Downloader, cacheDir: string): Promise<Sources> {
  let modelDir: string;
  let modelFrom: string;
  let repo = DEFAULT_REPO;
  const local = await isDir(o.model);
  if (local) {
    modelDir = path.resolve(o.model);
    await checkEngineFolder(modelDir);
    modelFrom = modelDir;
  } else if (/^[\w.-]+\/[\w.-]+$/.test(o.model) && !o.model.startsWith('.')) {
    repo = o.model;
    modelDir = path.join(cacheDir, ...repo.split('/'));
    try {
      await fetchRepoFiles(d, repo, modelDir, { weights: true });
    } catch (e) {
      // A mistyped folder looks like a repo id too.
      if (e instanceof HubFileError && e.kind === 'not-found' && e.message.startsWith(`${repo}/config.json:`))
        throw new CheckError(`--model ${o.model}: no such folder here, and not a model repo on ${d.endpoint} (${e.message})`);
      throw e;
    }
    await checkEngineFolder(modelDir);
    modelFrom = `${repo} (${modelDir})`;
  } else {
    throw new CheckError(`--model "${o.model}" is neither a folder nor a Hub model id like ${DEFAULT_REPO}`);
  }

  // The ONNX files: --onnx-dir, else a local model folder's onnx/, else the Hub (into the cache,
  // beside the repo's small files; files of the dtype already there are not fetched again).
  let onnxRoot: string;
  let onnxFilesDir: string;
  let onnxFrom: string;
  const given = o.onnxDir ?? (local && (await isDir(path.join(modelDir, 'onnx'))) ? modelDir : undefined);
  if (given !== undefined) {
    if (!(await isDir(given))) throw new CheckError(`--onnx-dir ${given}: folder not found`);
    onnxRoot = path.resolve(given);
    onnxFilesDir = (await isDir(path.join(onnxRoot, 'onnx'))) ? path.join(onnxRoot, 'onnx') : onnxRoot;
    const have = await onnxDtypesIn(onnxFilesDir);
    if (have.length === 0)
      throw new CheckError(
        `${onnxFilesDir}: no complete set of ONNX files (${ONNX_SESSIONS.map((n) => `${n}[_dtype].onnx`).join(', ')}) for transformers.js to run`,
      );
    if (o.dtype && !have.includes(o.dtype))
      throw new CheckError(
        `${onnxFilesDir}: no ${o.dtype} ONNX files (${ONNX_SESSIONS.map((n) => `${n}${DTYPE_SUFFIX[o.dtype!]}.onnx`).join(', ')}); it has ${have.join(', ')}`,
      );
    const dtype = o.dtype ?? have[0];
    if (!o.dtype && dtype !== 'fp32') d.log(`${onnxFilesDir} has no fp32 ONNX files: comparing with ${dtype}`);
    onnxFrom = onnxFilesDir;
    return { modelDir, onnxFilesDir, onnxRoot, dtype, modelFrom, onnxFrom };
  }
  const dtype = o.dtype ?? 'fp32';
  onnxRoot = path.join(cacheDir, ...repo.split('/'));
  onnxFilesDir = path.join(onnxRoot, 'onnx');
  if (onnxRoot !== modelDir) {
    d.log(`no onnx/ in ${modelDir} and no --onnx-dir: the ONNX files come from ${repo} on ${d.endpoint}`);
    await fetchRepoFiles(d, repo, onnxRoot, { weights: false });
  }
  const files = await onnxFilesFor(await readJsonFile(path.join(onnxRoot, 'config.json')), dtype);
  for (const file of files) {
    if (await isFile(path.join(onnxRoot, ...file.split('/')))) continue;
    try {
      await downloadFile(d, repo, file, onnxRoot, false);
    } catch (e) {
      if (e instanceof HubFileError && e.kind === 'not-found')
        throw new CheckError(`${e.message}; ${repo} may not publish ${dtype} ONNX files: pick another with --dtype (${Object.keys(DTYPE_SUFFIX).join(', ')})`);
      throw e;
    }
  }
  onnxFrom = `${repo} (${onnxFilesDir})`;
  return { modelDir, onnxFilesDir, onnxRoot, dtype, modelFrom, onnxFrom };
}

/**
 * The files transformers.js reads, as one source: onnx/<file> from the ONNX folder, every other file
 * from the ONNX folder's root when it has it, else from the model folder.
 */
async function transformersSource(s: Sources): Promise<FileSource> {
  const { nodeDirSource } = await import('../src/io/workspace');
  const onnx = nodeDirSource(s.onnxFilesDir);
  const roots = [...new Set([s.onnxRoot, s.modelDir])].map((d) => nodeDirSource(d));
  const pick = async (p: string): Promise<{ src: FileSource; path: string } | null> => {
    if (p.startsWith('onnx/')) return (await onnx.exists(p.slice(5))) ? { src: onnx, path: p.slice(5) } : null;
    for (const r of roots) if (await r.exists(p)) return { src: r, path: p };
    return null;
  };
  return {
    name: `${s.onnxFilesDir} + ${s.modelDir}`,
    async list() {
      const out = new Set<string>();
      for (const f of await onnx.list()) out.add(`onnx/${f}`);
      for (const r of roots) for (const f of await r.list()) if (!f.startsWith('onnx/')) out.add(f);
      return [...out].sort();
    },
    async exists(p) {
      return (await pick(p)) !== null;
    },
    async read(p) {
      const at = await pick(p);
      if (!at) throw new CheckError(`${p} is in neither ${s.onnxRoot} nor ${s.modelDir}`);
      return at.src.read(at.path);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The questions

interface Question {
  label: string;
  item: QAItem;
  userText: string;
}

async function loadQuestions(o: CheckOptions): Promise<{ from: string; questions: Question[] }> {
  const dir = path.resolve(o.images ?? DEFAULT_IMAGES);
  if (!(await isDir(dir))) {
    throw new CheckError(
      o.images === undefined
        ? `no images: the default ${dir} (VQA-RAD beside the repository) is absent; give --images DIR (a VQA-RAD folder, or any folder of PNG/JPEG images)`
        : `--images ${o.images}: folder not found`,
    );
  }
  const { findDataset, loadVqaRad } = await import('../src/data/loaders');
  const { nodeDirSource } = await import('../src/io/workspace');
  const { bytesRef } = await import('../src/data/loaders/common');
  const { askText } = await import('../src/task/prompt');
  const spec = findDataset('vqa-rad')!;
  const vqaDir = (await isDir(path.join(dir, spec.dir))) ? path.join(dir, spec.dir) : dir;
  if ((await readdir(vqaDir)).some((f) => spec.marker.test(f))) {
    const res = await loadVqaRad(nodeDirSource(vqaDir), { split: 'test', limit: o.n });
    if (res.items.length === 0) throw new CheckError(`${vqaDir}: no closed VQA-RAD test questions with their images`);
    return {
      from: `VQA-RAD test, the first ${res.items.length} closed questions (${vqaDir})`,
      questions: res.items.map((item) => ({
        label: `${item.dataset_name}[${item.dataset_index}] ${item.images[0]?.name ?? ''}`,
        item,
        userText: askText({ question: item.question, options: item.options, recipePrompt: false }),
      })),
    };
  }
  const images = (await readdir(dir)).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort();
  if (images.length === 0) throw new CheckError(`${dir}: neither a VQA-RAD folder (VQA_RAD*.json) nor a folder of PNG/JPEG images`);
  const questions: Question[] = [];
  for (const [i, f] of images.slice(0, o.n).entries()) {
    const bytes = new Uint8Array(await readFile(path.join(dir, f)));
    const item: QAItem = {
      images: [bytesRef(f, bytes)],
      question: o.question,
      options: {},
      answer_label: '',
      answer: '',
      dataset_name: 'images',
      dataset_index: i,
      hash: '',
    };
    questions.push({ label: f, item, userText: o.question });
  }
  return { from: `${questions.length} images of ${dir}, each asked "${o.question}"`, questions };
}

// ---------------------------------------------------------------------------------------------
// The two sides

/** A prompt as both models take it: token ids after image expansion, and pixel tiles [tiles, 3, size, size]. */
export interface PromptInputs {
  ids: number[];
  pixels: Float32Array;
  tiles: number;
  size: number;
}

/** The model the engine is compared with (transformers.js on the ONNX files, unless a test gives another). */
export interface Reference {
  /** Said in the report. */
  name: string;
  /** The reference's own prompt (its chat template and processor) for a user turn about one RGBA image. */
  encode?(userText: string, image: { rgba: Uint8Array | Uint8ClampedArray; width: number; height: number }): Promise<PromptInputs>;
  /** Logits [vocab] at the last position of `inp.ids`. */
  lastLogits(inp: PromptInputs): Promise<Float32Array>;
  /** Greedy continuation: at most `maxNewTokens` ids, ending at (and including) the first of `eos`. */
  greedy(inp: PromptInputs, maxNewTokens: number, eos: number[]): Promise<number[]>;
  dispose(): Promise<void>;
}

export type ReferenceFactory = (o: { source: FileSource; dtype: string; log: (line: string) => void }) => Promise<Reference>;

// transformers.js objects, typed as far as this file uses them.
interface TjTensor {
  dims: number[];
  type: string;
  data: ArrayLike<number | bigint>;
  to(type: string): TjTensor;
}
interface TjProcessor {
  (text: string, images: unknown[] | null, o?: Record<string, unknown>): Promise<Record<string, TjTensor>>;
  apply_chat_template(messages: unknown[], o: Record<string, unknown>): string;
}
interface TjModel {
  forward(inputs: Record<string, unknown>): Promise<Record<string, TjTensor>>;
  generate(o: Record<string, unknown>): Promise<TjTensor | { sequences: TjTensor }>;
  dispose(): Promise<unknown>;
}

/**
 * transformers.js on `source` (a folder, served as its custom cache so nothing is fetched): the
 * processor alone (`model: false`) or with the model on onnxruntime-node's CPU backend.
 */
export async function transformersReference(o: { source: FileSource; dtype: string; model?: boolean; log?: (line: string) => void }): Promise<Reference> {
  const tj = await import('@huggingface/transformers');
  const { folderCache } = await import('../src/pretrained/cache');
  const { env, Idefics3Processor, AutoModelForImageTextToText, RawImage, Tensor } = tj;
  const id = 'local/check-smolvlm';
  // As the lab's backend loads a picked folder (src/pretrained/backend.ts configure): the folder is
  // the cache, and any request that reaches the "network" is answered 404 on the spot.
  env.allowLocalModels = false;
  env.allowRemoteModels = true;
  env.remoteHost = 'https://no-network.invalid/';
  env.remotePathTemplate = '{model}/resolve/{revision}/';
  env.fetch = (async () => new Response('check-smolvlm reads a folder only', { status: 404 })) as typeof env.fetch;
  env.useCustomCache = true;
  env.customCache = folderCache(o.source, id);
  env.useFSCache = false;
  env.useBrowserCache = false;

  // Idefics3's processor by name (SmolVLMProcessor is the same class): AutoProcessor would need
  // processor_class in preprocessor_config.json, which not every SmolVLM-shaped folder writes.
  const processor = (await Idefics3Processor.from_pretrained(id)) as unknown as TjProcessor;
  let model: TjModel | null = null;
  if (o.model !== false) {
    const t0 = performance.now();
    model = (await AutoModelForImageTextToText.from_pretrained(id, { dtype: o.dtype, device: 'cpu' } as never)) as unknown as TjModel;
    o.log?.(`transformers.js ${env.version}: ${o.dtype} ONNX sessions loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const need = (): TjModel => {
    if (!model) throw new Error('transformersReference: opened without the model');
    return model;
  };
  const inputs = (p: PromptInputs) => ({
    input_ids: new Tensor(
      'int64',
      BigInt64Array.from(p.ids, (x) => BigInt(x)),
      [1, p.ids.length],
    ),
    attention_mask: new Tensor('int64', new BigInt64Array(p.ids.length).fill(1n), [1, p.ids.length]),
    pixel_values: new Tensor('float32', p.pixels, [1, p.tiles, 3, p.size, p.size]),
    pixel_attention_mask: new Tensor('bool', new Uint8Array(p.tiles * p.size * p.size).fill(1), [1, p.tiles, p.size, p.size]),
  });
  const f32 = (t: TjTensor) => Float32Array.from((t.type === 'float32' ? t : t.to('float32')).data as ArrayLike<number>);
  return {
    name: `transformers.js ${env.version}, ONNX ${o.dtype} on onnxruntime-node (CPU)`,
    async encode(userText, image) {
      const prompt = processor.apply_chat_template([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: userText }] }], {
        add_generation_prompt: true,
      });
      const raw = new RawImage(new Uint8ClampedArray(image.rgba), image.width, image.height, 4);
      const out = await processor(prompt, [raw]);
      const [, tiles, , size] = out.pixel_values.dims;
      return { ids: Array.from(out.input_ids.data, Number), pixels: f32(out.pixel_values), tiles, size };
    },
    async lastLogits(p) {
      // logits [1, rows, vocab]: all prompt positions (or the last only, where the graph keeps one).
      const { logits } = await need().forward(inputs(p));
      const V = logits.dims[logits.dims.length - 1];
      const data = logits.type === 'float32' ? (logits.data as Float32Array) : f32(logits);
      return data.slice(data.length - V);
    },
    async greedy(p, maxNewTokens, eos) {
      // Greedy on the raw logits: no processor of the generation config may change them.
      const res = await need().generate({
        ...inputs(p),
        max_new_tokens: maxNewTokens,
        do_sample: false,
        num_beams: 1,
        eos_token_id: eos,
        repetition_penalty: 1,
        no_repeat_ngram_size: 0,
        min_length: 0,
        min_new_tokens: 0,
        bad_words_ids: null,
        suppress_tokens: null,
        begin_suppress_tokens: null,
        forced_bos_token_id: null,
        forced_eos_token_id: null,
      });
      const seq = 'sequences' in res ? res.sequences : res;
      const ids = Array.from(seq.data, Number).slice(p.ids.length);
      const end = ids.findIndex((t) => eos.includes(t));
      return end < 0 ? ids : ids.slice(0, end + 1);
    },
    async dispose() {
      await model?.dispose();
    },
  };
}

interface Engine {
  model: Model;
  tok: TextTokenizer;
  eos: number[];
  /** The prompt of one question: ids and patches as the recipe encodes them, plus the tiles they came from. */
  encode(
    q: Question,
  ): Promise<{ inp: PromptInputs; patches: Float32Array; nImages: number; rows: number; cols: number; width: number; height: number; rgba: Uint8Array }>;
  lastLogits(ids: number[], patches: Float32Array, nImages: number): Promise<Float32Array>;
  greedy(ids: number[], patches: Float32Array, nImages: number, maxNewTokens: number): Promise<number[]>;
  release(): void;
}

async function openEngine(modelDir: string): Promise<Engine> {
  const { createNodeGpu } = await import('../src/node/dawn');
  const { loadModelFolder } = await import('../src/io/hf-config');
  const { loadTokenizer } = await import('../src/io/tokenizer');
  const { nodeDirSource } = await import('../src/io/workspace');
  const { encodeUserTurn, endOfTurnIds } = await import('../src/task/encode');
  const { decodeRgba } = await import('../src/io/images');
  const { IDEFICS3_DEFAULTS, idefics3Preprocess } = await import('../src/io/idefics3-processor');
  const { idefics3Patches } = await import('../src/model/patches');
  const { Activations } = await import('../src/model/activations');
  const { uploadBatch } = await import('../src/model/batch');
  const { headRows, textForward } = await import('../src/model/forward');
  const { generate } = await import('../src/model/generate');
  const { CommandStream } = await import('../src/engine/stream');
  const { Arena, download, upload } = await import('../src/engine/tensor');

  const tok = await loadTokenizer(nodeDirSource(modelDir), modelDir);
  const gpu = await createNodeGpu();
  let model: Model;
  try {
    model = await loadModelFolder(gpu, nodeDirSource(modelDir), modelDir);
  } catch (e) {
    gpu.destroy();
    throw e;
  }
  const cfg = model.cfg;
  if (!cfg.idefics3 || cfg.imageTokenId === undefined) {
    model.release();
    gpu.destroy();
    throw new CheckError(
      `${modelDir}: not an Idefics3 (SmolVLM) model (config.json model_type ${JSON.stringify(cfg.text.architecture)} without an Idefics3 vision tower)`,
    );
  }
  const v = cfg.idefics3;
  return {
    model,
    tok,
    eos: endOfTurnIds(tok, cfg),
    async encode(q) {
      const p = await encodeUserTurn(q.userText, q.item, tok, cfg);
      // The tiles behind those patches, for the reference: the same decode and processor encodeUserTurn runs.
      const where = q.label;
      const img = await decodeRgba(await q.item.images[0].load(), where);
      const rgba = Uint8Array.from(img.rgba);
      const px = idefics3Preprocess({ data: rgba, width: img.width, height: img.height, channels: 4 }, tok.imageProcessor ?? IDEFICS3_DEFAULTS, where);
      const again = idefics3Patches(px.tiles, v, where);
      if (px.count !== p.nImages || again.length !== p.patches.length || again.some((x, i) => !Object.is(x, p.patches[i])))
        throw new Error(`${where}: the tiles rebuilt for the reference are not the ones the engine encoded`);
      return {
        inp: { ids: p.ids, pixels: px.tiles, tiles: px.count, size: px.size },
        patches: p.patches,
        nImages: p.nImages,
        rows: px.rows,
        cols: px.cols,
        width: img.width,
        height: img.height,
        rgba,
      };
    },
    async lastLogits(ids, patches, nImages) {
      // The prompt's forward pass, then the head on its last row only (as generation's prefill).
      const T = ids.length;
      const acts = new Activations(gpu, cfg, { B: 1, T, nImages, training: false, noLogits: true }, model.lora);
      const rows = new Arena(gpu, 'check-smolvlm', [
        { name: 'row', shape: [1], dtype: 'u32' },
        { name: 'gathered', shape: [1, cfg.text.hiddenSize], dtype: 'f32' },
      ]);
      const s = new CommandStream(gpu, 'check-smolvlm');
      try {
        uploadBatch(model, acts, { B: 1, T, ids: Uint32Array.from(ids), nImages, patches });
        upload(gpu, rows.get('row'), Uint32Array.of(T - 1));
        textForward(s, model, acts, { logits: 'none' });
        headRows(s, model, acts.get('lnf'), rows.get('row'), rows.get('gathered'), acts.get('logits'), 1);
        await s.sync();
        return await download(gpu, acts.get('logits'), cfg.text.vocabSize);
      } finally {
        s.destroy();
        acts.release();
        rows.release();
      }
    },
    async greedy(ids, patches, nImages, maxNewTokens) {
      const res = await generate(model, [ids], { maxNewTokens, greedy: true, eosIds: endOfTurnIds(tok, cfg) }, nImages ? { patches, nImages } : undefined);
      return res.ids[0];
    },
    release() {
      model.release();
      gpu.destroy();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Comparing

interface Top {
  id: number;
  token: string;
  logit: number;
}

export interface LogitsComparison {
  maxAbsDiff: number;
  /** max |reference logit|: what the tolerance is a fraction of. */
  scale: number;
  relDiff: number;
  ok: boolean;
  top5: { engine: Top[]; reference: Top[] };
  argmax: { engine: number; reference: number; agree: boolean; nearTie: boolean };
}

export interface ItemReport {
  label: string;
  question: string;
  image: { width: number; height: number; rows: number; cols: number; tiles: number };
  promptTokens: number;
  inputIds: { same: boolean; engineLength: number; referenceLength: number | null; firstDifference?: { position: number; engine: string; reference: string } };
  /** transformers.js's processor against the engine's tiles (information; null when the tile counts differ or it was not run). */
  pixels: { maxAbsDiff: number; meanAbsDiff: number } | null;
  logits: LogitsComparison;
  /** transformers.js end to end (its own processor and prompt): information, not a condition. */
  ownInputs: { maxAbsDiff: number; relDiff: number; argmaxAgree: boolean } | null;
  greedy: {
    engine: { ids: number[]; text: string };
    reference: { ids: number[]; text: string };
    same: boolean;
    /** Where they part, and whether it is a near-tie (then with both models' logits there). */
    divergedAt?: number;
    nearTie?: boolean;
    atDivergence?: { relDiff: number };
    ok: boolean;
  };
  ok: boolean;
  problems: string[];
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

function topK(x: Float32Array, k: number, tok: TextTokenizer): Top[] {
  const idx: number[] = [];
  for (let i = 0; i < x.length; i++) {
    if (idx.length < k || x[i] > x[idx[idx.length - 1]]) {
      idx.push(i);
      idx.sort((a, b) => x[b] - x[a] || a - b);
      if (idx.length > k) idx.pop();
    }
  }
  return idx.map((id) => ({ id, token: tok.decode([id], { skipSpecialTokens: false }), logit: x[id] }));
}

/** Two logit vectors against the tolerance; a differing argmax is a near-tie when both score the two tokens within it. */
export function compareLogits(e: Float32Array, r: Float32Array, tol: number, tok: TextTokenizer): LogitsComparison {
  if (e.length !== r.length) throw new CheckError(`the engine gives ${e.length} logits and the reference ${r.length}: the vocabularies differ`);
  let maxAbsDiff = 0;
  let scale = 0;
  let nonFinite = false;
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(e[i] - r[i]);
    if (!Number.isFinite(d)) nonFinite = true;
    else if (d > maxAbsDiff) maxAbsDiff = d;
    if (Number.isFinite(r[i])) scale = Math.max(scale, Math.abs(r[i]));
  }
  // A NaN or infinite logit on either side is a failure, never a small difference.
  if (nonFinite) maxAbsDiff = Number.NaN;
  const relDiff = maxAbsDiff / (scale || 1);
  const a = argmax(e);
  const b = argmax(r);
  const room = tol * (scale || 1);
  const nearTie = a !== b && Math.abs(e[a] - e[b]) <= room && Math.abs(r[a] - r[b]) <= room;
  return {
    maxAbsDiff,
    scale,
    relDiff,
    ok: relDiff <= tol,
    top5: { engine: topK(e, 5, tok), reference: topK(r, 5, tok) },
    argmax: { engine: a, reference: b, agree: a === b, nearTie },
  };
}

const show = (s: string) => JSON.stringify(s);

async function checkOne(q: Question, engine: Engine, ref: Reference, o: CheckOptions, tol: number, log: (s: string) => void): Promise<ItemReport> {
  const { tok } = engine;
  // Each step on stderr with its time: on the real model a CPU forward pass takes a while.
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    log(`    ${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  };
  log(`  ${q.label}`);
  const enc = await timed("the engine's prompt (chat template, Idefics3 processor)", () => engine.encode(q));
  const problems: string[] = [];
  const name = (id: number) => `${id} ${show(tok.decode([id], { skipSpecialTokens: false }))}`;

  // The reference's own prompt and pixels.
  let own: PromptInputs | null = null;
  if (ref.encode) {
    try {
      own = await timed("transformers.js's prompt (its processor)", () => ref.encode!(q.userText, { rgba: enc.rgba, width: enc.width, height: enc.height }));
    } catch (e) {
      problems.push(`transformers.js's processor failed on this question (${(e as Error).message}): the input ids could not be compared`);
    }
  }
  const inputIds: ItemReport['inputIds'] = { same: true, engineLength: enc.inp.ids.length, referenceLength: own?.ids.length ?? null };
  if (own) {
    const a = enc.inp.ids;
    const b = own.ids;
    let k = 0;
    while (k < a.length && k < b.length && a[k] === b[k]) k++;
    if (k < a.length || k < b.length) {
      inputIds.same = false;
      inputIds.firstDifference = { position: k, engine: k < a.length ? name(a[k]) : '(end)', reference: k < b.length ? name(b[k]) : '(end)' };
      problems.push(
        `the prompts differ: engine ${a.length} tokens (${enc.inp.tiles} tiles) vs transformers.js ${b.length} (${own.tiles} tiles), first at token ${k}: ${inputIds.firstDifference.engine} vs ${inputIds.firstDifference.reference}`,
      );
    }
  }
  let pixels: ItemReport['pixels'] = null;
  if (own && own.tiles === enc.inp.tiles && own.size === enc.inp.size) {
    let m = 0;
    let sum = 0;
    for (let i = 0; i < own.pixels.length; i++) {
      const d = Math.abs(own.pixels[i] - enc.inp.pixels[i]);
      m = Math.max(m, d);
      sum += d;
    }
    pixels = { maxAbsDiff: m, meanAbsDiff: sum / own.pixels.length };
  }

  // First-token logits on the same inputs: the models alone.
  const eLogits = await timed(`engine first-token logits (${enc.inp.ids.length} tokens, ${enc.inp.tiles} tiles)`, () =>
    engine.lastLogits(enc.inp.ids, enc.patches, enc.nImages),
  );
  const rLogits = await timed('reference first-token logits, same inputs', () => ref.lastLogits(enc.inp));
  const logits = compareLogits(eLogits, rLogits, tol, tok);
  if (!logits.ok)
    problems.push(
      `first-token logits differ by ${logits.maxAbsDiff.toPrecision(3)} = ${logits.relDiff.toExponential(2)} of the largest |logit|, over the tolerance ${tol}`,
    );
  if (!logits.argmax.agree && !logits.argmax.nearTie)
    problems.push(`first-token argmax differs: engine ${name(logits.argmax.engine)}, reference ${name(logits.argmax.reference)}`);

  let ownInputs: ItemReport['ownInputs'] = null;
  if (own) {
    const c = compareLogits(eLogits, await timed('reference first-token logits, its own inputs', () => ref.lastLogits(own!)), tol, tok);
    ownInputs = { maxAbsDiff: c.maxAbsDiff, relDiff: c.relDiff, argmaxAgree: c.argmax.agree };
  }

  // Greedy answers from the same inputs.
  const eIds = await timed('engine greedy answer', () => engine.greedy(enc.inp.ids, enc.patches, enc.nImages, o.maxNewTokens));
  const rIds = await timed('reference greedy answer', () => ref.greedy(enc.inp, o.maxNewTokens, engine.eos));
  const greedy: ItemReport['greedy'] = {
    engine: { ids: eIds, text: tok.decode(eIds, { skipSpecialTokens: false }) },
    reference: { ids: rIds, text: tok.decode(rIds, { skipSpecialTokens: false }) },
    same: eIds.length === rIds.length && eIds.every((t, i) => t === rIds[i]),
    ok: true,
  };
  if (!greedy.same) {
    let k = 0;
    while (k < eIds.length && k < rIds.length && eIds[k] === rIds[k]) k++;
    greedy.divergedAt = k;
    if (k < eIds.length && k < rIds.length) {
      // Both chose at step k after the same prefix: is it a near-tie within the tolerance?
      const prefix = [...enc.inp.ids, ...eIds.slice(0, k)];
      const e2 = await timed(`engine logits where the answers part (token ${k})`, () => engine.lastLogits(prefix, enc.patches, enc.nImages));
      const r2 = await timed(`reference logits where the answers part (token ${k})`, () => ref.lastLogits({ ...enc.inp, ids: prefix }));
      const c = compareLogits(e2, r2, tol, tok);
      greedy.atDivergence = { relDiff: c.relDiff };
      const room = tol * (c.scale || 1);
      const [a, b] = [eIds[k], rIds[k]];
      greedy.nearTie = c.ok && Math.abs(e2[a] - e2[b]) <= room && Math.abs(r2[a] - r2[b]) <= room;
    } else {
      greedy.nearTie = false; // one ended where the other went on: the end token was chosen by one side only
    }
    greedy.ok = greedy.nearTie;
    if (!greedy.ok)
      problems.push(
        `greedy answers part at token ${k}: engine ${k < eIds.length ? name(eIds[k]) : '(ended)'} vs reference ${k < rIds.length ? name(rIds[k]) : '(ended)'}`,
      );
  }
  log(`    ${problems.length ? 'DISAGREE' : 'agree'}`);
  return {
    label: q.label,
    question: q.userText,
    image: { width: enc.width, height: enc.height, rows: enc.rows, cols: enc.cols, tiles: enc.inp.tiles },
    promptTokens: enc.inp.ids.length,
    inputIds,
    pixels,
    logits,
    ownInputs,
    greedy,
    ok: problems.length === 0,
    problems,
  };
}

function formatItem(r: ItemReport, i: number, n: number, tol: number): string[] {
  const top = (t: Top[]) => t.map((x) => `${x.id} ${show(x.token)} ${x.logit.toFixed(3)}`).join(', ');
  const grid = r.image.rows ? `${r.image.rows}x${r.image.cols} tiles + global` : '1 tile';
  const L = r.logits;
  const lines = [
    `[${i + 1}/${n}] ${r.label}: ${r.image.width}x${r.image.height} -> ${grid}, ${r.promptTokens} prompt tokens`,
    `  question: ${show(r.question)}`,
    r.inputIds.referenceLength === null
      ? '  input ids: (the reference has no processor of its own)'
      : r.inputIds.same
        ? `  input ids: identical (${r.promptTokens} tokens)`
        : `  input ids: DIFFER (engine ${r.inputIds.engineLength}, transformers.js ${r.inputIds.referenceLength}), first at ${r.inputIds.firstDifference!.position}: ${r.inputIds.firstDifference!.engine} vs ${r.inputIds.firstDifference!.reference}`,
    `  first-token logits, same inputs: max |diff| ${L.maxAbsDiff.toPrecision(3)} = ${L.relDiff.toExponential(2)} of max |logit| ${L.scale.toFixed(2)} (tolerance ${tol}) ${L.ok ? 'ok' : 'OVER'}`,
    `    top-5 engine:    ${top(L.top5.engine)}`,
    `    top-5 reference: ${top(L.top5.reference)}`,
    `    argmax: ${L.argmax.agree ? 'agrees' : L.argmax.nearTie ? 'differs on a near-tie (within the tolerance)' : 'DIFFERS'}`,
  ];
  if (r.pixels)
    lines.push(
      `  pixels, transformers.js's processor vs the engine's (Pillow's resizes): max |diff| ${r.pixels.maxAbsDiff.toFixed(4)}, mean ${r.pixels.meanAbsDiff.toFixed(4)}`,
    );
  if (r.ownInputs)
    lines.push(
      `  transformers.js end to end (its own processor): max |diff| ${r.ownInputs.maxAbsDiff.toPrecision(3)} = ${r.ownInputs.relDiff.toExponential(2)}, argmax ${r.ownInputs.argmaxAgree ? 'agrees' : 'differs'} (information)`,
    );
  const G = r.greedy;
  lines.push(`  greedy engine:    ${show(G.engine.text)}`, `  greedy reference: ${show(G.reference.text)}`);
  lines.push(
    G.same
      ? `  greedy: identical (${G.engine.ids.length} tokens)`
      : `  greedy: part at token ${G.divergedAt}${G.nearTie ? `, a near-tie (logits there within ${G.atDivergence!.relDiff.toExponential(2)})` : ' — DISAGREE'}`,
  );
  for (const p of r.problems) lines.push(`  FAIL: ${p}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------

export interface CheckDeps {
  /** Downloads (default: the global fetch). */
  fetch?: typeof fetch;
  /** The model compared with (default: transformers.js on the ONNX files). */
  reference?: ReferenceFactory;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** A download that receives nothing for this long fails (default 60 s). */
  stallMs?: number;
}

/** The check; returns the exit status (0 agree, 1 disagree, 2 could not run). */
export async function main(argv: string[], deps: CheckDeps = {}): Promise<number> {
  const out = deps.out ?? ((s: string) => process.stdout.write(`${s}\n`));
  const err = deps.err ?? ((s: string) => process.stderr.write(`${s}\n`));
  let engine: Engine | null = null;
  let ref: Reference | null = null;
  try {
    const o = parseArgs(argv);
    if (o === 'help') {
      out(USAGE);
      return 0;
    }
    const log = (s: string) => err(s);
    const questions = await loadQuestions(o);
    const { defaultCacheDir } = await import('../src/pretrained/backend-node');
    const cacheDir = path.resolve(o.cacheDir ?? defaultCacheDir());
    const d: Downloader = {
      endpoint: o.endpoint,
      fetch: deps.fetch ?? globalThis.fetch,
      token: o.token ?? (process.env.HF_TOKEN || undefined),
      stallMs: deps.stallMs ?? 60_000,
      log,
    };
    const src = await resolveSources(o, d, cacheDir);
    const tol = o.tol ?? TOLERANCE[src.dtype];
    log(`engine: ${src.modelFrom}`);
    log(`reference ONNX (${src.dtype}): ${src.onnxFrom}`);
    log(`questions: ${questions.from}`);
    engine = await openEngine(src.modelDir);
    const source = await transformersSource(src);
    ref = await (deps.reference ?? ((r) => transformersReference({ ...r, model: true })))({ source, dtype: src.dtype, log });
    const items: ItemReport[] = [];
    for (const q of questions.questions) items.push(await checkOne(q, engine, ref, o, tol, log));
    const pass = items.every((r) => r.ok);
    const failed = items.filter((r) => !r.ok).length;
    if (o.json) {
      out(
        JSON.stringify({
          pass,
          model: src.modelFrom,
          onnx: src.onnxFrom,
          dtype: src.dtype,
          tolerance: tol,
          reference: ref.name,
          questions: questions.from,
          maxNewTokens: o.maxNewTokens,
          items,
        }),
      );
    } else {
      out(`SmolVLM check: the engine (${src.modelFrom}) against ${ref.name}`);
      out(
        `tolerance: max |diff| <= ${tol} x max |logit| (${o.tol !== undefined ? '--tol' : `default for ${src.dtype}`}); greedy answers of ${o.maxNewTokens} tokens`,
      );
      items.forEach((r, i) => {
        for (const line of formatItem(r, i, items.length, tol)) out(line);
      });
      out(pass ? `PASS: ${items.length} of ${items.length} questions agree` : `FAIL: ${failed} of ${items.length} questions disagree`);
    }
    return pass ? 0 : 1;
  } catch (e) {
    const known = e instanceof CheckError || (e as Error)?.name === 'InputError' || (e as Error)?.name === 'NoWebGPUError';
    err(`check-smolvlm: ${(e as Error)?.message ?? String(e)}`);
    if (!known && (e as Error)?.stack) err((e as Error).stack!);
    return 2;
  } finally {
    await ref?.dispose().catch(() => undefined);
    engine?.release();
  }
}

// Run as a script (not when a test imports it): the WGSL hook first, then the check.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await import('./raw-imports');
  process.exit(await main(process.argv.slice(2)));
}
