// downloadModel (src/lab/models.ts over src/lab/hub-models.ts) against an in-memory Hub
// (fake-hub.ts) serving a SmolVLM-shaped tiny Idefics3 repository: a download that completes and
// loads with the served weights, one cut off mid-file that resumes with a Range request, a server
// without ranges, a sharded checkpoint, a model too big for the adapter refused after config.json
// alone, and the errors a person can act on (404, 401/403, offline, not a model, storage, cancel).

import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { generateSynth } from '../../src/data/synth';
import { tinySmolvlmFiles } from '../../src/recipe/smolvlm';
import { MemoryWorkspace, subWorkspace, isCompleteFolder } from '../../src/io/workspace';
import { loadHfFolder, loadModelFolder } from '../../src/io/hf-config';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { createLab } from '../../src/lab';
import { modelsApi, DOWNLOADS_DIR } from '../../src/lab/models';
import { dataApi } from '../../src/lab/data';
import type { Progress } from '../../src/lab/api';
import { testGpu } from '../helpers/gpu';
import { COMMIT, HUB, fakeHub, type FakeRepo } from './fake-hub';

const REPO = 'HuggingFaceTB/SmolVLM-tiny';
const MODEL = 'models/SmolVLM-tiny';
const STAGING = `${DOWNLOADS_DIR}/models--HuggingFaceTB--SmolVLM-tiny`;
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'idefics3-tiny');

let files: Record<string, Uint8Array>;
/** model.safetensors of the same shapes with other weights. */
let newer: Uint8Array;

beforeAll(async () => {
  const items = await generateSynth({ n: 8, kind: 'image', level: 1, seed: 1, split: 'train' });
  files = Object.fromEntries(await tinySmolvlmFiles(items, { seed: 3 }));
  newer = (await tinySmolvlmFiles(items, { seed: 4 })).get('model.safetensors')!;
}, 120_000);

function setup(repos: Record<string, FakeRepo>) {
  const ws = new MemoryWorkspace();
  const lab = createLab(ws, testGpu);
  const hub = fakeHub(repos);
  const models = modelsApi(lab.context);
  const progress: Progress[] = [];
  const download = (
    req: { repo?: string; name?: string; token?: string; revision?: string } = {},
    hooks: Parameters<typeof models.downloadModelWith>[2] = {},
  ) => models.downloadModelWith({ repo: REPO, endpoint: HUB, ...req }, (p) => progress.push(p), { fetch: hub.fetch, partBytes: 8192, ...hooks });
  return { ws, lab, hub, progress, download };
}

/** The model folder's files (no marker) against the served ones, byte for byte. */
async function expectSameFiles(ws: MemoryWorkspace, dir: string, served: Record<string, Uint8Array>) {
  const stored = (await subWorkspace(ws, dir).list()).filter((f) => f !== '.complete');
  expect(stored).toEqual(Object.keys(served).sort());
  for (const f of stored) expect(Buffer.from(await ws.read(`${dir}/${f}`)).equals(Buffer.from(served[f])), f).toBe(true);
}

const noStaging = async (ws: MemoryWorkspace) => expect((await ws.list()).filter((f) => f.startsWith(`${DOWNLOADS_DIR}/`))).toEqual([]);

describe('downloadModel from the Hub', () => {
  it('downloads a SmolVLM-shaped repo with byte progress into models/NAME, which loads with the served weights', async () => {
    const { ws, lab, hub, progress, download } = setup({ [REPO]: { files } });
    const info = await download();
    expect(info.path).toBe(MODEL);
    expect(info.cfg.idefics3).toBeDefined();
    await expectSameFiles(ws, MODEL, files);
    expect(await isCompleteFolder(ws, MODEL)).toBe(true);
    await noStaging(ws);
    expect((await lab.listModels()).map((m) => m.path)).toEqual([MODEL]);

    // config.json at the revision asked for; everything after it at the commit that resolved to.
    expect(hub.log[0]).toMatchObject({ method: 'GET', file: 'config.json', revision: 'main' });
    expect(hub.log.slice(1).every((e) => e.revision === COMMIT)).toBe(true);
    expect(hub.gets('model.safetensors')).toHaveLength(1);

    const total = Object.values(files).reduce((a, b) => a + b.length, 0);
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ done: total, total, etaSeconds: 0 });
    expect(last.phase).toMatch(/^downloaded 7 files/);
    expect(progress.some((p) => p.phase.startsWith('reading config.json of HuggingFaceTB/SmolVLM-tiny'))).toBe(true);
    expect(progress.some((p) => /^file \d\/7 model\.safetensors: /.test(p.phase))).toBe(true);
    expect(progress.some((p) => p.phase === 'writing the model folder')).toBe(true);
    const bytes = progress.map((p) => p.done);
    expect(bytes.every((b, i) => i === 0 || b >= bytes[i - 1])).toBe(true);

    const gpu = await testGpu();
    const model = await loadModelFolder(gpu, subWorkspace(ws, MODEL), MODEL);
    try {
      const served = (await loadHfFolder(new MemoryWorkspace('served', files))).weights;
      const onGpu = await model.exportWeights();
      expect([...onGpu.keys()].sort()).toEqual([...served.keys()].sort());
      for (const [name, t] of served) expect(Buffer.from(onGpu.get(name)!.data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
    } finally {
      model.release();
    }
    // The lab's own use of it: its tokenizer and weights load through the context too.
    expect((await lab.scoreText(MODEL, 'Is there a lesion? <answer>A</answer>')).every(Number.isFinite)).toBe(true);
  });

  it('a download cut off mid-file keeps what arrived; the next one asks for the rest with a Range request and ends identical', async () => {
    const at = Math.floor(files['model.safetensors'].length * 0.6) + 123;
    const { ws, lab, hub, progress, download } = setup({ [REPO]: { files, cut: { file: 'model.safetensors', at } } });
    await expect(download()).rejects.toThrow(
      /^hf HuggingFaceTB\/SmolVLM-tiny: the download of model\.safetensors was cut after \d+ of \d+ bytes .*run again to resume/,
    );
    // No model appeared; the staged parts hold exactly the bytes that arrived.
    expect(await lab.listModels()).toEqual([]);
    expect(await ws.exists(`${MODEL}/config.json`)).toBe(false);
    const parts = (await ws.list()).filter((f) => f.startsWith(`${STAGING}/parts/model.safetensors/`));
    let staged = 0;
    for (const f of parts) staged += (await ws.size(f))!;
    expect(staged).toBe(at);

    progress.length = 0;
    const before = hub.log.length;
    const info = await download();
    expect(info.path).toBe(MODEL);
    await expectSameFiles(ws, MODEL, files);
    await noStaging(ws);
    const again = hub.log.slice(before);
    // config.json is read again (the fit check, the commit); the tokenizer files are not.
    expect(again.filter((e) => e.method === 'GET').map((e) => e.file)).toEqual(['config.json', 'model.safetensors']);
    expect(again.find((e) => e.file === 'model.safetensors' && e.method === 'GET')).toMatchObject({ range: `bytes=${at}-`, revision: COMMIT });
    expect(progress.some((p) => /were already here/.test(p.phase))).toBe(true);
  });

  it('a server that ignores ranges sends the whole file again, which replaces the partial one', async () => {
    const at = 20_000;
    const { ws, hub, download } = setup({ [REPO]: { files, ranges: false, cut: { file: 'model.safetensors', at } } });
    await expect(download()).rejects.toThrow(/was cut after/);
    await download();
    await expectSameFiles(ws, MODEL, files);
    const gets = hub.gets('model.safetensors');
    expect(gets.map((g) => g.range)).toEqual([undefined, `bytes=${at}-`]);
  });

  it('without a commit to pin, a resumed file is asked for If-Range its ETag; changed on the Hub meanwhile, it comes whole', async () => {
    const at = 25_000;
    const repo: FakeRepo = { files: { ...files }, noCommit: true, cut: { file: 'model.safetensors', at } };
    const { ws, hub, download } = setup({ [REPO]: repo });
    await expect(download()).rejects.toThrow(/was cut after/);
    // Same shapes, other weights: the file changed between the two tries.
    repo.files['model.safetensors'] = newer;
    await download();
    await expectSameFiles(ws, MODEL, { ...files, 'model.safetensors': newer });
    const [first, second] = hub.gets('model.safetensors');
    expect(first).toMatchObject({ revision: 'main' });
    expect(second).toMatchObject({ revision: 'main', range: `bytes=${at}-`, ifRange: expect.stringMatching(/^".+"$/) });
  });

  it('downloads a sharded checkpoint (index and shards)', async () => {
    const tensors = [...readSafetensors(files['model.safetensors'], 'model.safetensors')].map(([name, t]) => ({ name, ...t }));
    const half = Math.ceil(tensors.length / 2);
    const shards = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const sharded: Record<string, Uint8Array> = { ...files };
    delete sharded['model.safetensors'];
    sharded[shards[0]] = writeSafetensors(tensors.slice(0, half));
    sharded[shards[1]] = writeSafetensors(tensors.slice(half));
    const weight_map = Object.fromEntries(tensors.map((t, i) => [t.name, shards[i < half ? 0 : 1]]));
    sharded['model.safetensors.index.json'] = new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map }));
    const { ws, lab, download } = setup({ [REPO]: { files: sharded } });
    await download({ name: 'sharded' });
    await expectSameFiles(ws, 'models/sharded', sharded);
    expect((await lab.scoreText('models/sharded', 'Is it left?')).every(Number.isFinite)).toBe(true);
  });

  it('refuses a model too big for this adapter after fetching config.json alone, with the numbers', async () => {
    const cfg = JSON.parse(new TextDecoder().decode(files['config.json']));
    // A 4M-token vocabulary at width 1024: one 16.4 GB embedding, past any adapter's largest buffer.
    cfg.text_config = { ...cfg.text_config, vocab_size: 4_000_000, hidden_size: 1024, tie_word_embeddings: true };
    cfg.vocab_size = 4_000_000;
    cfg.tie_word_embeddings = true;
    const big = { ...files, 'config.json': new TextEncoder().encode(JSON.stringify(cfg)) };
    const { ws, hub, download } = setup({ 'big/SmolVLM-huge': { files: big } });
    await expect(download({ repo: 'big/SmolVLM-huge' })).rejects.toThrow(
      /^hf big\/SmolVLM-huge: too big for this adapter: tensor model\.text_model\.embed_tokens\.weight \[4000000, 1024\] needs 16\.4 GB in one buffer, more than this adapter's largest buffer \(\d+\.\d+ GB: maxBufferSize \/ maxStorageBufferBindingSize\); nothing was downloaded$/,
    );
    expect(hub.log.map((e) => `${e.method} ${e.url}`)).toEqual([`GET ${HUB}/big/SmolVLM-huge/resolve/main/config.json`]);
    expect(await ws.list()).toEqual([]);

    // Memory, on an adapter that says how much it has: the weights' bytes against it.
    const { download: d2, hub: h2 } = setup({ [REPO]: { files } });
    await expect(d2({}, { budget: { maxBindingBytes: 2 ** 30, memoryBytes: 100_000 } })).rejects.toThrow(
      /too big for this adapter: [\d,]+ parameters: its weights need [\d.]+ MB, more than the [\d.]+ MB of memory this adapter has; nothing was downloaded/,
    );
    expect(h2.log).toHaveLength(1);
  });

  it('a missing required file is an error naming the repository and the file, before any weight is fetched', async () => {
    const fixture = {
      'config.json': new Uint8Array(readFileSync(path.join(FIXTURE, 'config.json'))),
      'model.safetensors': new Uint8Array(readFileSync(path.join(FIXTURE, 'model.safetensors'))),
    };
    const { ws, hub, download } = setup({ 'lab/no-tokenizer': { files: fixture } });
    await expect(download({ repo: 'lab/no-tokenizer' })).rejects.toThrow(
      'hf lab/no-tokenizer: the repository has no tokenizer.json at revision main (HTTP 404): the lab needs the fast tokenizer file (tokenizer.json) beside the weights; nothing was saved',
    );
    expect(hub.gets('model.safetensors')).toEqual([]);
    expect(await ws.exists('models/no-tokenizer/config.json')).toBe(false);

    const noWeights = { ...files };
    delete noWeights['model.safetensors'];
    const second = setup({ 'lab/no-weights': { files: noWeights } });
    await expect(second.download({ repo: 'lab/no-weights' })).rejects.toThrow(
      /^hf lab\/no-weights: the repository has neither model\.safetensors nor model\.safetensors\.index\.json at revision main: the lab reads safetensors weights only/,
    );

    const third = setup({});
    await expect(third.download({ repo: 'nobody/nothing' })).rejects.toThrow(
      /^hf nobody\/nothing: no model nobody\/nothing on https:\/\/hub\.test \(if it is private, give a token of an account that can see it\)/,
    );
    await expect(third.download({ revision: 'v9' })).rejects.toThrow(/no model HuggingFaceTB\/SmolVLM-tiny on/);
    const fourth = setup({ [REPO]: { files } });
    await expect(fourth.download({ revision: 'v9' })).rejects.toThrow(
      /^hf HuggingFaceTB\/SmolVLM-tiny: no config\.json at revision v9 of HuggingFaceTB\/SmolVLM-tiny/,
    );
  });

  it('a gated repository needs a token (401), refuses a wrong one (403), and takes the right one', async () => {
    const { ws, hub, download } = setup({ 'org/gated': { files, token: 'hf_right' } });
    await expect(download({ repo: 'org/gated' })).rejects.toThrow(
      /^hf org\/gated: file config\.json needs a Hugging Face token \(HTTP 401\): the model is gated or private; open https:\/\/hub\.test\/org\/gated while logged in, accept its terms/,
    );
    await expect(download({ repo: 'org/gated', token: 'hf_wrong' })).rejects.toThrow(
      /access to file config\.json was refused for the token given \(HTTP 403\)/,
    );
    expect(await ws.list()).toEqual([]);
    await download({ repo: 'org/gated', token: 'hf_right' });
    await expectSameFiles(ws, 'models/gated', files);
    expect(hub.log.slice(2).every((e) => e.auth === 'Bearer hf_right')).toBe(true);
  });

  it('offline, a repository that is no model this lab runs, and too little storage are clear errors', async () => {
    const offline = (async () => {
      throw new TypeError('fetch failed', { cause: { code: 'ENOTFOUND' } });
    }) as typeof fetch;
    const a = setup({});
    await expect(a.download({}, { fetch: offline })).rejects.toThrow(
      /^hf HuggingFaceTB\/SmolVLM-tiny: cannot reach https:\/\/hub\.test: you are offline or the Hub is blocked.*\(ENOTFOUND\)/,
    );

    const bert = { 'config.json': new TextEncoder().encode(JSON.stringify({ model_type: 'bert', architectures: ['BertModel'], hidden_size: 8 })) };
    const b = setup({ 'google/bert-tiny': { files: bert } });
    await expect(b.download({ repo: 'google/bert-tiny' })).rejects.toThrow(
      /^hf google\/bert-tiny\/config\.json: .*\(google\/bert-tiny is not a model this lab runs/,
    );
    expect(b.hub.log).toHaveLength(1);

    const c = setup({ [REPO]: { files } });
    await expect(c.download({}, { freeBytes: async () => 50_000 })).rejects.toThrow(
      /^hf HuggingFaceTB\/SmolVLM-tiny: not enough storage: the weights are [\d.]+ MB; .* but only 0\.05 MB is free/,
    );
    expect(c.hub.gets('model.safetensors')).toEqual([]);
  });

  it('refuses a name that is taken before any request; Cancel keeps what arrived and the next download resumes', async () => {
    const { ws, lab, hub, progress, download } = setup({ [REPO]: { files, delayMs: 2, chunk: 500 } });
    await ws.writeFolder(`${MODEL}`, { 'config.json': files['config.json'] });
    await expect(download()).rejects.toThrow(/^models\/SmolVLM-tiny: a model of this name exists/);
    expect(hub.log).toEqual([]);

    const pending = download({ name: 'cancelled' });
    for (let i = 0; i < 2000 && !progress.some((p) => p.phase.includes('model.safetensors') && p.done > 30_000); i++)
      await new Promise((r) => setTimeout(r, 5));
    await lab.cancel();
    await expect(pending).rejects.toThrow(/^the download of HuggingFaceTB\/SmolVLM-tiny was cancelled; what arrived is kept/);
    expect(await ws.exists('models/cancelled/config.json')).toBe(false);
    hub.repos[REPO].delayMs = 0;
    await download({ name: 'cancelled' });
    await expectSameFiles(ws, 'models/cancelled', files);
    expect(hub.gets('model.safetensors').at(-1)?.range).toMatch(/^bytes=\d+-$/);
  });
});

describe("the worker's cancel", () => {
  it('also ends a Hub dataset import, which holds no GPU either', async () => {
    const lab = createLab(new MemoryWorkspace(), testGpu);
    // A Hub that never answers until the request is aborted.
    const hanging = ((_url: string, init: RequestInit) =>
      new Promise((_, reject) => init.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as unknown as typeof fetch;
    const pending = dataApi(lab.context).importHubWith({ name: 'set', repo: 'lab/evalset', split: 'test', endpoint: HUB }, undefined, hanging);
    await new Promise((r) => setTimeout(r, 20));
    await lab.cancel();
    await expect(pending).rejects.toThrow('the download of lab/evalset was cancelled');
  });
});
