// The exporter's transformers.js layout (KV cache, attention mask, position ids) run by
// onnxruntime-node must give the engine's logits: for a prompt, for one cached step after it, and
// for a left-padded batch. Covers GQA with a tied head (llama) and q/k/v bias with an untied head
// and llama3 rope scaling (qwen2), so rope scaling is carried through inv_freq.
import { describe, it, expect, afterAll } from 'vitest';
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelConfig } from '../../src/model/config';
import { Activations } from '../../src/model/activations';
import { uploadBatch } from '../../src/model/batch';
import { textForward } from '../../src/model/forward';
import { CommandStream } from '../../src/engine/stream';
import { download } from '../../src/engine/tensor';
import type { Model } from '../../src/model/model';
import { loadModel, saveCheckpoint } from '../../src/node/checkpoint';
import { readJson } from '../../src/io/files';
import { MemoryWorkspace, nodeDirSource } from '../../src/io/workspace';
import { encodeLlamaOnnx, exportOnnxFolder, labChatTemplate } from '../../src/io/onnx-export';
import { InputError } from '../../src/engine/errors';
import { chatPrompt } from '../../src/io/chat';
import { testGpu } from '../helpers/gpu';
import { labTokenizer, smallTextConfig, spreadWeights, tempDir, labModelAndExport } from './fixtures';

const tmp = await tempDir('onnx-export');
afterAll(() => tmp.cleanup());

/** Engine logits [T, V] of one sequence (full forward, no cache). */
async function engineLogits(model: Model, ids: number[]): Promise<Float32Array> {
  const gpu = model.gpu;
  const acts = new Activations(gpu, model.cfg, { B: 1, T: ids.length, nImages: 0, training: false });
  const s = new CommandStream(gpu, 'export-test');
  uploadBatch(model, acts, { B: 1, T: ids.length, ids: Uint32Array.from(ids) });
  textForward(s, model, acts);
  await s.sync();
  const out = await download(gpu, acts.get('logits'));
  acts.release();
  s.destroy();
  return out;
}

const i64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0].length]);

/** Worst |a-b| over the largest |b|: 1e-4 of the logits' scale (elementwise relative error is meaningless at zero crossings). */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): { err: number; scale: number } {
  let scale = 0,
    worst = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return { err: worst / scale, scale };
}

const CASES: [string, (v: number) => ModelConfig, unknown][] = [
  ['llama, GQA 4/2, tied head', (v) => smallTextConfig(v), null],
  [
    'qwen2, q/k/v bias, untied head, MQA, llama3 rope scaling',
    (v) => smallTextConfig(v, { architecture: 'qwen2', qkvBias: true, tieWordEmbeddings: false, numKvHeads: 1, ropeTheta: 500 }),
    { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 32 },
  ],
];

describe('export-onnx: the transformers.js layout on onnxruntime-node vs the engine', () => {
  for (const [name, makeCfg, ropeScaling] of CASES) {
    it(name, async () => {
      const { bpe, files } = labTokenizer();
      const cfg = makeCfg(bpe.vocabSize);
      const weights = spreadWeights(cfg, 11);
      const dir = path.join(tmp.dir, name.replace(/\W+/g, '-'));
      const lab = path.join(dir, 'lab');
      await saveCheckpoint(lab, cfg, weights, files);
      if (ropeScaling) {
        // saveCheckpoint writes no rope scaling; the folder's config.json gets it as a real checkpoint would have it.
        const cj = (await readJson(nodeDirSource(lab), 'config.json')) as Record<string, unknown>;
        cj.rope_scaling = ropeScaling;
        await (await import('node:fs/promises')).writeFile(path.join(lab, 'config.json'), JSON.stringify(cj));
      }
      const out = path.join(dir, 'exported');
      const { nodeDirSink } = await import('../../src/io/workspace');
      const report = await exportOnnxFolder(nodeDirSource(lab), nodeDirSink(out));
      expect(report.files).toEqual(['onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'config.json']);
      const config = JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8'));
      expect(config.model_type).toBe(cfg.text.architecture);
      expect(config['transformers.js_config']).toEqual({ dtype: 'fp32', use_external_data_format: false });

      const gpu = await testGpu();
      const { model } = await loadModel(gpu, lab);
      const session = await ort.InferenceSession.create(path.join(out, 'onnx/model.onnx'), { graphOptimizationLevel: 'disabled' });
      try {
        const t = cfg.text;
        expect([...session.inputNames].sort()).toEqual(
          [
            'attention_mask',
            'input_ids',
            'position_ids',
            ...Array.from({ length: t.numLayers }, (_, l) => [`past_key_values.${l}.key`, `past_key_values.${l}.value`]).flat(),
          ].sort(),
        );
        const V = t.vocabSize;
        const emptyPast = () =>
          Object.fromEntries(
            Array.from({ length: t.numLayers }, (_, l) =>
              ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [1, t.numKvHeads, 0, t.headDim])]),
            ).flat(),
          );

        // 1. A prompt from an empty cache.
        const prompt = [5, 77, 200, 13, 42, 300, 7, 9, 120, 64, 33];
        const T = prompt.length;
        const pre = await session.run({
          input_ids: i64([prompt]),
          attention_mask: i64([prompt.map(() => 1)]),
          position_ids: i64([prompt.map((_, i) => i)]),
          ...emptyPast(),
        });
        expect(pre.logits.dims).toEqual([1, T, V]);
        expect(pre['present.0.key'].dims).toEqual([1, t.numKvHeads, T, t.headDim]);
        const want = await engineLogits(model, prompt);
        const r1 = relErr(pre.logits.data as Float32Array, want);
        expect(r1.scale).toBeGreaterThan(1);
        expect(r1.err).toBeLessThan(1e-4);

        // 2. One cached step: the new token's logits equal the engine's last row over the whole sequence.
        const next = 150;
        const past = Object.fromEntries(
          Array.from({ length: t.numLayers }, (_, l) => ['key', 'value'].map((kv) => [`past_key_values.${l}.${kv}`, pre[`present.${l}.${kv}`]])).flat(),
        );
        const step = await session.run({ input_ids: i64([[next]]), attention_mask: i64([[...prompt, next].map(() => 1)]), position_ids: i64([[T]]), ...past });
        expect(step.logits.dims).toEqual([1, 1, V]);
        const full = await engineLogits(model, [...prompt, next]);
        const r2 = relErr(step.logits.data as Float32Array, full.subarray(T * V, (T + 1) * V));
        expect(r2.err).toBeLessThan(1e-4);

        // 3. A left-padded batch: the short sequence's rows equal its own logits, so padding is masked
        // and positions count from its first real token (as transformers.js builds them).
        const short = [9, 250, 31, 4];
        const pad = T - short.length;
        const batch = await session.run({
          input_ids: i64([prompt, [...Array(pad).fill(0), ...short]]),
          attention_mask: i64([prompt.map(() => 1), [...Array(pad).fill(0), ...short.map(() => 1)]]),
          position_ids: i64([prompt.map((_, i) => i), [...Array(pad).fill(1), ...short.map((_, i) => i)]]),
          ...Object.fromEntries(Object.entries(emptyPast()).map(([k]) => [k, new ort.Tensor('float32', new Float32Array(0), [2, t.numKvHeads, 0, t.headDim])])),
        });
        const b = batch.logits.data as Float32Array;
        expect(relErr(b.subarray(0, T * V), want).err).toBeLessThan(1e-4);
        const shortWant = await engineLogits(model, short);
        expect(relErr(b.subarray((T + pad) * V, 2 * T * V), shortWant).err).toBeLessThan(1e-4);

        // The rope scaling matters here: the same graph built with the unscaled frequencies disagrees.
        if (ropeScaling) {
          const plain = encodeLlamaOnnx(cfg, (n) => weights.get(n)!.data, { layout: { kind: 'cache' } });
          const s2 = await ort.InferenceSession.create(plain);
          const o2 = await s2.run({
            input_ids: i64([prompt]),
            attention_mask: i64([prompt.map(() => 1)]),
            position_ids: i64([prompt.map((_, i) => i)]),
            ...emptyPast(),
          });
          expect(relErr(o2.logits.data as Float32Array, want).err).toBeGreaterThan(1e-3);
          await s2.release();
        }
      } finally {
        await session.release();
        model.release();
      }
    });
  }

  it('writes a chat template that renders the lab chat format, and refuses folders it cannot export', async () => {
    const { Template } = await import('@huggingface/jinja');
    const render = (messages: unknown[]) => new Template(labChatTemplate(0)).render({ messages, add_generation_prompt: true });
    expect(render([{ role: 'user', content: 'Is it?' }])).toBe(chatPrompt('Is it?', 0, 0));
    expect(
      render([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Q' },
      ]),
    ).toBe(chatPrompt('Q', 0, 0, 'Be brief.'));
    // A lab VLM's template puts the image placeholders first, as chatPrompt does.
    expect(
      new Template(labChatTemplate(4)).render({
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Q' }, { type: 'image' }] }],
        add_generation_prompt: true,
      }),
    ).toBe(chatPrompt('Q', 1, 4));

    const { bpe, files } = labTokenizer();
    const cfg = smallTextConfig(bpe.vocabSize);
    const noTok = path.join(tmp.dir, 'no-tokenizer');
    await saveCheckpoint(noTok, cfg, spreadWeights(cfg, 2));
    const sink = new MemoryWorkspace();
    await expect(exportOnnxFolder(nodeDirSource(noTok), sink)).rejects.toThrow(/no tokenizer\.json/);
    expect(sink.files.size).toBe(0);
    await expect(exportOnnxFolder(nodeDirSource(path.join(tmp.dir, 'nothing-here')), sink)).rejects.toBeInstanceOf(InputError);
    const { report } = await labModelAndExport(path.join(tmp.dir, 'ok'), cfg, spreadWeights(cfg, 2), files);
    const params = cfg.text.vocabSize * 32 + 2 * (32 + 32 * 32 + 16 * 32 * 2 + 32 * 32 + 32 + 3 * 48 * 32) + 32;
    expect(report.params).toBe(params);
    // Every weight is an initializer: the file is at least 4 bytes per parameter.
    expect(report.onnxBytes).toBeGreaterThan(4 * params);
  });
});
