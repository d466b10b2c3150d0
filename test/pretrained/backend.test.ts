// The pretrained backend (src/pretrained/backend.ts) on transformers.js with onnxruntime-node, fed
// by the project's own export of a lab model: from a local folder, and from a local server that
// mimics the Hub's URL scheme (download with progress, cache, offline reload, missing file, broken
// download, unsupported architecture, not enough memory). Nothing here touches the internet.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdir, writeFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { PretrainedBackend, PretrainedError, type LoadProgress } from '../../src/pretrained/backend';
import { nodeCacheStore } from '../../src/pretrained/cache-node';
import { NotEnoughMemoryError } from '../../src/pretrained/catalog';
import { tokenizerFromJson } from '../../src/io/tokenizer';
import { loadModel } from '../../src/node/checkpoint';
import { generate } from '../../src/model/generate';
import { Trainer } from '../../src/model/trainer';
import type { WeightMap } from '../../src/model/model';
import { savedWeights } from '../../src/io/peft';
import { nextTokenTargets } from '../../src/model/batch';
import { chatPrompt } from '../../src/io/chat';
import { nodeDirSource } from '../../src/io/workspace';
import { testGpu } from '../helpers/gpu';
import { labTokenizer, smallTextConfig, spreadWeights, tempDir, labModelAndExport } from './fixtures';
import { startHub, listFiles, type LocalHub } from './hub-server';

const tmp = await tempDir('pretrained');
let exported: string;
let lab: string;
let labTok: ReturnType<typeof tokenizerFromJson>;
let hub: LocalHub;
const cacheDir = path.join(tmp.dir, 'cache');
const store = nodeCacheStore(cacheDir);
const newBackend = (o: Partial<ConstructorParameters<typeof PretrainedBackend>[0]> = {}) =>
  new PretrainedBackend({ store, cacheDir, defaultDevice: 'cpu', numThreads: 1, ...o });

beforeAll(async () => {
  const { bpe, files } = labTokenizer();
  labTok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test tokenizer');
  const cfg = smallTextConfig(bpe.vocabSize, { maxPositionEmbeddings: 512 });
  const weights = spreadWeights(cfg, 5);
  // A zero embedding row for <|im_end|> gives it logit 0 under the tied head while others spread
  // around it, so greedy answers run their whole budget instead of stopping after a few tokens.
  const end = labTok.eosIds[0];
  weights.get('model.embed_tokens.weight')!.data.fill(0, end * 32, (end + 1) * 32);
  ({ lab, exported } = await labModelAndExport(tmp.dir, cfg, weights, files));
  const unsupported = path.join(tmp.dir, 'unsupported');
  await mkdir(unsupported, { recursive: true });
  await writeFile(path.join(unsupported, 'config.json'), JSON.stringify({ model_type: 'rwkv', architectures: ['RwkvForCausalLM'], hidden_size: 32 }));
  await writeFile(path.join(unsupported, 'tokenizer.json'), files['tokenizer.json']);
  hub = await startHub({ 'lab/tiny': exported, 'lab/tiny-404': exported, 'lab/tiny-cut': exported, 'lab/rwkv': unsupported });
});
afterAll(async () => {
  await hub?.close();
  await tmp.cleanup();
});

/** The engine's greedy answer to a question, decoded as the lab decodes it. */
async function engineAnswer(question: string, maxNewTokens: number): Promise<string> {
  const gpu = await testGpu();
  const { model } = await loadModel(gpu, lab);
  try {
    const ids = labTok.encode(chatPrompt(question, 0, 0), { addSpecialTokens: false });
    const g = await generate(model, [ids], { maxNewTokens, greedy: true, eosIds: labTok.eosIds });
    const out = g.finished[0] ? g.ids[0].slice(0, -1) : g.ids[0];
    return labTok.decode(out, { skipSpecialTokens: false });
  } finally {
    model.release();
  }
}

const QUESTION = 'Is the liver enlarged on this CT scan?';

describe('pretrained backend (transformers.js, onnxruntime-node)', () => {
  it("greedy text from the exported lab model equals the engine's greedy text for the same weights", async () => {
    const b = newBackend();
    const info = await b.load({ model: exported });
    expect(info).toMatchObject({ kind: 'text', modelType: 'llama', device: 'cpu', downloaded: 0, contextLength: 512 });
    const streamed: string[] = [];
    const reply = await b.ask({ question: QUESTION, recipePrompt: false, maxNewTokens: 24, temperature: 0 }, (t) => streamed.push(t));
    const want = await engineAnswer(QUESTION, 24);
    // The end-of-turn row is zeroed (see beforeAll), so both run the full budget.
    expect(reply).toMatchObject({ tokens: 24, finished: false });
    expect(reply.text).toBe(want);
    // Streamed text grows to the final answer.
    expect(streamed.length).toBeGreaterThan(3);
    expect(streamed.at(-1)).toBe(reply.text);
    for (let i = 1; i < streamed.length; i++) expect(streamed[i].startsWith(streamed[i - 1])).toBe(true);
    await b.unload();
  });

  it('a LoRA-trained model, merged and exported, answers in transformers.js exactly as the adapted model does in the engine', async () => {
    const gpu = await testGpu();
    const { model } = await loadModel(gpu, lab);
    let merged: WeightMap;
    let want: string;
    try {
      model.addLora({ rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'o_proj', 'down_proj'] }, 3);
      // A few steps on the question's own tokens move B away from 0, so the adapters change the answer's logits.
      const ids = labTok.encode(chatPrompt(QUESTION, 0, 0), { addSpecialTokens: false });
      const flat = Uint32Array.from(ids);
      const trainer = new Trainer(model, { lr: 3e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, gradClip: 1 });
      const batch = { B: 1, T: ids.length, ids: flat, targets: nextTokenTargets(flat, 1, ids.length) };
      for (let i = 0; i < 4; i++) await trainer.trainStep([batch]);
      trainer.release();
      const adapters = await model.exportLora();
      expect(Array.from(adapters.get('model.layers.0.self_attn.q_proj.lora_B.weight')!.data).some((x) => x !== 0)).toBe(true);
      const g = await generate(model, [ids], { maxNewTokens: 24, greedy: true, eosIds: labTok.eosIds });
      want = labTok.decode(g.finished[0] ? g.ids[0].slice(0, -1) : g.ids[0], { skipSpecialTokens: false });
      merged = (await savedWeights(model, lab)).weights;
    } finally {
      model.release();
    }
    const { files } = labTokenizer();
    const { exported: loraExport } = await labModelAndExport(path.join(tmp.dir, 'lora'), model.cfg, merged, files);
    const b = newBackend();
    await b.load({ model: loraExport });
    const reply = await b.ask({ question: QUESTION, recipePrompt: false, maxNewTokens: 24, temperature: 0 });
    expect(reply.text).toBe(want);
    // And the adapters mattered: the base model answers otherwise.
    expect(reply.text).not.toBe(await engineAnswer(QUESTION, 24));
    await b.unload();
  });

  it('downloads from a hub mirror with progress that ends at the total, then reloads from the cache with the server gone', async () => {
    const b = newBackend();
    const events: LoadProgress[] = [];
    const info = await b.load({ model: 'lab/tiny', endpoint: hub.url }, (p) => events.push(p));
    const served = (await listFiles(exported)).sort();
    expect(info.files).toEqual(served);
    expect(info.downloaded).toBe(served.length);
    const sizes = await Promise.all(served.map(async (f) => (await import('node:fs/promises')).stat(path.join(exported, f)).then((s) => s.size)));
    const total = sizes.reduce((a, s) => a + s, 0);
    const last = events.at(-1)!;
    expect(last.total).toBe(total);
    expect(last.done).toBe(total);
    // Bytes only go up, and the model file arrived in more than one piece.
    for (let i = 1; i < events.length; i++) expect(events[i].done).toBeGreaterThanOrEqual(events[i - 1].done);
    expect(events.filter((e) => e.phase === 'loading onnx/model.onnx').length).toBeGreaterThan(1);
    expect(hub.requests.filter((r) => r.repo === 'lab/tiny' && r.file === 'onnx/model.onnx' && r.status === 200)).toHaveLength(1);
    const answer = await b.ask({ question: QUESTION, recipePrompt: false, maxNewTokens: 16, temperature: 0 });
    expect(answer.text).toBe(await engineAnswer(QUESTION, 16));

    const cached = (await store.list()).find((c) => c.id === 'lab/tiny')!;
    expect(cached).toMatchObject({ complete: true, loaded: { dtype: null, device: 'cpu' } });
    expect(cached.files.map((f) => f.file)).toEqual(served);
    expect(cached.bytes).toBe(total);

    // Second visit: no request reaches the server, even with it closed.
    const before = hub.requests.length;
    const again = newBackend();
    const info2 = await again.load({ model: 'lab/tiny', endpoint: 'http://127.0.0.1:9/' });
    expect(info2.downloaded).toBe(0);
    expect(hub.requests.length).toBe(before);
    expect((await again.ask({ question: QUESTION, recipePrompt: false, maxNewTokens: 16, temperature: 0 })).text).toBe(answer.text);

    // Deleting it empties the cache, and an offline load then says what is missing.
    expect(await store.remove('lab/tiny')).toBe(served.length);
    expect((await store.list()).find((c) => c.id === 'lab/tiny')).toBeUndefined();
    const err = await again.load({ model: 'lab/tiny', endpoint: hub.url, offline: true }).catch((e) => e);
    expect(err).toBeInstanceOf(PretrainedError);
    expect(err.kind).toBe('offline');
    expect(err.message).toMatch(/lab\/tiny: config\.json is not in the cache/);
  });

  it('a file missing on the mirror (404) is named, and nothing of it is cached', async () => {
    hub.missing.add('lab/tiny-404/onnx/model.onnx');
    const err = await newBackend()
      .load({ model: 'lab/tiny-404', endpoint: hub.url })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PretrainedError);
    expect(err).toMatchObject({ kind: 'missing-file', file: 'onnx/model.onnx', modelId: 'lab/tiny-404' });
    expect(err.message).toBe(`lab/tiny-404: onnx/model.onnx not found on ${hub.url} (HTTP 404)`);
    const files = (await store.files('lab/tiny-404')).map((f) => f.file);
    expect(files).not.toContain('onnx/model.onnx');
    expect((await store.list()).find((c) => c.id === 'lab/tiny-404')?.complete).toBe(false);
  });

  it('a download cut mid-body fails with a clear error, leaves no partial file, and a retry completes', async () => {
    hub.cut.set('lab/tiny-cut/onnx/model.onnx', 40_000);
    // No store: the lab's own clean-up of partial entries is off, so what is (not) left is
    // transformers.js's doing (its file cache writes a temporary file and removes it on error).
    const err = await newBackend({ store: null })
      .load({ model: 'lab/tiny-cut', endpoint: hub.url })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PretrainedError);
    expect(err).toMatchObject({ kind: 'network', file: 'onnx/model.onnx' });
    expect(err.message).toMatch(
      /^lab\/tiny-cut: the download of onnx\/model\.onnx from http:\/\/127\.0\.0\.1:\d+\/ broke off \(.+\); the partial file was not kept/,
    );
    // Not the model file, not a temporary file of it: nothing half-written stays in the cache.
    const left = await readdir(path.join(cacheDir, 'lab', 'tiny-cut', 'onnx')).catch(() => []);
    expect(left).toEqual([]);
    expect((await store.list()).find((c) => c.id === 'lab/tiny-cut')?.complete).toBe(false);

    hub.cut.clear();
    const info = await newBackend().load({ model: 'lab/tiny-cut', endpoint: hub.url });
    expect(info.files).toContain('onnx/model.onnx');
    expect((await store.list()).find((c) => c.id === 'lab/tiny-cut')?.complete).toBe(true);
  });

  it('an architecture transformers.js cannot run is refused by name, before any weights download', async () => {
    const err = await newBackend()
      .load({ model: 'lab/rwkv', endpoint: hub.url })
      .catch((e) => e);
    expect(err).toBeInstanceOf(PretrainedError);
    expect(err.kind).toBe('unsupported');
    expect(err.message).toMatch(/^lab\/rwkv: transformers\.js 4\.\d+\.\d+ .*"rwkv"/);
    expect(hub.requests.filter((r) => r.repo === 'lab/rwkv' && r.file !== 'config.json')).toEqual([]);
  });

  it('a model that needs more memory than the adapter allows is refused before any request', async () => {
    const before = hub.requests.length;
    const small = { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 };
    const b = newBackend({ adapter: { features: ['shader-f16'], limits: small }, defaultDevice: 'webgpu' });
    const err = await b.load({ model: 'onnx-community/medgemma-4b-it-ONNX', endpoint: hub.url }).catch((e) => e);
    expect(err).toBeInstanceOf(NotEnoughMemoryError);
    expect(err.message).toMatch(
      /^onnx-community\/medgemma-4b-it-ONNX: not enough memory: .*weight tensor of about 1\.3 GB, but this GPU allows buffers of at most 0\.13 GB/,
    );
    expect(hub.requests.length).toBe(before);
  });

  it('a folder given as a file source loads with no network', async () => {
    const b = newBackend();
    const info = await b.load({ model: 'picked', folder: nodeDirSource(exported) });
    expect(info.id).toMatch(/^local\//);
    expect(info.downloaded).toBe(0);
    const r = await b.ask({ question: QUESTION, recipePrompt: false, maxNewTokens: 12, temperature: 0 });
    expect(r.text).toBe(await engineAnswer(QUESTION, 12));

    // The same folder without its model file: named, and no request leaves for any host.
    const src = nodeDirSource(exported);
    const holed = { ...src, name: 'picked-folder', exists: async (p: string) => p !== 'onnx/model.onnx' && src.exists(p) };
    const before = hub.requests.length;
    const err = await b.load({ model: 'picked', folder: holed }).catch((e) => e);
    expect(err).toBeInstanceOf(PretrainedError);
    expect(err).toMatchObject({ kind: 'missing-file', file: 'onnx/model.onnx' });
    expect(err.message).toBe('local/picked-folder: onnx/model.onnx is missing from the folder picked-folder');
    expect(hub.requests.length).toBe(before);
  });
});
