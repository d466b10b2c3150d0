// The one typed interface between the UI thread and the engine worker. The worker implements it
// (workers/engine.worker.ts, on top of src/lab which also runs in Node for tests), the UI
// calls it through comlink (src/app/engine-client.ts): every GPU action is one call here, and the
// UI thread never touches the GPU.
//
// Storage: everything the lab keeps lives in one workspace folder (the origin private file system
// in the browser, a directory in Node):
//   datasets/NAME/   imported or curated items (recipe JSONL + images), dataset.json
//   models/NAME/     saved models, each a Hugging Face folder with its tokenizer
//   runs/NAME/       run.json, run_config.json, metrics.jsonl, rollouts.jsonl, checkpoint-STEP/
// A model is named by its workspace path: "models/NAME" or "runs/NAME/checkpoint-STEP".
//
// One GPU job at a time (a run, a curation, an evaluation, an answer): a call made while another
// job holds the GPU is refused with a clear error naming that job. Long calls take an `onEvent` or
// `onProgress` callback (pass it through Comlink.proxy) and end when the job ends.
import type { AskVerdict } from '../task/reward';
import type { GpuInfo } from '../engine/gpu';
import type { ModelConfig } from '../model/config';
import type { LmStep } from '../model/lm-run';
import type { RunEstimate } from '../recipe/estimate';
import type { GenerateResult } from '../model/generate';
import type { SftConfig } from '../recipe/sft-config';
import type { GrpoConfig } from '../recipe/grpo-config';
import type { GroupRecord } from '../recipe/grpo';
import type { CurateSettings, HistogramBin } from '../recipe/curate';
import type { BenchmarkResult, EvalRecord } from '../eval/run';
import type { Progress, RunEvent, RunInfo, RunKind } from '../recipe/run-events';

// The run shapes are defined beside the run drivers that produce them.
export type { Progress, RunEvent, RunInfo, RunKind, RunStatus } from '../recipe/run-events';
import type { DataRef, DatasetInfo } from '../data/store';

/** Data references and dataset records are the store's (src/data/store.ts). */
export type { DataRef, DatasetInfo };

// ---------------------------------------------------------------------------------------------
// Data

/** An item as the UI shows it: the schema's fields (src/task/schema.ts), images as encoded bytes. */
export interface ItemView {
  question: string;
  options: Record<string, string>;
  answer_label: string;
  answer: string;
  reasoning?: string;
  dataset_name: string;
  dataset_index: number;
  hash: string;
  split?: string;
  images: { name: string; mime: 'image/png' | 'image/jpeg'; bytes: Uint8Array }[];
}

export interface ImportFolderRequest {
  /** Name in the workspace (datasets/NAME). */
  name: string;
  /** A loader from src/data/loaders ("vqa-rad", "slake", "medqa", ...) or "jsonl" / "csv" / "parquet" with `columns`. */
  loader: string;
  /** The folder the user picked (showDirectoryPicker), or the files of an <input type=file multiple>. */
  files: FileSystemDirectoryHandle | File[];
  /**
   * Column mapping for the generic loaders ("jsonl", "json", "csv", "parquet"): schema field ->
   * column (question, options, answer_label, answer, image, ...), plus `optionColumns` (a
   * comma-separated list), `file`, `split`, `imageDir` and `closed`.
   */
  columns?: Record<string, string>;
  /** Import only these splits (default: every split the loader finds). */
  splits?: string[];
}

export interface ImportHubRequest {
  name: string;
  /** A dataset repository on the Hugging Face Hub, e.g. "UCSC-VLAA/MedVLThinker-Eval". */
  repo: string;
  config?: string;
  split: string;
  /** Hub mirror base URL (default https://huggingface.co). */
  endpoint?: string;
  /** A Hugging Face access token, for gated sets; sent only to the endpoint. */
  token?: string;
  /** The loader that reads the downloaded parquet files (default "medvlthinker-eval"). */
  loader?: string;
}

// ---------------------------------------------------------------------------------------------
// Models

export interface ModelInfo {
  /** Workspace path: "models/NAME" or "runs/NAME/checkpoint-STEP". */
  path: string;
  cfg: ModelConfig;
  params: number;
  /** Bytes on disk. */
  bytes: number;
  /** Estimated GPU memory to train it (weights, gradients, AdamW moments) and to run it, in bytes. */
  trainBytes: number;
  inferBytes: number;
  /** For run checkpoints. */
  run?: { name: string; kind: RunKind; step: number };
}

/** The model the Models page offers to download first: the SmolVLM the engine fine-tunes. */
export const DEFAULT_HUB_MODEL = 'HuggingFaceTB/SmolVLM-256M-Instruct';

/** A model repository on the Hugging Face Hub to download into models/NAME (EngineApi.downloadModel). */
export interface DownloadModelRequest {
  /** "owner/name", e.g. "HuggingFaceTB/SmolVLM-256M-Instruct". */
  repo: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** The model's name in the workspace (default: the repository's name, "SmolVLM-256M-Instruct"). */
  name?: string;
  /** Hub mirror base URL (default https://huggingface.co). */
  endpoint?: string;
  /** A Hugging Face access token, for gated or private models; sent only to the endpoint. */
  token?: string;
}

// ---------------------------------------------------------------------------------------------
// Runs

export type RunRequest = { name: string; kind: 'sft'; config: SftConfig } | { name: string; kind: 'grpo'; config: GrpoConfig };

/** A run to time before it is started (no name: nothing is written). */
export type EstimateRequest = { kind: 'sft'; config: SftConfig } | { kind: 'grpo'; config: GrpoConfig };
export type { RunEstimate } from '../recipe/estimate';

// ---------------------------------------------------------------------------------------------
// Curation, evaluation, asking

export interface CurateRequest {
  model: string;
  data: DataRef;
  settings: CurateSettings;
  maxNewTokens: number;
  /** Save the kept items as datasets/NAME (omit to only see the histogram). */
  saveAs?: string;
}

export interface CurateReply {
  histogram: HistogramBin[];
  total: number;
  kept: number;
  saved?: DatasetInfo;
}

export interface EvaluateRequest {
  model: string;
  benchmarks: { name: string; data: DataRef }[];
  /** Items per benchmark (0 = all). */
  limit: number;
  maxNewTokens: number;
  /** Samples per item besides the greedy answer (pass@n, majority); 1 = greedy only. */
  n?: number;
  batchSize?: number;
  seed?: number;
  /** The instruction's line break (recipe §3): the original literal backslash-n (default) or a real newline. */
  newline?: 'literal' | 'real';
}

export interface EvaluateReply {
  benchmarks: BenchmarkResult[];
  average: { accuracy: number; items: number };
  records: EvalRecord[];
}

export interface AskRequest {
  model: string;
  question: string;
  /** Multiple-choice options (letter -> text); omit for a free question. */
  options?: Record<string, string>;
  /** An encoded image (PNG or JPEG) the user opened; it never leaves the worker. */
  image?: Uint8Array;
  /** Wrap the question in the recipe's prompt (recipe §3) so the model answers with think/answer tags. */
  recipePrompt: boolean;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  seed?: number;
  /** The recipe prompt's line break (recipe §3), as in EvaluateRequest. */
  newline?: 'literal' | 'real';
}

/** With options, also the recipe's format check and what the grader read (AskVerdict). */
export interface AskReply extends Partial<AskVerdict> {
  text: string;
  tokens: number;
}

// ---------------------------------------------------------------------------------------------

export interface EngineApi {
  /** Acquire the GPU; rejects with a NoWebGPUError message when WebGPU is missing. */
  init(): Promise<GpuInfo>;
  /** Bytes used and available to this origin (navigator.storage.estimate). */
  storage(): Promise<{ usage: number; quota: number }>;
  /** What holds the GPU now ("run sft-1", "evaluation", ...), or null. */
  busy(): Promise<string | null>;

  // Data
  previewItems(data: DataRef, offset: number, count: number): Promise<{ total: number; items: ItemView[] }>;
  importFolder(req: ImportFolderRequest, onProgress?: (p: Progress) => void): Promise<DatasetInfo>;
  importHub(req: ImportHubRequest, onProgress?: (p: Progress) => void): Promise<DatasetInfo>;
  listDatasets(): Promise<DatasetInfo[]>;
  deleteDataset(name: string): Promise<void>;
  curate(req: CurateRequest, onProgress?: (p: Progress) => void): Promise<CurateReply>;

  // Runs
  /** Start a run; resolves when it ends (completed, paused, stopped or failed) with its final info. */
  startRun(req: RunRequest, onEvent?: (e: RunEvent) => void): Promise<RunInfo>;
  /**
   * How long the run would take here: its first steps and one evaluation, measured on a scratch
   * copy with the same items, model and adapter (holds the GPU like a run; nothing is written).
   */
  estimateRun(req: EstimateRequest): Promise<RunEstimate>;
  /** Continue a paused, stopped or interrupted run from its last checkpoint. */
  resumeRun(name: string, onEvent?: (e: RunEvent) => void, more?: { totalSteps?: number }): Promise<RunInfo>;
  /**
   * Run a run again from step 0 with the settings in its run.json (for one cut off before its first
   * checkpoint); its metrics, rollout records and checkpoints are cleared once the settings check out.
   */
  restartRun(name: string, onEvent?: (e: RunEvent) => void): Promise<RunInfo>;
  /** Ask the running run to end after its current step with a checkpoint, as 'paused' or 'stopped'. */
  stopRun(how: 'pause' | 'stop'): Promise<void>;
  listRuns(): Promise<RunInfo[]>;
  /** metrics.jsonl rows of a run (steps and evals), for its charts. */
  runMetrics(name: string): Promise<Record<string, unknown>[]>;
  /** Steps with rollout records, and one step's groups (GRPO runs). */
  rolloutSteps(name: string): Promise<number[]>;
  rollouts(name: string, step: number): Promise<GroupRecord[]>;
  deleteRun(name: string): Promise<void>;

  // Evaluation and asking
  evaluate(req: EvaluateRequest, onProgress?: (p: Progress) => void, onRecord?: (r: EvalRecord) => void): Promise<EvaluateReply>;
  /** Answer one question; `onToken` gets the text so far as it grows. */
  ask(req: AskRequest, onToken?: (textSoFar: string) => void): Promise<AskReply>;
  /** Cancel the current curation, evaluation, answer or download (runs end with stopRun). */
  cancel(): Promise<void>;

  // Models
  listModels(): Promise<ModelInfo[]>;
  /** Copy a model (e.g. a run checkpoint) to models/NAME. */
  saveModel(from: string, name: string): Promise<ModelInfo>;
  deleteModel(path: string): Promise<void>;
  /** Write a model as a Hugging Face folder into a folder the user picked. */
  exportModel(path: string, to: FileSystemDirectoryHandle): Promise<void>;
  /** Read a Hugging Face folder (config.json, model.safetensors, tokenizer files) the user picked into models/NAME. */
  importModel(name: string, from: FileSystemDirectoryHandle | File[]): Promise<ModelInfo>;
  /**
   * Download a model repository from the Hugging Face Hub into models/NAME, only when the user asks:
   * config.json first, and a model this adapter cannot hold is refused with the numbers before any
   * weight is fetched; then the tokenizer files and the weights (model.safetensors, or the index and
   * its shards), with byte progress. Files are staged in the workspace as they arrive, so a download
   * cut off or cancelled resumes (Range requests) when asked again; the model folder appears only
   * when complete. Cancel with `cancel`.
   */
  downloadModel(req: DownloadModelRequest, onProgress?: (p: Progress) => void): Promise<ModelInfo>;
  /** Log-probabilities of `text`'s tokens under a model (tests: export/import keeps the logits). */
  scoreText(path: string, text: string): Promise<number[]>;

  // The engine's first demo, kept for the worker test: plain next-token training and decoding.
  trainLm(req: TrainLmRequest, onStep?: (s: LmStep) => void): Promise<LmStep[]>;
  generate(req: GenerateRequest): Promise<GenerateResult>;
}

export interface TrainLmRequest {
  cfg: ModelConfig;
  /** The token stream to sample windows from. */
  stream: number[];
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  warmup: number;
  seed: number;
}

export interface GenerateRequest {
  prompts: number[][];
  maxNewTokens: number;
  greedy?: boolean;
  temperature?: number;
  topP?: number;
  seed?: number;
  eosIds?: number[];
}
