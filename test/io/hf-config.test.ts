import { describe, it, expect } from 'vitest';
import { rng } from '../helpers/gpu';
import { InputError } from '../../src/engine/errors';
import { PRESETS, paramSpecs, type ModelConfig } from '../../src/model/config';
import { readJson } from '../../src/io/files';
import { MemoryWorkspace } from '../../src/io/workspace';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import {
  configFromHfJson,
  configToHfJson,
  generationConfigJson,
  loadHfFolder,
  ropeInvFreqFromConfig,
  saveHfFolder,
  type WeightMap,
} from '../../src/io/hf-config';

const CFG = 'ckpt/config.json';

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}
async function inputErrorAsync(p: Promise<unknown>): Promise<InputError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  throw new Error('expected an InputError');
}

// Llama-3.2-1B's published config.json.
const LLAMA32 = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 128000,
  eos_token_id: 128001,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 8192,
  max_position_embeddings: 131072,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 16,
  num_key_value_heads: 8,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.45.0.dev0',
  use_cache: true,
  vocab_size: 128256,
};
// Qwen2.5-0.5B-Instruct's published config.json.
const QWEN25 = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 21,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.43.1',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

/** A deliberately odd-sized model with a vision tower: nothing is a power of two. */
const SMALL: ModelConfig = {
  text: {
    architecture: 'llama',
    vocabSize: 37,
    hiddenSize: 12,
    intermediateSize: 20,
    numLayers: 2,
    numHeads: 3,
    numKvHeads: 1,
    headDim: 4,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    maxPositionEmbeddings: 64,
    tieWordEmbeddings: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    bosTokenId: 1,
    eosTokenId: [2, 5],
    padTokenId: 0,
  },
  vision: { imageSize: 8, patchSize: 4, channels: 1, hiddenSize: 6, intermediateSize: 10, numLayers: 1, numHeads: 2, rmsNormEps: 1e-5 },
  imageTokenId: 36,
};

function randomWeights(cfg: ModelConfig, seed: number): WeightMap {
  const r = rng(seed);
  const w: WeightMap = new Map();
  for (const p of paramSpecs(cfg)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = r.normal();
    w.set(p.name, { shape: p.shape.slice(), data });
  }
  return w;
}

const withOut = (o: Record<string, unknown>, ...keys: string[]) => {
  const c = { ...o };
  for (const k of keys) delete c[k];
  return c;
};

describe('config.json <-> ModelConfig', () => {
  it('maps Llama-3.2-1B', () => {
    const c = configFromHfJson(LLAMA32, CFG);
    expect(c.text).toEqual({
      architecture: 'llama',
      vocabSize: 128256,
      hiddenSize: 2048,
      intermediateSize: 8192,
      numLayers: 16,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 64,
      rmsNormEps: 1e-5,
      ropeTheta: 500000,
      maxPositionEmbeddings: 131072,
      tieWordEmbeddings: true,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      bosTokenId: 128000,
      eosTokenId: [128001],
    });
    expect(c.vision).toBeUndefined();
  });

  it('maps Qwen2.5-0.5B: q/k/v bias on, o_proj bias off', () => {
    const c = configFromHfJson(QWEN25, CFG);
    expect(c.text).toMatchObject({
      architecture: 'qwen2',
      hiddenSize: 896,
      numHeads: 14,
      numKvHeads: 2,
      headDim: 64,
      ropeTheta: 1e6,
      tieWordEmbeddings: true,
      qkvBias: true,
      oBias: false,
      mlpBias: false,
      eosTokenId: [151645],
      maxPositionEmbeddings: 32768,
    });
    const names = paramSpecs(c).map((p) => p.name);
    expect(names).toContain('model.layers.0.self_attn.k_proj.bias');
    expect(names).not.toContain('model.layers.0.self_attn.o_proj.bias');
  });

  it('fills transformers defaults for absent fields', () => {
    const minimal = { model_type: 'llama', vocab_size: 100, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2, num_attention_heads: 4 };
    const c = configFromHfJson(minimal, CFG).text;
    expect(c).toMatchObject({
      numKvHeads: 4,
      headDim: 16,
      ropeTheta: 10000,
      tieWordEmbeddings: false,
      rmsNormEps: 1e-6,
      maxPositionEmbeddings: 2048,
      bosTokenId: 1,
      eosTokenId: [2],
      qkvBias: false,
      oBias: false,
      mlpBias: false,
    });
    expect(c.padTokenId).toBeUndefined();
    const q = configFromHfJson({ ...minimal, model_type: 'qwen2' }, CFG).text;
    expect(q).toMatchObject({ tieWordEmbeddings: false, maxPositionEmbeddings: 32768, qkvBias: true, oBias: false });
    expect(q.bosTokenId).toBeUndefined();
    // Explicit nulls mean "no such token".
    const n = configFromHfJson({ ...minimal, bos_token_id: null, eos_token_id: null, pad_token_id: -1 }, CFG).text;
    expect(n.padTokenId).toBeUndefined();
    expect(n.bosTokenId).toBeUndefined();
    expect(n.eosTokenId).toBeUndefined();
  });

  it('reads attention_bias, mlp_bias, eos lists and architectures-only configs', () => {
    const base = withOut(LLAMA32, 'model_type');
    const c = configFromHfJson({ ...base, attention_bias: true, mlp_bias: true, eos_token_id: [128001, 128008, 128009] }, CFG).text;
    expect([c.qkvBias, c.oBias, c.mlpBias]).toEqual([true, true, true]);
    expect(c.eosTokenId).toEqual([128001, 128008, 128009]);
    expect(paramSpecs({ text: c }).map((p) => p.name)).toContain('model.layers.0.self_attn.o_proj.bias');
  });

  it('round-trips every preset and an odd-sized model with vision through config.json', () => {
    for (const [name, preset] of Object.entries(PRESETS)) {
      const cfg: ModelConfig = { ...preset, text: { ...preset.text, bosTokenId: 1, eosTokenId: [2] }, imageTokenId: 3 };
      const json = JSON.parse(JSON.stringify(configToHfJson(cfg)));
      expect(json.model_type, name).toBe('llama');
      expect(json.architectures).toEqual(['LlamaForCausalLM']);
      expect(json.torch_dtype).toBe('float32');
      expect(configFromHfJson(json, CFG), name).toEqual(cfg);
    }
    const json = JSON.parse(JSON.stringify(configToHfJson(SMALL)));
    expect(json.eos_token_id).toEqual([2, 5]);
    expect(json.thinker).toEqual({
      vision: { image_size: 8, patch_size: 4, channels: 1, hidden_size: 6, intermediate_size: 10, num_layers: 1, num_heads: 2, rms_norm_eps: 1e-5 },
      image_token_id: 36,
    });
    expect(configFromHfJson(json, CFG)).toEqual(SMALL);
    // No token ids: written as null so transformers does not invent 1 and 2.
    const bare: ModelConfig = { text: { ...SMALL.text, bosTokenId: undefined, eosTokenId: undefined, padTokenId: undefined } };
    const bj = configToHfJson(bare);
    expect([bj.bos_token_id, bj.eos_token_id, bj.pad_token_id]).toEqual([null, null, null]);
    expect(bj.thinker).toBeUndefined();
    expect(configFromHfJson(bj, CFG).text.eosTokenId).toBeUndefined();
    // An empty eos list (a tokenizer without tokenizer_config.json) also means none.
    const empty: ModelConfig = { text: { ...SMALL.text, eosTokenId: [] } };
    expect(configToHfJson(empty).eos_token_id).toBeNull();
    expect(generationConfigJson(empty).eos_token_id).toBeUndefined();
    expect(configFromHfJson({ ...bj, eos_token_id: [] }, CFG).text.eosTokenId).toBeUndefined();
  });

  it('round-trips a Qwen2 config as Qwen2ForCausalLM', () => {
    const c = configFromHfJson(QWEN25, CFG);
    const j = configToHfJson(c);
    expect(j.architectures).toEqual(['Qwen2ForCausalLM']);
    expect(configFromHfJson(j, CFG)).toEqual(c);
  });

  it('refuses unsupported architectures, naming config.json, the architecture and the supported ones', () => {
    const e1 = inputError(() => configFromHfJson({ ...LLAMA32, model_type: 'mistral', architectures: ['MistralForCausalLM'] }, CFG));
    expect(e1.where).toBe(CFG);
    expect(e1.message).toMatch(
      /ckpt\/config\.json: unsupported architecture: model_type "mistral".*MistralForCausalLM.*supported: llama \(LlamaForCausalLM\), qwen2 \(Qwen2ForCausalLM\)/,
    );
    const e2 = inputError(() => configFromHfJson(withOut({ ...LLAMA32, architectures: ['GPT2LMHeadModel'] }, 'model_type'), CFG));
    expect(e2.message).toMatch(/GPT2LMHeadModel.*supported/);
    const e3 = inputError(() => configFromHfJson({ ...LLAMA32, architectures: ['LlamaForSequenceClassification'] }, CFG));
    expect(e3.message).toMatch(/LlamaForSequenceClassification/);
    expect(inputError(() => configFromHfJson(withOut(LLAMA32, 'model_type', 'architectures'), CFG)).message).toMatch(/neither model_type nor architectures/);
  });

  it('refuses malformed and unsupported fields with the field named', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [withOut(LLAMA32, 'hidden_size'), /hidden_size is missing/],
      [{ ...LLAMA32, vocab_size: 0 }, /vocab_size must be an integer >= 1, got 0/],
      [{ ...LLAMA32, num_hidden_layers: 2.5 }, /num_hidden_layers must be an integer/],
      [{ ...LLAMA32, tie_word_embeddings: 'yes' }, /tie_word_embeddings must be true or false/],
      [{ ...LLAMA32, rms_norm_eps: -1 }, /rms_norm_eps must be a positive number/],
      [{ ...LLAMA32, hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
      [{ ...LLAMA32, num_key_value_heads: 5 }, /multiple of num_key_value_heads/],
      [{ ...LLAMA32, eos_token_id: ['x'] }, /eos_token_id must be a token id or a list/],
      [{ ...LLAMA32, eos_token_id: [128001, 128256] }, /eos_token_id 128256 is outside the vocabulary \(vocab_size 128256\)/],
      [{ ...LLAMA32, bos_token_id: -2 }, /bos_token_id must be a token id, got -2/],
      [
        { ...LLAMA32, rope_scaling: { rope_type: 'dynamic', factor: 2.0 } },
        /rope_scaling type "dynamic" is not supported \(supported: default, linear, llama3\)/,
      ],
      [{ ...LLAMA32, rope_scaling: { type: 'yarn', factor: 4.0 } }, /"yarn" is not supported/],
      [{ ...LLAMA32, rope_scaling: { rope_type: 'llama3', factor: 8.0 } }, /rope_scaling\.low_freq_factor is missing/],
      [{ ...LLAMA32, rope_scaling: { rope_type: 'linear' } }, /rope_scaling\.factor is missing/],
      [{ ...LLAMA32, rope_scaling: 'llama3' }, /rope_scaling must be an object or null/],
      [{ ...LLAMA32, partial_rotary_factor: 0.5 }, /partial_rotary_factor/],
      [{ ...QWEN25, use_sliding_window: true }, /sliding-window attention is not supported/],
      [{ ...LLAMA32, hidden_size: 2050, head_dim: undefined }, /not a multiple of num_attention_heads/],
      [{ ...LLAMA32, thinker: { vision: { image_size: 32 } } }, /thinker\.vision\.patch_size is missing/],
      [
        { ...LLAMA32, thinker: { vision: { image_size: 9, patch_size: 4, channels: 1, hidden_size: 6, intermediate_size: 10, num_layers: 1, num_heads: 2 } } },
        /image_size 9 is not a multiple of patch_size 4/,
      ],
      [
        {
          ...LLAMA32,
          thinker: {
            vision: { image_size: 8, patch_size: 4, channels: 1, hidden_size: 6, intermediate_size: 10, num_layers: 1, num_heads: 2 },
            image_token_id: 200000,
          },
        },
        /image_token_id 200000 is outside the vocabulary/,
      ],
      [
        { ...withOut(LLAMA32, 'rope_scaling'), rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 1e4 } } },
        /per-layer-type rope_parameters/,
      ],
      [{ ...LLAMA32, thinker: 3 }, /thinker must be an object/],
    ];
    for (const [json, msg] of cases) {
      const e = inputError(() => configFromHfJson(json, CFG));
      expect(e.where).toBe(CFG);
      expect(e.message, JSON.stringify(json).slice(0, 80)).toMatch(msg);
    }
    expect(inputError(() => configFromHfJson([1], CFG)).message).toMatch(/must be a JSON object/);
  });

  it('refuses to save configs that Llama/Qwen2 cannot express', () => {
    expect(() => configToHfJson({ text: { ...SMALL.text, qkvBias: true, oBias: false } })).toThrow(/qkvBias and oBias must match/);
    expect(() => configToHfJson({ text: { ...SMALL.text, architecture: 'qwen2', qkvBias: false } })).toThrow(InputError);
  });

  it('writes generation_config.json with the token ids', () => {
    expect(generationConfigJson(SMALL)).toEqual({ _from_model_config: true, bos_token_id: 1, eos_token_id: [2, 5], pad_token_id: 0 });
  });
});

describe('rotary inverse frequencies from config.json', () => {
  /** transformers' formulas, evaluated in float64. */
  function ref(headDim: number, theta: number, scaling?: Record<string, number | string>): number[] {
    const out: number[] = [];
    for (let i = 0; i < headDim; i += 2) {
      const f = 1 / theta ** (i / headDim);
      if (!scaling) {
        out.push(f);
        continue;
      }
      if (scaling.rope_type === 'linear') {
        out.push(f / (scaling.factor as number));
        continue;
      }
      const { factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: L } = scaling as Record<string, number>;
      const wl = (2 * Math.PI) / f;
      if (wl < L / hi) out.push(f);
      else if (wl > L / lo) out.push(f / factor);
      else {
        const s = (L / wl - lo) / (hi - lo);
        out.push((1 - s) * (f / factor) + s * f);
      }
    }
    return out;
  }
  const close = (got: Float32Array, want: number[]) => {
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]) / want[i], `inv_freq[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThan(3e-6);
  };

  it('default rope matches theta^(-2i/d), with head_dim defaulting to hidden/heads', () => {
    close(ropeInvFreqFromConfig(withOut(LLAMA32, 'rope_scaling')), ref(64, 500000));
    close(ropeInvFreqFromConfig({ ...withOut(LLAMA32, 'rope_scaling', 'head_dim', 'rope_theta'), hidden_size: 120, num_attention_heads: 4 }), ref(30, 10000));
    close(ropeInvFreqFromConfig({ ...LLAMA32, rope_scaling: { type: 'default' } }), ref(64, 500000));
  });

  it('linear scaling divides every frequency by the factor', () => {
    const sc = { rope_type: 'linear', factor: 4.0 };
    close(ropeInvFreqFromConfig({ ...QWEN25, rope_scaling: sc }), ref(64, 1e6, sc));
  });

  it('llama3 scaling keeps high frequencies, divides low ones and blends the band between', () => {
    const sc = LLAMA32.rope_scaling;
    const got = ropeInvFreqFromConfig(LLAMA32);
    const want = ref(64, 500000, sc);
    close(got, want);
    const plain = ref(64, 500000);
    const wl = plain.map((f) => (2 * Math.PI) / f);
    const kept = plain.filter((_, i) => wl[i] < 8192 / 4).length;
    const divided = plain.filter((_, i) => wl[i] > 8192).length;
    // The test is only meaningful if all three regimes occur.
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    expect(kept + divided).toBeLessThan(32);
    expect(got[0]).toBe(Math.fround(1));
    expect(got[31] / plain[31]).toBeCloseTo(1 / 32, 6);
    // transformers 5 keeps rope settings under rope_parameters.
    const v5 = { ...withOut(LLAMA32, 'rope_scaling', 'rope_theta'), rope_parameters: { ...sc, rope_theta: 500000.0 } };
    expect(Array.from(ropeInvFreqFromConfig(v5))).toEqual(Array.from(got));
    expect(configFromHfJson(v5, CFG).text.ropeTheta).toBe(500000);
  });
});

describe('Hugging Face model folders', () => {
  it('save writes the documented files and load gives back the same config and bit-identical weights', async () => {
    const w = randomWeights(SMALL, 3);
    const m = new MemoryWorkspace('out');
    await saveHfFolder(m, SMALL, w, { 'tokenizer.json': '{"x":1}' });
    expect(await m.list()).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'vision.safetensors']);
    const text = readSafetensors(await m.read('model.safetensors'), 'model.safetensors');
    const vision = readSafetensors(await m.read('vision.safetensors'), 'vision.safetensors');
    expect([...text.keys()].every((n) => !n.startsWith('vision.'))).toBe(true);
    expect([...vision.keys()].every((n) => n.startsWith('vision.'))).toBe(true);
    expect(text.size + vision.size).toBe(paramSpecs(SMALL).length);
    const cj = (await readJson(m, 'config.json')) as Record<string, unknown>;
    expect(cj.architectures).toEqual(['LlamaForCausalLM']);
    expect(await readJson(m, 'generation_config.json')).toMatchObject({ eos_token_id: [2, 5] });

    const back = await loadHfFolder(m, 'out');
    expect(back.config).toEqual(SMALL);
    expect(back.configJson).toEqual(cj);
    expect([...back.weights.keys()]).toEqual(paramSpecs(SMALL).map((p) => p.name));
    for (const [n, t] of w) {
      expect(back.weights.get(n)!.shape).toEqual(t.shape);
      expect(Array.from(back.weights.get(n)!.data), n).toEqual(Array.from(t.data));
    }
  });

  it('saves the safetensors "format": "pt" metadata transformers requires', async () => {
    const m = new MemoryWorkspace('out');
    const cfg: ModelConfig = { text: { ...SMALL.text, tieWordEmbeddings: true } };
    await saveHfFolder(m, cfg, randomWeights(cfg, 1));
    expect(await m.exists('vision.safetensors')).toBe(false);
    const bytes = await m.read('model.safetensors');
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    expect(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))).__metadata__).toEqual({ format: 'pt' });
  });

  it('loads sharded checkpoints through the index and ignores tensors the config does not use', async () => {
    const cfg: ModelConfig = { text: { ...SMALL.text, tieWordEmbeddings: true } };
    const w = randomWeights(cfg, 5);
    const names = [...w.keys()];
    const half = Math.ceil(names.length / 2);
    const shardA = names.slice(0, half),
      shardB = names.slice(half);
    const t = (ns: string[]) => ns.map((n) => ({ name: n, ...w.get(n)! }));
    const extra = { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', shape: [2], data: new Float32Array([1, 0.01]) };
    const tiedHead = { name: 'lm_head.weight', ...w.get('model.embed_tokens.weight')! };
    const weightMap: Record<string, string> = {};
    for (const n of [...shardA, extra.name]) weightMap[n] = 'model-00001-of-00002.safetensors';
    for (const n of [...shardB, tiedHead.name]) weightMap[n] = 'model-00002-of-00002.safetensors';
    const files = () =>
      new MemoryWorkspace('sharded', {
        'config.json': JSON.stringify(configToHfJson(cfg)),
        'model.safetensors.index.json': JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }),
        'model-00001-of-00002.safetensors': writeSafetensors([...t(shardA), extra]),
        'model-00002-of-00002.safetensors': writeSafetensors([...t(shardB), tiedHead]),
      });
    const back = await loadHfFolder(files());
    expect([...back.weights.keys()]).toEqual(names);
    for (const n of names) expect(Array.from(back.weights.get(n)!.data)).toEqual(Array.from(w.get(n)!.data));

    const missingShard = files();
    missingShard.files.delete('model-00002-of-00002.safetensors');
    const e1 = await inputErrorAsync(loadHfFolder(missingShard));
    expect(e1.where).toBe('sharded/model-00002-of-00002.safetensors');
    expect(e1.message).toMatch(/shard listed in model\.safetensors\.index\.json is missing/);

    const wrongMap = files();
    await wrongMap.write(
      'model.safetensors.index.json',
      new TextEncoder().encode(
        JSON.stringify({
          weight_map: { ...weightMap, 'model.norm.weight': 'model-00001-of-00002.safetensors' },
        }),
      ),
    );
    const e2 = await inputErrorAsync(loadHfFolder(wrongMap));
    expect(e2.message).toMatch(/puts tensor model\.norm\.weight in this shard but it is in model-00002-of-00002\.safetensors/);

    const dup = files();
    await dup.write('model-00002-of-00002.safetensors', writeSafetensors([...t(shardB), t([shardA[0]])[0]]));
    const e3 = await inputErrorAsync(loadHfFolder(dup));
    expect(e3.where).toBe('sharded/model-00002-of-00002.safetensors');
    expect(e3.message).toMatch(new RegExp(`tensor ${shardA[0].replace(/\./g, '\\.')} is also in model-00001`));

    const badIndex = files();
    await badIndex.write('model.safetensors.index.json', new TextEncoder().encode('{"weight_map": 3}'));
    expect((await inputErrorAsync(loadHfFolder(badIndex))).message).toMatch(/sharded\/model\.safetensors\.index\.json: weight_map is missing/);
  });

  it('names the folder, file and tensor for every missing or malformed piece', async () => {
    const w = randomWeights(SMALL, 9);
    const good = async () => {
      const m = new MemoryWorkspace('run7');
      await saveHfFolder(m, SMALL, w);
      return m;
    };
    const rewrite = async (m: MemoryWorkspace, file: string, drop: string[], replace: Record<string, number[]> = {}) => {
      const t = readSafetensors(await m.read(file), file);
      const list = [...t]
        .filter(([n]) => !drop.includes(n))
        .map(([name, v]) => {
          const shape = replace[name] ?? v.shape;
          return { name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
        });
      await m.write(file, writeSafetensors(list));
    };

    let m = await good();
    m.files.delete('config.json');
    let e = await inputErrorAsync(loadHfFolder(m));
    expect([e.where, e.message]).toEqual(['run7', 'run7: no config.json in this folder']);

    m = await good();
    m.files.delete('model.safetensors');
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.message).toMatch(/run7: no model\.safetensors or model\.safetensors\.index\.json/);

    m = await good();
    await rewrite(m, 'model.safetensors', ['model.layers.1.mlp.up_proj.weight']);
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.where).toBe('run7/model.safetensors');
    expect(e.message).toMatch(/tensor model\.layers\.1\.mlp\.up_proj\.weight \[20, 12\] is missing/);

    m = await good();
    await rewrite(m, 'model.safetensors', [], { 'model.layers.0.self_attn.k_proj.weight': [12, 12] });
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.where).toBe('run7/model.safetensors');
    expect(e.message).toMatch(/tensor model\.layers\.0\.self_attn\.k_proj\.weight has shape \[12, 12\] but config\.json implies \[4, 12\]/);

    m = await good();
    await rewrite(m, 'model.safetensors', ['lm_head.weight']);
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.message).toMatch(/lm_head\.weight .* is missing \(tie_word_embeddings is false/);

    m = await good();
    await rewrite(m, 'vision.safetensors', [], { 'vision.pos_embed': [3, 6] });
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.where).toBe('run7/vision.safetensors');
    expect(e.message).toMatch(/vision\.pos_embed has shape \[3, 6\] but config\.json implies \[4, 6\]/);

    m = await good();
    m.files.delete('vision.safetensors');
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.where).toBe('run7/vision.safetensors');
    expect(e.message).toMatch(/vision\.patch_embed\.weight \[6, 16\] is missing/);

    m = await good();
    const bytes = await m.read('model.safetensors');
    await m.write('model.safetensors', bytes.subarray(0, bytes.length - 10));
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.where).toBe('run7/model.safetensors');
    expect(e.message).toMatch(/run past the end of the data/);

    m = await good();
    await m.write('config.json', new TextEncoder().encode('{"model_type": "llama",'));
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.where).toBe('run7/config.json');
    expect(e.message).toMatch(/not valid JSON/);

    m = await good();
    await m.write(
      'config.json',
      new TextEncoder().encode(JSON.stringify({ ...configToHfJson(SMALL), model_type: 'gemma', architectures: ['GemmaForCausalLM'] })),
    );
    e = await inputErrorAsync(loadHfFolder(m));
    expect(e.where).toBe('run7/config.json');
    expect(e.message).toMatch(/unsupported architecture: model_type "gemma"/);
  });

  it('refuses NaN and infinite weights on load and on save, naming the file, the tensor and the element', async () => {
    for (const [bad, shown] of [
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
      [-Infinity, '-Infinity'],
    ] as const) {
      const w = randomWeights(SMALL, 4);
      const m = new MemoryWorkspace('run8');
      await saveHfFolder(m, SMALL, w);
      const t = readSafetensors(await m.read('model.safetensors'), 'model.safetensors');
      t.get('model.layers.1.self_attn.v_proj.weight')!.data[5] = bad;
      await m.write('model.safetensors', writeSafetensors([...t].map(([name, v]) => ({ name, ...v }))));
      const e = await inputErrorAsync(loadHfFolder(m));
      expect(e.where).toBe('run8/model.safetensors');
      expect(e.message).toContain(`tensor model.layers.1.self_attn.v_proj.weight holds ${shown} (element 5)`);
      w.get('vision.norm.weight')!.data[0] = bad;
      const e2 = await inputErrorAsync(saveHfFolder(new MemoryWorkspace(), SMALL, w));
      expect(e2.message).toMatch(/vision\.norm\.weight holds/);
    }
  });

  it('refuses to save weights that do not match the config', async () => {
    const w = randomWeights(SMALL, 2);
    w.delete('model.norm.weight');
    await expect(saveHfFolder(new MemoryWorkspace(), SMALL, w)).rejects.toThrow(/model\.norm\.weight \[12\] is missing/);
  });
});
