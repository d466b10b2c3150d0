import type { Command } from 'commander';
import { writeFile, mkdir } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { configFromHfJson } from '../../io/hf-config';
import { createNodeGpu } from '../../node/dawn';
import { InputError } from '../../engine/errors';
import { BENCH_SECTIONS, benchProfile, presetText, runBench, type BenchOptions, type BenchSection } from '../../bench/run';
import { formatBenchTable } from '../../bench/report';
import { intOpt, numOpt } from '../args';

export interface BenchCliOptions {
  quick?: boolean;
  full?: boolean;
  sizes?: string;
  presets?: string;
  batch?: string;
  seq?: string;
  decodePreset?: string;
  prompt?: string;
  tokens?: string;
  decodeBatches?: string;
  ort?: boolean;
  ortWebgpu?: boolean;
  peakTflops?: string;
  warmup?: string;
  repeats?: string;
  sections?: string;
  tfjs?: boolean;
  seed?: string;
  lr?: string;
  out?: string;
  json?: boolean;
}

function list(name: string, v: string): string[] {
  const parts = v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new InputError(`--${name}`, 'expected a comma-separated list');
  return parts;
}

/** A profile (--quick / default / --full) with the individual options laid over it. */
export function resolveBenchOptions(c: BenchCliOptions): BenchOptions {
  if (c.quick && c.full) throw new InputError('--quick', 'cannot be combined with --full');
  const o = benchProfile(c.quick ? 'quick' : c.full ? 'full' : 'default');
  // A preset's name, or a model's config.json: the shape of one's own checkpoint, timed from the
  // same fresh init as a preset (its weights are not read).
  const named = (flag: string, v: string) => {
    if (v.endsWith('.json')) {
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(v, 'utf8'));
      } catch (e) {
        throw new InputError(`--${flag}`, `cannot read ${v} as a config.json: ${(e as Error).message}`);
      }
      const base = path.basename(v, '.json');
      return { name: base === 'config' ? path.basename(path.dirname(path.resolve(v))) : base, text: configFromHfJson(json, v).text };
    }
    try {
      return presetText(v);
    } catch (e) {
      throw new InputError(`--${flag}`, `${(e as Error).message}, or a model's config.json`);
    }
  };
  if (c.sizes !== undefined) o.matmulSizes = list('sizes', c.sizes).map((s) => intOpt('sizes', s, 1));
  if (c.presets !== undefined) o.train = list('presets', c.presets).map((p) => named('presets', p));
  if (c.batch !== undefined) o.batch = intOpt('batch', c.batch, 1);
  if (c.seq !== undefined) o.seq = intOpt('seq', c.seq, 2);
  if (c.decodePreset !== undefined) o.decode = named('decode-preset', c.decodePreset);
  if (c.prompt !== undefined) o.promptLen = intOpt('prompt', c.prompt, 1);
  if (c.tokens !== undefined) o.decodeTokens = intOpt('tokens', c.tokens, 1);
  if (c.decodeBatches !== undefined) o.decodeBatches = list('decode-batches', c.decodeBatches).map((b) => intOpt('decode-batches', b, 1));
  if (c.ort === false) o.ort = false;
  if (c.ortWebgpu === false) o.ortWebgpu = false;
  if (c.peakTflops !== undefined) o.peakTflops = numOpt('peak-tflops', c.peakTflops, 1e-3, 1e6);
  if (c.warmup !== undefined) o.warmup = intOpt('warmup', c.warmup, 0);
  if (c.repeats !== undefined) o.repeats = intOpt('repeats', c.repeats, 1);
  if (c.seed !== undefined) o.seed = intOpt('seed', c.seed, 0);
  if (c.lr !== undefined) o.lr = numOpt('lr', c.lr, 0, 10);
  if (c.tfjs === false) o.tfjs = false;
  if (c.sections !== undefined) {
    o.sections = list('sections', c.sections).map((s) => {
      if (!(BENCH_SECTIONS as readonly string[]).includes(s)) throw new InputError('--sections', `unknown section ${s}; any of ${BENCH_SECTIONS.join(', ')}`);
      return s as BenchSection;
    });
  }
  for (const m of o.train) {
    if (o.seq > m.text.maxPositionEmbeddings) throw new InputError('--seq', `${o.seq} exceeds ${m.name}'s context of ${m.text.maxPositionEmbeddings}`);
  }
  if (o.promptLen + o.decodeTokens > o.decode.text.maxPositionEmbeddings) {
    throw new InputError(
      '--tokens',
      `prompt ${o.promptLen} + ${o.decodeTokens} new tokens exceed ${o.decode.name}'s context of ${o.decode.text.maxPositionEmbeddings}`,
    );
  }
  return o;
}

/**
 * `thinker bench`: the WGSL engine beside TensorFlow.js's WebGPU backend on the same adapter
 * (matmul GFLOP/s, training-step tokens/s), and decode tokens/s with and without the KV cache beside
 * onnxruntime-web on the same model exported to ONNX.
 */
export function registerBench(program: Command) {
  program
    .command('bench')
    .description('benchmark the WGSL engine against TensorFlow.js (WebGPU backend) on this adapter')
    .option('--quick', 'smallest shapes (a smoke run)')
    .option('--full', "real-GPU shapes: matmul up to 4096 (with % of the card's fp32 peak), tiny/small presets at 8 x 256, decode at batch 1 and 64")
    .option('--sizes <list>', 'matmul sizes, comma-separated (default 256,512; --full 256,512,1024,2048,4096)')
    .option('--presets <list>', "presets for the training step, or a model's config.json for its shape (default micro,tiny)")
    .option('--batch <n>', 'sequences per training step')
    .option('--seq <n>', 'tokens per sequence in the training step')
    .option('--decode-preset <name>', "preset for the decode section, or a model's config.json")
    .option('--prompt <n>', 'decode prompt length')
    .option('--tokens <n>', 'decode: new tokens per run')
    .option('--decode-batches <list>', "decode: sequences decoded together, one row each (default 1,64: one answer, and GRPO's 8 prompts x 8 samples)")
    .option('--no-ort', 'skip the onnxruntime-web decode of the exported model')
    .option('--no-ort-webgpu', "skip onnxruntime-web's WebGPU execution provider (its shaders take tens of seconds to compile on a CPU adapter)")
    .option('--peak-tflops <x>', "the card's fp32 peak, for the matmul's % of peak when the built-in table does not know the card")
    .option('--warmup <n>', 'untimed runs before timing')
    .option('--repeats <n>', 'timed runs (the median is reported)')
    .option('--sections <list>', `which sections to run (${BENCH_SECTIONS.join(',')})`)
    .option('--no-tfjs', 'skip the TensorFlow.js baselines')
    .option('--seed <n>', 'seed for weights and data')
    .option('--lr <x>', 'learning rate of the timed training steps')
    .option('--out <file>', 'write every number as JSON here', 'bench-results.json')
    .option('--json', 'print the JSON on stdout (the table goes to stderr)')
    .action(async (c: BenchCliOptions) => {
      const o = resolveBenchOptions(c);
      const gpu = await createNodeGpu();
      try {
        const t0 = performance.now();
        const res = await runBench(gpu, o, (msg) => process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(0)}s] ${msg}\n`));
        const json = JSON.stringify(res, null, 2);
        if (c.out) {
          await mkdir(path.dirname(path.resolve(c.out)), { recursive: true });
          await writeFile(c.out, json + '\n');
        }
        const table = formatBenchTable(res);
        if (c.json) {
          process.stderr.write(table + '\n');
          process.stdout.write(json + '\n');
        } else {
          process.stdout.write(table + '\n');
          if (c.out) process.stdout.write(`\nwrote ${c.out}\n`);
        }
        if (res.errors.length) throw new Error(`${res.errors.length} benchmark part(s) failed; see errors above`);
      } finally {
        gpu.destroy();
      }
    });
}
