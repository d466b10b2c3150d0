// The Idefics3 (SmolVLM) family against an independent PyTorch implementation: a tiny checkpoint
// with the real file layout (test/fixtures/idefics3-tiny, made by
// scripts/fixtures/make-idefics3-fixture.py in float64), loaded through the lab's one model
// loader, run on both kernel paths, and compared tensor by tensor. The float64 reference of
// test/reference is checked against the same numbers, so the three implementations agree.
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import fs from 'node:fs';
import { nodeDirSource, MemoryWorkspace } from '../../src/io/workspace';
import { configFromHfJson, configToHfJson, loadHfFolder, loadModelFolder, saveHfFolder } from '../../src/io/hf-config';
import { readSafetensors } from '../../src/io/safetensors';
import { Activations } from '../../src/model/activations';
import { uploadBatch } from '../../src/model/batch';
import { pixelShuffleIndex, textForward } from '../../src/model/forward';
import { idefics3Patches } from '../../src/model/patches';
import { imageTokens, isFrozen, paramSpecs, countParams } from '../../src/model/config';
import { memoryEstimate } from '../../src/model/memory';
import { generate } from '../../src/model/generate';
import { CommandStream } from '../../src/engine/stream';
import { download } from '../../src/engine/tensor';
import { InputError } from '../../src/engine/errors';
import type { Model } from '../../src/model/model';
import { KERNEL_PATHS, testGpu, useKernelPath } from '../helpers/gpu';
import * as ref from '../reference/llama-f64';
import { LORA_TARGETS } from '../../src/model/lora';

/** A SmolVLM config.json as the Hub has it (SigLIP-B/16 at 512 + a SmolLM2 decoder), for the given decoder sizes. */
function smolvlmConfig(hidden: number, intermediate: number, layers: number, heads: number, kvHeads: number) {
  return configFromHfJson(
    {
      architectures: ['Idefics3ForConditionalGeneration'],
      model_type: 'idefics3',
      image_token_id: 49190,
      scale_factor: 4,
      text_config: {
        model_type: 'llama',
        architectures: ['VLlama3ForCausalLM'],
        hidden_size: hidden,
        intermediate_size: intermediate,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kvHeads,
        head_dim: 64,
        vocab_size: 49280,
        rms_norm_eps: 1e-5,
        rope_theta: 100000,
        max_position_embeddings: 8192,
      },
      vision_config: { model_type: 'idefics3', hidden_size: 768, num_attention_heads: 12, patch_size: 16, image_size: 512 },
    },
    'SmolVLM config.json',
  );
}

const DIR = path.join(__dirname, '..', 'fixtures', 'idefics3-tiny');
const refTensors = readSafetensors(new Uint8Array(fs.readFileSync(path.join(DIR, 'reference.safetensors'))), 'reference.safetensors');
const want = (name: string) => refTensors.get(name)!.data;
const ids = Array.from(want('input_ids'), Number);
const pixels = want('pixel_values');
const T = ids.length;

/** Largest |got - want| relative to the largest |want| (the scale of the tensor). */
function relErr(got: ArrayLike<number>, exp: ArrayLike<number>): number {
  expect(got.length).toBe(exp.length);
  let worst = 0,
    scale = 0;
  for (let i = 0; i < exp.length; i++) {
    worst = Math.max(worst, Math.abs(got[i] - exp[i]));
    scale = Math.max(scale, Math.abs(exp[i]));
  }
  return worst / scale;
}

describe('Idefics3 checkpoint layout', () => {
  it('config.json reads as a Llama decoder with a SigLIP tower and the real tensor names', async () => {
    const { config, weights } = await loadHfFolder(nodeDirSource(DIR));
    expect(config.idefics3).toEqual({
      imageSize: 32,
      patchSize: 8,
      channels: 3,
      hiddenSize: 32,
      intermediateSize: 64,
      numLayers: 2,
      numHeads: 2,
      layerNormEps: 1e-6,
      scaleFactor: 2,
    });
    expect(config.text).toMatchObject({ architecture: 'llama', vocabSize: 160, hiddenSize: 48, numLayers: 2, numKvHeads: 2, ropeTheta: 100000 });
    expect(config.imageTokenId).toBe(150);
    expect(imageTokens(config)).toBe(4);
    // Every tensor of the checkpoint is a parameter, and the count formula agrees with the list.
    const st = readSafetensors(new Uint8Array(fs.readFileSync(path.join(DIR, 'model.safetensors'))), 'model.safetensors');
    expect(new Set(paramSpecs(config).map((p) => p.name))).toEqual(new Set(st.keys()));
    expect(weights.size).toBe(59);
    expect(countParams(config)).toBe([...st.values()].reduce((n, t) => n + t.data.length, 0));
  });

  it('saves as the same layout and reads back to the same config', async () => {
    const { config, weights } = await loadHfFolder(nodeDirSource(DIR));
    const json = configToHfJson(config);
    expect(json.model_type).toBe('idefics3');
    expect(configFromHfJson(json, 'saved')).toEqual(config);
    const ws = new MemoryWorkspace('out');
    await saveHfFolder(ws, config, weights);
    expect([...ws.files.keys()].sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const back = await loadHfFolder(ws);
    expect(back.config).toEqual(config);
    for (const [k, t] of weights) expect(back.weights.get(k)!.data).toEqual(t.data);
  });

  it('the real SmolVLM-256M config (defaults for the keys it leaves out) sizes the 256M model', () => {
    const cfg = smolvlmConfig(576, 1536, 30, 9, 3);
    expect(imageTokens(cfg)).toBe(64);
    expect(cfg.idefics3?.numLayers).toBe(12);
    // SigLIP-B/16 at 512 (~86M) + SmolLM2-135M with an untied 49280 x 576 head (~163M): 256M in all.
    expect(countParams(cfg)).toBeGreaterThan(250e6);
    expect(countParams(cfg)).toBeLessThan(260e6);
    // The frozen tower is counted once in training, never with gradients or moments.
    const full = memoryEstimate(cfg).trainBytes;
    const tower = paramSpecs(cfg)
      .filter((p) => isFrozen(p.name))
      .reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    expect(tower).toBeGreaterThan(85e6);
    expect(full).toBeLessThan(memoryEstimate({ ...cfg, idefics3: undefined, vision: undefined }).trainBytes + 4 * tower + 4e9);
  });

  it("the README's table of what runs on which GPU is memoryEstimate's, for SmolVLM-256M and -500M", () => {
    const readme = fs.readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const lora = { rank: 16, alpha: 32, targets: LORA_TARGETS };
    const gb = (b: number) => `~${(b / 1e9).toFixed(1)} GB`;
    for (const [name, cfg] of [
      ['SmolVLM-256M', smolvlmConfig(576, 1536, 30, 9, 3)],
      ['SmolVLM-500M', smolvlmConfig(960, 2560, 32, 15, 5)],
    ] as const) {
      const row = readme.split('\n').find((l) => l.startsWith(`  | ${name} |`));
      expect(row, name).toBeDefined();
      // The table's batch: up to 64 tokens a sequence carry a loss (the presets' answers, GRPO's responses).
      const t = (l: typeof lora | null, o: { checkpoint?: boolean; f16?: boolean }) => gb(memoryEstimate(cfg, l, { ...o, headTokens: 64 }).trainBytes);
      const want = [gb(memoryEstimate(cfg).inferBytes), t(lora, {}), t(lora, { checkpoint: true }), t(lora, { checkpoint: true, f16: true }), t(null, {})];
      expect(
        row!
          .split('|')
          .slice(4, 9)
          .map((c) => c.trim()),
        name,
      ).toEqual(want);
    }
  });

  it('refuses configs it cannot run, naming the key', () => {
    const base = JSON.parse(fs.readFileSync(path.join(DIR, 'config.json'), 'utf8'));
    const bad = (edit: (j: Record<string, any>) => void) => {
      const j = structuredClone(base);
      edit(j);
      return () => configFromHfJson(j, 'cfg.json');
    };
    expect(
      bad((j) => {
        j.vision_config.hidden_act = 'relu';
      }),
    ).toThrow(/vision_config\.hidden_act "relu"/);
    expect(
      bad((j) => {
        j.scale_factor = 3;
      }),
    ).toThrow(/scale_factor 3 does not divide the 4 x 4 patch grid/);
    expect(
      bad((j) => {
        j.text_config.model_type = 'mistral';
      }),
    ).toThrow(InputError);
    expect(
      bad((j) => {
        j.image_token_id = 999;
      }),
    ).toThrow(/image_token_id 999 is outside the vocabulary/);
  });

  it('the pixel shuffle table is the permutation transformers applies', () => {
    // G = 4 patches a side, s = 2: token 0 takes patches 0, 1, 4, 5 (the top-left 2 x 2 block).
    expect(Array.from(pixelShuffleIndex(4, 2).slice(0, 8))).toEqual([0, 1, 4, 5, 2, 3, 6, 7]);
    const t = pixelShuffleIndex(4, 2, 2);
    expect(new Set(t).size).toBe(32);
    expect(t[16]).toBe(16);
  });
});

describe('Idefics3 vs PyTorch (float64, the same checkpoint)', () => {
  it('the float64 reference reproduces the PyTorch tower, connector and logits', async () => {
    const { config, weights } = await loadHfFolder(nodeDirSource(DIR));
    const w = new Map([...weights].map(([k, v]) => [k, v.data]));
    const { features, hidden } = ref.idefics3VisionForward(config, w, pixels);
    expect(relErr(hidden, want('vision_hidden'))).toBeLessThan(1e-6);
    expect(relErr(features, want('image_features'))).toBeLessThan(1e-6);
    const logits = ref.forwardLogits(config, w, [ids], { imageFeatures: features });
    expect(relErr(logits, want('logits'))).toBeLessThan(1e-6);
  });
});

describe.each(KERNEL_PATHS)('Idefics3 engine ($path)', ({ rowKernels }) => {
  useKernelPath(rowKernels);
  let model: Model | undefined;
  afterAll(() => model?.release());

  async function run(m: Model, training = false) {
    const gpu = m.gpu;
    const cfg = m.cfg;
    const acts = new Activations(gpu, cfg, { B: 1, T, nImages: 2, training });
    const s = new CommandStream(gpu, 'idefics3');
    uploadBatch(m, acts, { B: 1, T, ids: Uint32Array.from(ids), nImages: 2, patches: idefics3Patches(pixels, cfg.idefics3!) });
    textForward(s, m, acts);
    await s.sync();
    const out = { logits: await download(gpu, acts.get('logits')), feats: await download(gpu, acts.get('feats')) };
    acts.release();
    s.destroy();
    return out;
  }

  it('image features and logits match PyTorch to 1e-4', async () => {
    const gpu = await testGpu();
    model = await loadModelFolder(gpu, nodeDirSource(DIR));
    const got = await run(model);
    expect(relErr(got.feats, want('image_features'))).toBeLessThan(1e-4);
    expect(relErr(got.logits, want('logits'))).toBeLessThan(1e-4);
  });

  it('greedy decoding with images follows the float64 argmax, and fresh LoRA adapters keep it; the tower is frozen in training', async () => {
    const gpu = await testGpu();
    model ??= await loadModelFolder(gpu, nodeDirSource(DIR));
    const prompt = ids.slice(0, 20);
    const res = await generate(model, [prompt], { maxNewTokens: 4, greedy: true }, { nImages: 2, patches: idefics3Patches(pixels, model.cfg.idefics3!) });
    const out = res.ids[0];
    const w = new Map([...(await model.exportWeights())].map(([k, v]) => [k, v.data]));
    const feats = ref.idefics3VisionForward(model.cfg, w, pixels).features;
    const expected = ref.greedyDecode(model.cfg, w, prompt, 4, { imageFeatures: feats });
    expect(out.slice(0, 4)).toEqual(expected);
    // Fresh LoRA adapters (B = 0) leave the greedy answer exactly as the base's.
    model.addLora({ rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] }, 1);
    const withLora = await generate(model, [prompt], { maxNewTokens: 4, greedy: true }, { nImages: 2, patches: idefics3Patches(pixels, model.cfg.idefics3!) });
    expect(withLora.ids[0]).toEqual(out);
    // Training: only the decoder's adapters have gradients; the tower and the base have none.
    model.enableTraining();
    expect(model.trainable.some((p) => isFrozen(p.name))).toBe(false);
    expect(model.gradOrNull('model.vision_model.post_layernorm.weight')).toBeNull();
    expect(model.gradOrNull('model.text_model.layers.0.self_attn.q_proj.lora_A.weight')).not.toBeNull();
    expect(model.gradOrNull('model.text_model.layers.0.self_attn.q_proj.weight')).toBeNull();
  });
});
