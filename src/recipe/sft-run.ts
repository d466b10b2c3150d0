// An SFT run from a resolved config to a run folder: items, tokenizer, model shape, examples and
// every check on them first, then the GPU, runSft (src/recipe/sft.ts) with checkpoints, metrics,
// run.json and events. The one driver behind `thinker sft` (a Node folder) and the engine worker's
// startRun/resumeRun (OPFS): everything outside the run folder is reached through `open`, which
// the host maps to a folder (a path in Node, a workspace folder in the browser).
import type { KernelTime } from '../engine/profile';
import { DivergedError, InputError } from '../engine/errors';
import type { QAItem } from '../task/schema';
import { joinWhere } from '../io/files';
import { loadModelFolder } from '../io/hf-config';
import { loadTokenizer, tokenizerFromJson, type TextTokenizer } from '../io/tokenizer';
import { LAB_SPECIAL_TOKENS, trainByteLevelBpe } from '../io/bpe-trainer';
import type { Workspace } from '../io/workspace';
import { PRESETS, countParams, hasVision, validateConfig, type ModelConfig } from '../model/config';
import { Model, initWeights } from '../model/model';
import { checkFits } from '../model/memory';
import { promptText, sftTarget } from '../task/prompt';
import { CHAT, chatPrompt } from '../io/chat';
import { endOfTurnIds } from '../task/encode';
import { scratchTextConfig, type SftConfig } from './sft-config';
import { loraSpecOf } from './lora-config';
import { prepareSftData, runSft, sftPlan, type PreparedSft, type SftEval, type SftResult, type SftStepMetrics } from './sft';
import {
  acquireGpu,
  attachLora,
  finishRun,
  jobOutput,
  loadRunItems,
  modelConfigOf,
  runNameOf,
  tokenizerFiles,
  type FolderResolver,
  type RunJob,
  type SynthGenerator,
} from './job';
import {
  METRICS_FILE,
  MetricsLog,
  RUN_CONFIG_FILE,
  RunRecord,
  SUMMARY_FILE,
  checkpointName,
  cleanRunFolder,
  clearRun,
  pruneCheckpoints,
  restoreOptimizer,
  saveRunCheckpoint,
  writeJson,
  type ResumePoint,
} from './run-io';

/** Training and held-out items of an SFT config's data source (job.ts loadRunItems). */
export function loadSftItems(cfg: SftConfig, o: { generateSynth?: SynthGenerator; open: FolderResolver }) {
  return loadRunItems(cfg.data, { evalItems: cfg.eval.items, seed: cfg.seed, ...o });
}

// ---------------------------------------------------------------------------------------------
// Tokenizer and model shape

/** Text a from-scratch tokenizer learns from: each training item's prompt and target, as the model will see them. */
export function tokenizerCorpus(items: QAItem[], cfg: SftConfig): string[] {
  return items.map((it) => chatPrompt(promptText(it, { newline: cfg.prompt.newline }), 0, 0) + sftTarget(it) + CHAT.end);
}

/** A from-scratch model shape: the preset, the config's overrides, the tokenizer's vocabulary. */
export function scratchModelConfig(cfg: SftConfig, tok: TextTokenizer, withImages: boolean): ModelConfig {
  const m = cfg.model;
  const base = PRESETS[m.preset];
  const text = { ...scratchTextConfig(m, tok.vocabSize), eosTokenId: endOfTurnIds(tok) };
  const vision = m.vision === 'on' || (m.vision === 'auto' && withImages);
  const out: ModelConfig = { text };
  if (vision) {
    if (!base.vision) throw new InputError('model.vision', `preset ${m.preset} has no vision encoder`);
    const imageTokenId = tok.tokenToId(CHAT.image);
    if (imageTokenId === undefined) throw new InputError('tokenizer', `has no ${CHAT.image} token, which a vision model needs`);
    out.vision = { ...base.vision };
    out.imageTokenId = imageTokenId;
  }
  if (!Number.isInteger(text.headDim)) throw new InputError('model', `hiddenSize ${text.hiddenSize} is not a multiple of numHeads ${text.numHeads}`);
  return validateConfig(out, `model (preset ${m.preset} with the config's overrides)`);
}

const shapeDiff = (a: ModelConfig, b: ModelConfig) => {
  const ta = a.text,
    tb = b.text;
  const keys = ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'maxPositionEmbeddings'] as const;
  const diff = keys.filter((k) => ta[k] !== tb[k]).map((k) => `${k} ${tb[k]} (checkpoint) vs ${ta[k]} (config)`);
  if (!!a.vision !== !!b.vision) diff.push(`vision encoder ${b.vision ? 'present' : 'absent'} (checkpoint) vs ${a.vision ? 'present' : 'absent'} (config)`);
  return diff;
};

// ---------------------------------------------------------------------------------------------
// The run

export interface SftJob extends RunJob {
  config: SftConfig;
  /** Continue from this checkpoint (findResume in run-io); the config must describe the same data. */
  resume?: ResumePoint | null;
}

type EvalSummary = { step: number; format_rate: number; accuracy: number; reward_mean: number; eval_loss: number | null };
const evalSummary = (e: SftEval): EvalSummary => ({
  step: e.step,
  format_rate: e.formatRate,
  accuracy: e.accuracy,
  reward_mean: e.rewardMean,
  eval_loss: e.evalLoss ?? null,
});

/** summary.json of an SFT run. */
export interface SftSummary {
  command: 'sft';
  /** GPU time per kernel over the run, when it was profiled (`--profile`). */
  kernels?: KernelTime[];
  stopped: SftResult['stopped'];
  /** The run folder, and the last checkpoint in it. */
  out: string;
  checkpoint: string;
  resumedFrom: string | null;
  step: number;
  totalSteps: number;
  epoch: number;
  params: number;
  vocab: number;
  data: PreparedSft['report'] & { fitDropped: number; fitTruncated: number };
  firstLoss: number | null;
  lastLoss: number | null;
  initialEval: EvalSummary | null;
  finalEval: EvalSummary | null;
  elapsedSeconds: number;
  tokensPerSecond: number;
  optimizerRestored: boolean;
  adapter: string;
}

/** Run SFT as described; resolves with the summary when the run completes or is stopped. */
export async function runSftJob(job: SftJob): Promise<SftSummary> {
  const out = jobOutput(job);
  const { say, progress, emit } = out;
  const cfg = job.config;
  const rp = job.resume ?? null;
  const state = rp?.state ?? null;
  const run = job.run;
  const name = job.name ?? runNameOf(run);

  // 1. Items.
  progress('loading items', 0, 1);
  const loaded = await loadSftItems(cfg, { generateSynth: job.generateSynth, open: job.open });
  progress('loading items', 1, 1);
  for (const n of loaded.notes) say(n);

  // 2. Tokenizer and model shape.
  const withImages = loaded.train.some((it) => it.images.length > 0);
  const fromFolder: { src: Workspace; where: string } | null = rp
    ? { src: rp.from, where: rp.where }
    : cfg.model.init
      ? { src: job.open(cfg.model.init, 'model.init'), where: cfg.model.init }
      : null;
  const tokFolder = rp ? fromFolder : cfg.model.tokenizer ? { src: job.open(cfg.model.tokenizer, 'model.tokenizer'), where: cfg.model.tokenizer } : fromFolder;
  let tok: TextTokenizer;
  let tokFiles: Record<string, Uint8Array | string>;
  if (tokFolder) {
    tok = await loadTokenizer(tokFolder.src, tokFolder.where);
    tokFiles = await tokenizerFiles(tokFolder.src);
  } else {
    const m = cfg.model;
    progress('training the tokenizer', 0, 1);
    const bpe = trainByteLevelBpe(tokenizerCorpus(loaded.train, cfg), {
      vocabSize: m.vocabSize || PRESETS[m.preset].text.vocabSize,
      specialTokens: [...LAB_SPECIAL_TOKENS],
      eosToken: CHAT.end,
      padToken: '<|endoftext|>',
    });
    tokFiles = { 'tokenizer.json': JSON.stringify(bpe.tokenizerJson), 'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig) };
    tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'tokenizer trained on the SFT items');
    progress('training the tokenizer', 1, 1);
    say(`trained a byte-level BPE tokenizer on ${loaded.train.length} items: ${tok.vocabSize} tokens`);
  }
  let modelCfg: ModelConfig;
  if (fromFolder) {
    modelCfg = await modelConfigOf(fromFolder.src, fromFolder.where);
    if (rp && !cfg.model.init) {
      // A from-scratch config resumed must still describe the checkpoint's model.
      const diff = shapeDiff(scratchModelConfig(cfg, tok, withImages), modelCfg);
      if (diff.length) throw new InputError(rp.where, `checkpoint shape does not match the config: ${diff.join('; ')}`);
    }
  } else {
    modelCfg = scratchModelConfig(cfg, tok, withImages);
  }
  if (tok.vocabSize > modelCfg.text.vocabSize)
    throw new InputError(tokFolder?.where ?? 'tokenizer', `tokenizer has ${tok.vocabSize} tokens but the model only ${modelCfg.text.vocabSize}`);
  if (withImages && !hasVision(modelCfg)) say('note: the training items have images but the model has no vision encoder; it sees their text only');
  if (cfg.model.imageSplitting === 'off' && modelCfg.idefics3 && tok.imageProcessor?.doImageSplitting) {
    tok.imageProcessor = { ...tok.imageProcessor, doImageSplitting: false };
    tokFiles['preprocessor_config.json'] = JSON.stringify({ ...preprocessorJson(tokFiles), do_image_splitting: false }, null, 2);
    say('model.imageSplitting off: each image is read as one tile, and the checkpoints say so');
  }

  // 3. Examples, and the resume point's consistency with them.
  progress('encoding examples', 0, loaded.train.length);
  const data = await prepareSftData(loaded, tok, modelCfg, cfg);
  progress('encoding examples', loaded.train.length, loaded.train.length);
  const r = data.report;
  say(
    `${r.examples} training examples (${r.withoutReasoning} without a trace, ${r.fit.dropped.length} over maxLength dropped, ${r.fit.truncated.length} truncated), ` +
      `${r.meanTokens.toFixed(0)} tokens on average (max ${r.maxTokens}); ${r.evalItems} held-out items`,
  );
  const plan = sftPlan(data.train.length, cfg);
  if (state) {
    if (state.dataFingerprint !== data.fingerprint) {
      throw new InputError(
        rp!.where,
        `the training items differ from those of the run being resumed (fingerprint ${data.fingerprint} vs ${state.dataFingerprint}): same data config and tokenizer needed`,
      );
    }
    if (state.step >= plan.totalSteps)
      throw new InputError(rp!.where, `the run already did ${state.step} of ${plan.totalSteps} steps; raise the steps or epochs to continue`);
  }

  // 4. The run folder and the GPU, only now.
  let record: RunRecord | null = null;
  let model: Model | null = null;
  let lastCheckpoint = rp?.where ?? '';
  try {
    if (job.replace) await clearRun(run);
    const leftovers = await cleanRunFolder(run);
    if (leftovers.length) say(`removed what an interrupted save left: ${leftovers.join(', ')}`);
    await writeJson(run, RUN_CONFIG_FILE, cfg);
    record = await RunRecord.begin(run, { name, kind: 'sft', step: state?.step ?? 0, totalSteps: plan.totalSteps, config: cfg });
    const rec = record;
    const metrics = await MetricsLog.open(run, METRICS_FILE, state ? { resumeStep: state.step } : {});
    progress('starting the GPU and the model', 0, 0);
    const gpu = await acquireGpu(job.gpu);
    // With LoRA the base is the start model even when resuming: a checkpoint holds the merged
    // weights (a plain model Evaluate and Ask can use) and, in adapter/, the adapters themselves.
    const lora = loraSpecOf(cfg.model.lora);
    const baseFolder = lora && rp ? { src: job.open(cfg.model.init, 'model.init'), where: cfg.model.init } : fromFolder;
    const frozenF16 = !!lora && cfg.model.lora.base === 'f16';
    checkFits(modelCfg, gpu, 'train', baseFolder?.where ?? 'model', lora, {
      checkpoint: cfg.activationCheckpointing,
      f16: frozenF16,
      headTokens: data.report.maxTargetTokens,
    });
    model = baseFolder ? await loadModelFolder(gpu, baseFolder.src, baseFolder.where, { frozenF16 }) : new Model(gpu, modelCfg);
    if (!baseFolder) model.loadWeights(initWeights(modelCfg, cfg.seed));
    if (lora) await attachLora(model, lora, 'model.lora', rp, cfg.seed, say);
    const m = model;
    say(
      `model: ${m.numParams.toLocaleString('en-US')} parameters, vocab ${m.cfg.text.vocabSize}; ${plan.totalSteps} steps of ${plan.perStep} examples ` +
        `(${plan.stepsPerEpoch} per epoch, warmup ${plan.warmup})${state ? `, resuming at step ${state.step}` : ''}; writing ${run.name}`,
    );

    const result = await runSft(
      gpu,
      m,
      tok,
      data,
      cfg,
      {
        signal: job.signal,
        onPhase: (phase, step) => progress(phase, step, plan.totalSteps),
        onStep: async (s: SftStepMetrics) => {
          await metrics.append({
            type: 'step',
            step: s.step,
            epoch: s.epoch,
            loss: s.loss,
            lr: s.lr,
            grad_norm: s.gradNorm,
            examples: s.examples,
            target_tokens: s.targetTokens,
            tokens: s.tokens,
            tokens_per_s: s.tokensPerSecond,
            seconds: s.seconds,
          });
          await rec.update({ step: s.step });
          emit({ type: 'sft-step', metrics: s, totalSteps: plan.totalSteps });
          if (!job.quiet)
            out.log(
              `step ${s.step}/${plan.totalSteps}  epoch ${s.epoch.toFixed(2)}  loss ${s.loss.toFixed(4)}  lr ${s.lr.toExponential(2)}  |g| ${s.gradNorm.toFixed(3)}  ${s.tokensPerSecond.toFixed(0)} tok/s`,
            );
        },
        onEval: async (e: SftEval) => {
          await metrics.append({
            type: 'eval',
            step: e.step,
            epoch: e.epoch,
            items: e.items,
            format_rate: e.formatRate,
            accuracy: e.accuracy,
            reward_mean: e.rewardMean,
            finished_rate: e.finishedRate,
            mean_response_tokens: e.meanResponseTokens,
            eval_loss: e.evalLoss ?? null,
            seconds: e.seconds,
            samples: e.samples,
          });
          emit({
            type: 'eval',
            step: e.step,
            items: e.items,
            formatRate: e.formatRate,
            accuracy: e.accuracy,
            rewardMean: e.rewardMean,
            finishedRate: e.finishedRate,
            meanResponseTokens: e.meanResponseTokens,
            evalLoss: e.evalLoss,
            seconds: e.seconds,
          });
          say(
            `eval @ step ${e.step}: format ${(100 * e.formatRate).toFixed(1)}%  accuracy ${(100 * e.accuracy).toFixed(1)}%  ` +
              `reward ${e.rewardMean.toFixed(3)}${e.evalLoss !== undefined ? `  held-out loss ${e.evalLoss.toFixed(4)}` : ''}  (${e.items} items, ${e.seconds.toFixed(1)} s)`,
          );
        },
        onCheckpoint: async (c) => {
          const dir = checkpointName(c.step);
          await saveRunCheckpoint(
            run,
            dir,
            m,
            {
              kind: 'sft',
              step: c.step,
              totalSteps: c.totalSteps,
              epoch: c.epoch,
              seed: cfg.seed,
              position: { ...c.position },
              dataFingerprint: data.fingerprint,
              config: cfg,
              reason: c.reason,
              elapsedSeconds: c.elapsedSeconds,
              metrics: c.last ? { loss: c.last.loss, lr: c.last.lr, grad_norm: c.last.gradNorm } : undefined,
            },
            tokFiles,
            { optimizer: cfg.checkpoint.optimizer, baseModel: cfg.model.init },
          );
          lastCheckpoint = joinWhere(run.name, dir);
          // The checkpoint resumed from counts among the kept: it was read in full before the first step.
          await pruneCheckpoints(run, cfg.checkpoint.keep, [c.step]);
          await rec.checkpointsChanged();
          emit({ type: 'checkpoint', step: c.step, reason: c.reason });
          say(`checkpoint (${c.reason}) -> ${lastCheckpoint}`);
        },
      },
      state
        ? {
            step: state.step,
            position: { epoch: state.position.epoch ?? 0, index: state.position.index ?? 0 },
            elapsedSeconds: state.elapsedSeconds,
            restoreOptimizer: (mm) => restoreOptimizer(mm, rp!.from),
          }
        : undefined,
    );

    const losses = result.steps.map((s) => s.loss);
    const tokens = result.steps.reduce((a, s) => a + s.tokens, 0);
    const trainSeconds = result.steps.reduce((a, s) => a + s.seconds, 0);
    const summary: SftSummary = {
      command: 'sft',
      stopped: result.stopped,
      out: run.name,
      checkpoint: lastCheckpoint,
      resumedFrom: rp?.where ?? null,
      step: result.step,
      totalSteps: result.totalSteps,
      epoch: result.epoch,
      params: countParams(m.cfg),
      vocab: m.cfg.text.vocabSize,
      data: {
        ...data.report,
        fit: { kept: [], dropped: data.report.fit.dropped, truncated: data.report.fit.truncated },
        fitDropped: r.fit.dropped.length,
        fitTruncated: r.fit.truncated.length,
      },
      firstLoss: losses[0] ?? null,
      lastLoss: losses[losses.length - 1] ?? null,
      initialEval: result.evals[0] ? evalSummary(result.evals[0]) : null,
      finalEval: result.evals.length ? evalSummary(result.evals[result.evals.length - 1]) : null,
      elapsedSeconds: result.elapsedSeconds,
      tokensPerSecond: tokens / Math.max(trainSeconds, 1e-9),
      optimizerRestored: result.optimizerRestored,
      adapter: gpu.info.description || gpu.info.vendor,
    };
    await writeJson(run, SUMMARY_FILE, summary);
    await finishRun(rec, out, { stopped: result.stopped === 'interrupted', stopStatus: job.stopStatus });
    return summary;
  } catch (e) {
    const err = e instanceof DivergedError ? e.withCheckpoint(lastCheckpoint || null) : e;
    await finishRun(record, out, { error: err });
    throw err;
  } finally {
    model?.release();
  }
}

/** The start model's preprocessor_config.json, parsed (the run rewrites one of its keys). */
function preprocessorJson(files: Record<string, Uint8Array | string>): Record<string, unknown> {
  const raw = files['preprocessor_config.json'];
  return JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw));
}
