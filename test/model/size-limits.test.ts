// Absurd model sizes are refused from the config alone, in O(1) and before anything is allocated:
// a billion layers in config.json, a 4096 x 200-layer override, head_dim 1e9, a context of 1e9,
// and shapes that fit the lab's limits but not this adapter. Each used to run out of memory (or
// spin for minutes) before failing.
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { InputError } from '../../src/engine/errors';
import { MODEL_LIMITS, PRESETS, countParams, paramSpecs, validateConfig, type ModelConfig } from '../../src/model/config';
import { checkFits, fitProblem, largestParam, memoryEstimate } from '../../src/model/memory';
import { Model } from '../../src/model/model';
import { configFromHfJson } from '../../src/io/hf-config';
import { SFT_DEFAULTS, applyOverrides, sftConfigFrom } from '../../src/recipe/sft-config';
import { testGpu } from '../helpers/gpu';

const root = path.resolve(__dirname, '../..');

const HF = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 300,
  hidden_size: 48,
  intermediate_size: 96,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 128,
  tie_word_embeddings: true,
};

/** The InputError `f` throws, and how long it took to throw it. */
function refused(f: () => unknown): { e: InputError; ms: number } {
  const t0 = performance.now();
  let err: unknown;
  try {
    f();
  } catch (x) {
    err = x;
  }
  const ms = performance.now() - t0;
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  return { e: err as InputError, ms };
}

const slowSum = (cfg: ModelConfig) => paramSpecs(cfg).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);

describe('model sizes', () => {
  it('counts parameters in closed form, equal to the sum over every tensor', () => {
    const odd: ModelConfig = {
      text: {
        ...PRESETS.micro.text,
        vocabSize: 37,
        hiddenSize: 12,
        intermediateSize: 20,
        numLayers: 3,
        numHeads: 3,
        numKvHeads: 1,
        headDim: 4,
        tieWordEmbeddings: false,
        qkvBias: true,
        oBias: true,
        mlpBias: true,
      },
      vision: { imageSize: 8, patchSize: 4, channels: 3, hiddenSize: 6, intermediateSize: 10, numLayers: 2, numHeads: 2, rmsNormEps: 1e-5 },
    };
    for (const cfg of [...Object.values(PRESETS), odd, { text: { ...odd.text, qkvBias: true, oBias: false, mlpBias: false } }])
      expect(countParams(cfg)).toBe(slowSum(cfg));
  });

  it('refuses absurd config.json sizes at once, naming the key and the limit', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ num_hidden_layers: 1e9 }, /num_hidden_layers\) is 1000000000, above the limit of 1024/],
      [{ head_dim: 1e9 }, /head_dim\) is 1000000000, above the limit of 128 \(the attention kernels/],
      [{ max_position_embeddings: 1e9 }, /max_position_embeddings\) is 1000000000, above the limit of 16777215 \(positions must stay exact in f32/],
      [{ vocab_size: 1e12 }, /vocab_size\) is 1000000000000, above the limit of 4194304/],
      [
        { hidden_size: 4096, num_attention_heads: 32, intermediate_size: 11008, num_hidden_layers: 200, vocab_size: 1e6 },
        /parameters .* above the limit of 8\.59e\+9: hidden_size 4096, intermediate_size 11008, num_hidden_layers 200/,
      ],
      [{ hidden_size: 65536, intermediate_size: 262144, num_attention_heads: 1024, num_hidden_layers: 1024 }, /parameters .* above the limit/],
    ];
    for (const [over, msg] of cases) {
      const { e, ms } = refused(() => configFromHfJson({ ...HF, ...over }, 'big/config.json'));
      expect(e.where).toBe('big/config.json');
      expect(e.message).toMatch(msg);
      expect(ms, JSON.stringify(over)).toBeLessThan(1000);
    }
    // Every dimension of Llama 3.1 405B is inside the per-key limits; its parameter count is not.
    const llama405 = {
      ...HF,
      vocab_size: 128256,
      hidden_size: 16384,
      intermediate_size: 53248,
      num_hidden_layers: 126,
      num_attention_heads: 128,
      num_key_value_heads: 8,
      max_position_embeddings: 131072,
    };
    expect(() => configFromHfJson(llama405, 'llama405')).toThrow(/parameters .* above the limit/);
    const llama70 = { ...llama405, hidden_size: 8192, intermediate_size: 28672, num_hidden_layers: 80, num_attention_heads: 64 };
    expect(() => validateConfig(configFromHfJson({ ...llama70, num_hidden_layers: 8 }, 'llama70-8'), 'x')).not.toThrow();
    expect(countParams(configFromHfJson({ ...llama70, num_hidden_layers: 8 }, 'x'))).toBeLessThan(MODEL_LIMITS.params);
  });

  it('refuses absurd SFT overrides when the config is read, before any item or tokenizer', () => {
    const cases: [string[], RegExp][] = [
      [['model.numLayers=100000'], /numLayers \(num_hidden_layers\) is 100000, above the limit of 1024/],
      [['model.hiddenSize=4096', 'model.numHeads=32', 'model.intermediateSize=11008', 'model.numLayers=200', 'model.vocabSize=1000000'], /parameters/],
      [['model.context=1000000000'], /maxPositionEmbeddings \(max_position_embeddings\) is 1000000000/],
      [['model.hiddenSize=100000', 'model.numHeads=1000'], /hiddenSize \(hidden_size\) is 100000/],
    ];
    for (const [sets, msg] of cases) {
      const { e, ms } = refused(() => applyOverrides(SFT_DEFAULTS, sets));
      expect(e.message).toMatch(/^--set: model \(preset micro with the model\.\* overrides\)/);
      expect(e.message).toMatch(msg);
      expect(ms).toBeLessThan(1000);
    }
    refused(() => sftConfigFrom({ model: { numLayers: 5000 } }, 'run.json'));
    // A model.init run takes its shape from the folder, checked when it is read.
    expect(() => sftConfigFrom({ model: { init: '/m', numLayers: 5000 } }, 'run.json')).not.toThrow();
  });

  it('names the tensor and the adapter limit when a shape fits the lab but not the adapter', () => {
    const wide: ModelConfig = { text: { ...PRESETS.micro.text, vocabSize: 1 << 20, hiddenSize: 512, numHeads: 8, numKvHeads: 4, headDim: 64 } };
    expect(largestParam(wide)).toEqual({ name: 'model.embed_tokens.weight', shape: [1 << 20, 512], bytes: 4 * 2 ** 29 });
    expect(fitProblem(wide, { maxBindingBytes: 2 ** 31 }, 'infer')).toBeNull();
    expect(fitProblem(wide, { maxBindingBytes: 2 ** 30 }, 'infer')).toMatch(
      /tensor model\.embed_tokens\.weight \[1048576, 512\] needs 2\.1 GB in one buffer, more than this adapter's largest buffer \(1\.1 GB/,
    );
    const est = memoryEstimate(wide);
    expect(fitProblem(wide, { maxBindingBytes: 2 ** 31, memoryBytes: est.trainBytes - 1 }, 'infer')).toBeNull();
    expect(fitProblem(wide, { maxBindingBytes: 2 ** 31, memoryBytes: est.trainBytes - 1 }, 'train')).toMatch(
      /training needs about .* GB .*AdamW.*, more than the .* GB of memory this adapter has/,
    );
    expect(fitProblem(wide, { maxBindingBytes: 2 ** 31, memoryBytes: 4 * est.params - 1 }, 'infer')).toMatch(/its weights need/);
    const { e } = refused(() => checkFits(wide, { maxBindingBytes: 2 ** 30 }, 'infer', 'models/wide'));
    expect(e.message).toMatch(/^models\/wide: too big for this adapter: tensor model\.embed_tokens\.weight/);
  });

  it('a model too big for this device is refused before any buffer is made', async () => {
    const gpu = await testGpu();
    const rows = Math.ceil(gpu.maxBindingBytes / 4 / 512) + 1;
    const cfg: ModelConfig = { text: { ...PRESETS.micro.text, vocabSize: rows, hiddenSize: 512, numHeads: 8, numKvHeads: 4, headDim: 64 } };
    const before = gpu.liveBytes;
    const { e } = refused(() => new Model(gpu, cfg));
    expect(e.message).toMatch(/too big for this adapter: tensor model\.embed_tokens\.weight/);
    expect(gpu.liveBytes).toBe(before);
    // A CPU adapter works in this machine's memory, so that is its budget; a GPU's is unknown.
    expect(gpu.memoryBytes).toBe(gpu.info.cpu ? totalmem() : null);
  });

  it('the CLI refuses them within seconds, with exit code 1 and one line naming the key', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'thinker-sizes-'));
    try {
      const model = path.join(dir, 'huge');
      mkdirSync(model);
      writeFileSync(path.join(model, 'config.json'), JSON.stringify({ ...HF, num_hidden_layers: 1e9 }));
      const run = (args: string[]) =>
        new Promise<{ code: number; stderr: string; ms: number }>((resolve) => {
          const t0 = performance.now();
          execFile(process.execPath, [path.join(root, 'bin/thinker.mjs'), ...args], { cwd: dir }, (err, _out, stderr) =>
            resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr, ms: performance.now() - t0 }),
          );
        });
      const g = await run(['generate', '--model', model, '--prompt-ids', '1,2', '--max-new-tokens', '2', '--greedy']);
      expect(g.code).toBe(1);
      expect(g.stderr).toMatch(/^thinker: .*huge\/config\.json: numLayers \(num_hidden_layers\) is 1000000000, above the limit of 1024/);
      expect(g.stderr.trim().split('\n')).toHaveLength(1);
      const s = await run(['sft', '--config', 'synth-micro', '--set', 'model.numLayers=100000', '--out', path.join(dir, 'run')]);
      expect(s.code).toBe(1);
      expect(s.stderr).toMatch(/numLayers \(num_hidden_layers\) is 100000/);
      // Startup of the CLI included; without the check this ran out of memory after minutes.
      expect(s.ms).toBeLessThan(30_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
