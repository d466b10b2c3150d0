import type { Command } from 'commander';
import { readFile, appendFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createNodeGpu } from '../../node/dawn';
import { loadModel, saveCheckpoint } from '../../node/checkpoint';
import { loadTokenizer, tokenizerFromJson, type TextTokenizer } from '../../io/tokenizer';
import { nodeDirSource } from '../../io/workspace';
import { configFromHfJson } from '../../io/hf-config';
import { trainByteLevelBpe, LAB_SPECIAL_TOKENS } from '../../io/bpe-trainer';
import { Model, initWeights } from '../../model/model';
import { PRESETS, type ModelConfig } from '../../model/config';
import { checkFits } from '../../model/memory';
import { DEFAULT_OPTIM } from '../../model/trainer';
import { runLmTraining } from '../../model/lm-run';
import { InputError } from '../../engine/errors';
import { intOpt, numOpt } from '../args';
import { LORA_TARGETS, checkLoraSpec, type LoraSpec, type LoraTarget } from '../../model/lora';
import { savedWeights } from '../../io/peft';
import { fileOutputs, modelOutput } from '../outputs';

interface TrainCliOptions {
  data: string;
  model?: string;
  preset: string;
  config?: string;
  tokenizer?: string;
  steps: string;
  batch: string;
  seq: string;
  lr: string;
  warmup: string;
  weightDecay: string;
  gradClip: string;
  seed: string;
  out?: string;
  metrics?: string;
  saveEvery: string;
  json?: boolean;
  quiet?: boolean;
  force?: boolean;
  loraRank?: string;
  loraAlpha?: string;
  loraTargets?: string;
}

/** Text of a .txt file, or the "text" fields of a .jsonl file joined by newlines. */
export async function readCorpus(file: string): Promise<string> {
  if (!existsSync(file)) throw new InputError(file, 'training data file not found');
  const raw = await readFile(file, 'utf8');
  if (!file.endsWith('.jsonl')) return raw;
  const parts: string[] = [];
  raw.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new InputError(`${file}:${i + 1}`, 'not valid JSON');
    }
    const text = (obj as { text?: unknown }).text;
    if (typeof text !== 'string') throw new InputError(`${file}:${i + 1}`, 'each line needs a string "text" field');
    parts.push(text);
  });
  return parts.join('\n');
}

/** The shape to train from scratch: --config (a Hugging Face config.json) or --preset. */
async function baseConfig(o: TrainCliOptions): Promise<ModelConfig> {
  if (o.config) {
    if (!existsSync(o.config)) throw new InputError(o.config, 'config file not found');
    let json: unknown;
    try {
      json = JSON.parse(await readFile(o.config, 'utf8'));
    } catch (e) {
      throw new InputError(o.config, `not valid JSON (${(e as Error).message})`);
    }
    return configFromHfJson(json, o.config);
  }
  const preset = PRESETS[o.preset];
  if (!preset) throw new InputError('--preset', `unknown preset ${o.preset}; one of ${Object.keys(PRESETS).join(', ')}`);
  return preset;
}

/** --lora-rank/--lora-alpha/--lora-targets as a spec (null without --lora-rank). */
function loraOption(o: TrainCliOptions): LoraSpec | null {
  if (o.loraRank === undefined) {
    if (o.loraAlpha !== undefined || o.loraTargets !== undefined) throw new InputError('--lora-alpha', 'needs --lora-rank');
    return null;
  }
  if (!o.model) throw new InputError('--lora-rank', 'adapts a pretrained model: pass --model <dir>');
  const rank = intOpt('lora-rank', o.loraRank, 1);
  const alpha = o.loraAlpha === undefined ? 2 * rank : numOpt('lora-alpha', o.loraAlpha, 1e-6);
  const targets = (o.loraTargets ?? LORA_TARGETS.join(','))
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean) as LoraTarget[];
  return { rank, alpha, targets };
}

/**
 * `thinker train`: plain next-token training on a text file, enough to show an engine learning.
 * A preset model trained from scratch gets a byte-level BPE tokenizer learned from the same file.
 */
export function registerTrain(program: Command) {
  program
    .command('train')
    .description('next-token training on a .txt or .jsonl ("text" field) file')
    .requiredOption('--data <file>', 'training text (.txt, or .jsonl with a "text" field per line)')
    .option('--model <dir>', 'start from this Hugging Face folder instead of a preset')
    .option('--preset <name>', `model size when training from scratch (${Object.keys(PRESETS).join(', ')})`, 'micro')
    .option('--config <file>', 'model shape from a Hugging Face config.json (instead of --preset); vocab_size follows the tokenizer')
    .option('--tokenizer <dir>', 'folder with tokenizer.json (default: the model folder, or train one on --data)')
    .option('--steps <n>', 'optimizer steps', '40')
    .option('--batch <n>', 'sequences per step', '8')
    .option('--seq <n>', 'tokens per sequence', '64')
    .option('--lr <x>', 'peak learning rate', '3e-3')
    .option('--warmup <n>', 'linear warmup steps', '4')
    .option('--weight-decay <x>', 'AdamW weight decay', String(DEFAULT_OPTIM.weightDecay))
    .option('--grad-clip <x>', 'global gradient-norm clip (0 = off)', '1')
    .option('--seed <n>', 'seed for initial weights and data order', '0')
    .option('--out <dir>', 'write the trained model here (Hugging Face folder)')
    .option('--save-every <n>', 'also checkpoint every n steps (0 = only at the end)', '0')
    .option('--metrics <file>', 'write one JSON line of metrics per step')
    .option('--force', 'replace the model in --out and the --metrics file when they exist')
    .option('--json', 'print a JSON summary on stdout at the end')
    .option('--quiet', 'no per-step lines')
    .option(
      '--lora-rank <r>',
      'train LoRA adapters of this rank on the --model (its weights stay frozen); --out gets the merged model and the adapter in PEFT format in OUT/adapter',
    )
    .option('--lora-alpha <x>', 'LoRA scale numerator: the update is (alpha / rank)·B·A (default 2 x rank)')
    .option('--lora-targets <list>', `layers to adapt (default all: ${LORA_TARGETS.join(',')})`)
    .action(async (o: TrainCliOptions) => {
      const steps = intOpt('steps', o.steps, 1);
      const B = intOpt('batch', o.batch, 1);
      const T = intOpt('seq', o.seq, 2);
      const lr = numOpt('lr', o.lr, 0, 10);
      const warmup = intOpt('warmup', o.warmup, 0);
      const seed = intOpt('seed', o.seed, 0);
      const saveEvery = intOpt('save-every', o.saveEvery, 0);
      const lora = loraOption(o);
      if (o.out) await modelOutput(o.out, o.force);
      await fileOutputs([o.metrics], o.force);
      const corpus = await readCorpus(o.data);

      let tok: TextTokenizer;
      // tokenizer.json (+ tokenizer_config.json naming the end-of-turn token) travel with the checkpoint.
      let tokenizerFiles: Record<string, string>;
      const tokDir = o.tokenizer ?? (o.model && existsSync(path.join(o.model, 'tokenizer.json')) ? o.model : undefined);
      if (tokDir) {
        tok = await loadTokenizer(nodeDirSource(tokDir), tokDir);
        tokenizerFiles = { 'tokenizer.json': await readFile(path.join(tokDir, 'tokenizer.json'), 'utf8') };
        const tc = path.join(tokDir, 'tokenizer_config.json');
        if (existsSync(tc)) tokenizerFiles['tokenizer_config.json'] = await readFile(tc, 'utf8');
      } else {
        if (o.model) throw new InputError(o.model, 'no tokenizer.json in the model folder; pass --tokenizer <dir>');
        const bpe = trainByteLevelBpe(corpus, {
          vocabSize: (await baseConfig(o)).text.vocabSize,
          specialTokens: [...LAB_SPECIAL_TOKENS],
          eosToken: '<|im_end|>',
        });
        tokenizerFiles = { 'tokenizer.json': JSON.stringify(bpe.tokenizerJson), 'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig) };
        tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'trained tokenizer');
      }
      const stream = Uint32Array.from(tok.encode(corpus, { addSpecialTokens: false }));

      const gpu = await createNodeGpu();
      let model: Model;
      if (o.model) {
        model = (await loadModel(gpu, o.model)).model;
        if (tok.vocabSize > model.cfg.text.vocabSize)
          throw new InputError(o.model, `tokenizer has ${tok.vocabSize} tokens but the model only ${model.cfg.text.vocabSize}`);
      } else {
        const base = await baseConfig(o);
        const cfg: ModelConfig = { text: { ...base.text, vocabSize: Math.max(tok.vocabSize, 8), eosTokenId: tok.eosIds } };
        checkFits(cfg, gpu, 'train', o.config ?? `--preset ${o.preset}`);
        model = new Model(gpu, cfg);
        model.loadWeights(initWeights(cfg, seed));
      }
      if (lora) model.addLora(checkLoraSpec(lora, model.cfg, '--lora-rank'), seed);
      if (T > model.cfg.text.maxPositionEmbeddings)
        throw new InputError('--seq', `${T} exceeds the model's context of ${model.cfg.text.maxPositionEmbeddings}`);
      const save = async () => {
        if (!o.out) return;
        // With LoRA: the merged model (loadable anywhere as a plain model) and the adapter PEFT reads, in one atomic write.
        const { weights, files } = await savedWeights(model, o.model ?? '');
        await saveCheckpoint(o.out, model.cfg, weights, { ...tokenizerFiles, ...files });
      };
      if (o.metrics) {
        await mkdir(path.dirname(path.resolve(o.metrics)), { recursive: true });
        // Rows are appended per step; a file replaced with --force starts empty.
        await writeFile(o.metrics, '');
      }
      const losses: number[] = [];
      const t0 = performance.now();
      let tokens = 0;
      await runLmTraining(
        gpu,
        model,
        stream,
        {
          steps,
          batch: B,
          seq: T,
          lr,
          warmup,
          seed,
          optim: { weightDecay: numOpt('weight-decay', o.weightDecay, 0, 1), gradClip: numOpt('grad-clip', o.gradClip, 0) },
        },
        async (r) => {
          tokens += r.tokens;
          losses.push(r.loss);
          const row = { step: r.step, loss: r.loss, lr: r.lr, grad_norm: r.gradNorm, tokens: r.tokens, tokens_per_s: r.tokens / r.seconds };
          if (o.metrics) await appendFile(o.metrics, JSON.stringify(row) + '\n');
          if (!o.quiet)
            console.error(
              `step ${r.step}/${steps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}  |g| ${r.gradNorm.toFixed(3)}  ${row.tokens_per_s.toFixed(0)} tok/s`,
            );
          if (saveEvery > 0 && r.step % saveEvery === 0 && r.step < steps) await save();
        },
      );
      await save();
      const seconds = (performance.now() - t0) / 1000;
      const summary = {
        steps,
        batch: B,
        seq: T,
        params: model.numParams,
        trainable_params: model.numTrainable,
        lora: model.lora,
        vocab: model.cfg.text.vocabSize,
        corpus_tokens: stream.length,
        initial_loss: losses[0],
        final_loss: losses[losses.length - 1],
        min_loss: Math.min(...losses),
        seconds,
        tokens_per_s: tokens / seconds,
        adapter: gpu.info.description || gpu.info.vendor,
        out: o.out ?? null,
      };
      if (o.json) console.log(JSON.stringify(summary));
      else console.error(`done: loss ${summary.initial_loss.toFixed(3)} -> ${summary.final_loss.toFixed(3)} in ${seconds.toFixed(1)} s`);
      model.release();
      gpu.destroy();
    });
}
