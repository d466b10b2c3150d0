// The curated pretrained models the lab offers through transformers.js, and the choice of weight
// precision (dtype) and device for an adapter, with a memory check made before anything downloads.
//
// Sizes are APPROXIMATE: they were read off the repositories' onnx/ folders as known when this
// list was written (ONNX files of one dtype, summed over the model's sessions), rounded to tens of
// MB. None of these models could be downloaded in the environment this lab was built in (no
// internet), so none has been run here; the numbers tell a user what to expect, not a guarantee.
// The loader measures the real files (HTTP Range requests) before it downloads them.

import { InputError } from '../engine/errors';

export type Dtype = 'fp32' | 'fp16' | 'q4' | 'q4f16' | 'q8';
export type Device = 'webgpu' | 'wasm' | 'cpu';

/**
 * chat: an image-text-to-text model driven by its chat template (the recipe prompt works).
 * caption: Florence-2, which answers fixed task prompts (captions), not questions.
 * text: a text-generation model (text questions only), e.g. a lab model exported with export-onnx.
 */
export type ModelKind = 'chat' | 'caption' | 'text';

export interface DtypeNeed {
  /** Bytes to download (all ONNX files of this dtype plus configs and tokenizer). */
  downloadBytes: number;
  /** Bytes of memory to run it: weights plus activations and KV cache for a short answer. */
  memoryBytes: number;
  /** The largest single weight tensor (usually the token embedding): one GPU buffer must hold it. */
  largestTensorBytes: number;
}

export interface CatalogEntry {
  /** Hugging Face repository id. */
  id: string;
  label: string;
  kind: ModelKind;
  /** transformers.js model_type (what its config.json says). */
  modelType: string;
  params: string;
  /** What it is good for, and what a user should expect of it on medical questions. */
  notes: string;
  license: string;
  dtypes: Partial<Record<Dtype, DtypeNeed>>;
  /** Florence-2: the task prompt for captions. */
  captionTask?: string;
  /** Set when the repository id is a community upload that may move. */
  community?: boolean;
}

const MB = 1e6;
const GB = 1e9;
const need = (downloadBytes: number, memoryBytes: number, largestTensorBytes: number): DtypeNeed => ({ downloadBytes, memoryBytes, largestTensorBytes });

/** The curated list, smallest first. */
export const CATALOG: readonly CatalogEntry[] = [
  {
    id: 'HuggingFaceTB/SmolVLM-256M-Instruct',
    label: 'SmolVLM 256M Instruct',
    kind: 'chat',
    modelType: 'idefics3',
    params: '256M',
    notes:
      'The smallest chat VLM that runs in a tab. Describes images in general terms; on medical questions expect near-chance accuracy and little use of the think/answer format.',
    license: 'Apache-2.0',
    dtypes: {
      fp32: need(1030 * MB, 1400 * MB, 100 * MB),
      fp16: need(520 * MB, 750 * MB, 50 * MB),
      q4: need(270 * MB, 500 * MB, 100 * MB),
      q4f16: need(200 * MB, 400 * MB, 50 * MB),
    },
  },
  {
    id: 'HuggingFaceTB/SmolVLM-500M-Instruct',
    label: 'SmolVLM 500M Instruct',
    kind: 'chat',
    modelType: 'idefics3',
    params: '507M',
    notes: 'Better image descriptions than the 256M model at twice the size; still a general-domain model: medical answers are unreliable.',
    license: 'Apache-2.0',
    dtypes: {
      fp32: need(2030 * MB, 2600 * MB, 200 * MB),
      fp16: need(1020 * MB, 1400 * MB, 100 * MB),
      q4: need(520 * MB, 900 * MB, 200 * MB),
      q4f16: need(400 * MB, 700 * MB, 100 * MB),
    },
  },
  {
    id: 'onnx-community/Qwen2-VL-2B-Instruct',
    label: 'Qwen2-VL 2B Instruct',
    kind: 'chat',
    modelType: 'qwen2_vl',
    params: '2.2B',
    notes:
      'The strongest general VLM here and the family the paper builds on (Qwen2.5-VL). Follows the think/answer prompt; needs a discrete GPU or a recent laptop GPU. No fp32 build (over 2 GB per file).',
    license: 'Apache-2.0',
    dtypes: {
      fp16: need(4400 * MB, 5200 * MB, 470 * MB),
      q4: need(2000 * MB, 3000 * MB, 930 * MB),
      q4f16: need(1500 * MB, 2200 * MB, 470 * MB),
    },
  },
  {
    id: 'onnx-community/Florence-2-base-ft',
    label: 'Florence-2 base (captions)',
    kind: 'caption',
    modelType: 'florence2',
    params: '230M',
    notes:
      'Captions and region descriptions only: it answers task prompts, not questions, so it cannot be graded on benchmarks. Useful to see what a small vision encoder picks out of a scan.',
    license: 'MIT',
    captionTask: '<MORE_DETAILED_CAPTION>',
    dtypes: {
      fp32: need(930 * MB, 1200 * MB, 210 * MB),
      fp16: need(470 * MB, 650 * MB, 105 * MB),
      q4: need(300 * MB, 500 * MB, 210 * MB),
    },
  },
  {
    id: 'onnx-community/medgemma-4b-it-ONNX',
    label: 'MedGemma 4B it (community ONNX export)',
    kind: 'chat',
    modelType: 'gemma3',
    params: '4.3B',
    notes:
      'A medical VLM (the paper reports 78.6% on VQA-RAD for the original). A community conversion: check the repository before relying on it. Needs about 3 GB of GPU memory at q4f16 and a GPU whose single buffer can hold the 262k-token embedding (1.3 GB in fp16).',
    license: 'Health AI Developer Foundations terms',
    community: true,
    dtypes: {
      fp16: need(8600 * MB, 9500 * MB, 1340 * MB),
      q4: need(3600 * MB, 4800 * MB, 2680 * MB),
      q4f16: need(3100 * MB, 4000 * MB, 1340 * MB),
    },
  },
];

export function catalogEntry(id: string): CatalogEntry | undefined {
  const k = id.trim().toLowerCase();
  return CATALOG.find((e) => e.id.toLowerCase() === k);
}

export interface AdapterLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

export interface DtypeChoice {
  dtype: Dtype;
  device: Device;
  need: DtypeNeed;
  /** Why this dtype: shown beside the choice. */
  why: string;
}

export interface PickOptions {
  /** A dtype the user asked for (refused when the adapter cannot run it). */
  dtype?: Dtype;
  /** Memory the machine can give the model, when known (navigator.deviceMemory, os.totalmem). */
  memoryBytes?: number;
  /** Node: the CPU backend (onnxruntime-node); no GPU limits apply. */
  device?: Device;
}

/** A WASM module addresses at most 4 GiB; ONNX Runtime Web keeps the weights in that memory. */
export const WASM_MEMORY_BYTES = 4 * 2 ** 30;

const gb = (b: number) => `${(b / GB).toFixed(b < GB ? 2 : 1)} GB`;

/** Why a dtype cannot run here, or null when it fits. */
export function memoryProblem(
  entry: Pick<CatalogEntry, 'label'>,
  dtype: Dtype,
  n: DtypeNeed,
  device: Device,
  limits: AdapterLimits | null,
  memoryBytes?: number,
): string | null {
  if (device === 'webgpu' && limits) {
    const cap = Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
    if (n.largestTensorBytes > cap) {
      return `${entry.label} (${dtype}) has a weight tensor of about ${gb(n.largestTensorBytes)}, but this GPU allows buffers of at most ${gb(cap)} (maxBufferSize ${gb(limits.maxBufferSize)}, maxStorageBufferBindingSize ${gb(limits.maxStorageBufferBindingSize)})`;
    }
  }
  if (device === 'wasm' && n.memoryBytes > WASM_MEMORY_BYTES) {
    return `${entry.label} (${dtype}) needs about ${gb(n.memoryBytes)}, more than the 4 GB a WebAssembly module can address (it needs WebGPU)`;
  }
  if (memoryBytes !== undefined && n.memoryBytes > memoryBytes) {
    return `${entry.label} (${dtype}) needs about ${gb(n.memoryBytes)} of memory; this machine reports ${gb(memoryBytes)}`;
  }
  return null;
}

/** Raised before any download when no dtype of a model fits the adapter or the machine. */
export class NotEnoughMemoryError extends InputError {
  constructor(
    readonly modelId: string,
    problem: string,
  ) {
    super(modelId, `not enough memory: ${problem}`);
    this.name = 'NotEnoughMemoryError';
  }
}

/**
 * Choose the dtype and device for a catalog model: on WebGPU with `shader-f16`, q4f16 then fp16
 * (half-precision activations, half the bytes); without it, q4 then fp32 (f16 weights would need
 * f16 shaders). Without WebGPU (`limits` null): WASM, q4 then fp32 (fp16 has no fast WASM kernels).
 * The first candidate that passes the memory check wins; when none does, NotEnoughMemoryError
 * names the smallest one's problem.
 */
export function pickDtype(entry: CatalogEntry, features: Iterable<string>, limits: AdapterLimits | null, o: PickOptions = {}): DtypeChoice {
  const f16 = new Set(features).has('shader-f16');
  const device: Device = o.device ?? (limits ? 'webgpu' : 'wasm');
  let order: Dtype[];
  let why: string;
  if (device === 'webgpu') {
    order = f16 ? ['q4f16', 'fp16', 'q4', 'fp32'] : ['q4', 'fp32'];
    why = f16
      ? 'this GPU has shader-f16: half-precision weights and activations'
      : 'this GPU has no shader-f16, so no f16 weights: 4-bit weights with f32 activations';
  } else {
    order = ['q4', 'fp32', 'q8'];
    why = device === 'cpu' ? 'CPU backend: 4-bit or full-precision weights' : 'no WebGPU: WASM on the CPU, 4-bit or full-precision weights';
  }
  if (o.dtype) {
    if (!order.includes(o.dtype)) {
      throw new InputError(
        `${entry.id} dtype`,
        `${o.dtype} cannot run on ${device}${device === 'webgpu' && !f16 ? ' without shader-f16' : ''}; choose ${order.filter((d) => entry.dtypes[d]).join(' or ')}`,
      );
    }
    if (!entry.dtypes[o.dtype])
      throw new InputError(`${entry.id} dtype`, `${entry.label} has no ${o.dtype} build; it has ${Object.keys(entry.dtypes).join(', ')}`);
    order = [o.dtype];
    why = 'asked for';
  }
  const candidates = order.filter((d) => entry.dtypes[d]);
  if (candidates.length === 0)
    throw new InputError(`${entry.id} dtype`, `${entry.label} has no build that runs on ${device} (it has ${Object.keys(entry.dtypes).join(', ')})`);
  let first: string | null = null;
  for (const d of candidates) {
    const n = entry.dtypes[d]!;
    const problem = memoryProblem(entry, d, n, device, limits, o.memoryBytes);
    if (!problem) return { dtype: d, device, need: n, why };
    first ??= problem;
  }
  // The smallest candidate's problem is the most useful one to show.
  const smallest = candidates.slice().sort((a, b) => entry.dtypes[a]!.memoryBytes - entry.dtypes[b]!.memoryBytes)[0];
  const msg = memoryProblem(entry, smallest, entry.dtypes[smallest]!, device, limits, o.memoryBytes) ?? first!;
  throw new NotEnoughMemoryError(entry.id, `${msg}. Pick a smaller model${device === 'webgpu' ? ' or a GPU with more memory' : ''}.`);
}

/** What the model picker shows for each entry on this adapter: the chosen dtype with its sizes, or why it cannot run. */
export interface CatalogView extends CatalogEntry {
  choice: DtypeChoice | null;
  refusal: string | null;
}

export function catalogFor(features: Iterable<string>, limits: AdapterLimits | null, o: Omit<PickOptions, 'dtype'> = {}): CatalogView[] {
  const fs = [...features];
  return CATALOG.map((e) => {
    try {
      return { ...e, choice: pickDtype(e, fs, limits, o), refusal: null };
    } catch (err) {
      return { ...e, choice: null, refusal: (err as Error).message };
    }
  });
}
