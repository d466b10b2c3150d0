// The pretrained-model worker in Chromium on the production build: a lab model exported by the
// project's own exporter is served by a local server that mimics the Hub; the worker downloads it
// with progress, answers as the engine does, keeps it in the Cache API, and after a reload with
// the server stopped loads it again from the cache and answers the same. A missing file and a
// download cut mid-body fail with clear errors and leave nothing half-cached. ONNX Runtime's WASM
// files come from the lab's own origin: no request goes to any host but the lab and the mirror.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';
import { launchChromium, startPreview } from './browser';
import { labTokenizer, smallTextConfig, spreadWeights, tempDir, labModelAndExport } from '../test/pretrained/fixtures';
import { startHub, type LocalHub } from '../test/pretrained/hub-server';
import { tokenizerFromJson } from '../src/io/tokenizer';
import { createNodeGpu } from '../src/node/dawn';
import { loadModel } from '../src/node/checkpoint';
import { generate } from '../src/model/generate';
import { chatPrompt } from '../src/io/chat';

const QUESTION = 'Is the liver enlarged on this CT scan?';
const MAX_NEW = 16;

type Thinker = { thinker: { pretrained?: () => Record<string, (...a: unknown[]) => Promise<unknown>>; proxy: <T>(f: T) => T } };

describe('pretrained models in a browser worker (transformers.js)', () => {
  let browser: Browser;
  let server: PreviewServer;
  let url: string;
  let hub: LocalHub;
  let hubPort: number;
  let exported: string;
  let engineText: string;
  const tmpP = tempDir('pretrained-e2e');

  beforeAll(async () => {
    const tmp = await tmpP;
    const { bpe, files } = labTokenizer();
    const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'e2e tokenizer');
    const cfg = smallTextConfig(bpe.vocabSize, { maxPositionEmbeddings: 512 });
    const weights = spreadWeights(cfg, 5);
    // <|im_end|> gets logit 0 under the tied head, so the answer runs its whole budget.
    weights.get('model.embed_tokens.weight')!.data.fill(0, tok.eosIds[0] * 32, (tok.eosIds[0] + 1) * 32);
    const made = await labModelAndExport(tmp.dir, cfg, weights, files);
    exported = made.exported;

    const gpu = await createNodeGpu();
    const { model } = await loadModel(gpu, made.lab);
    const g = await generate(model, [tok.encode(chatPrompt(QUESTION, 0, 0), { addSpecialTokens: false })], {
      maxNewTokens: MAX_NEW,
      greedy: true,
      eosIds: tok.eosIds,
    });
    engineText = tok.decode(g.ids[0], { skipSpecialTokens: false });
    model.release();
    gpu.destroy();

    hub = await startHub({ 'lab/tiny': exported, 'lab/ui': exported, 'lab/missing': exported, 'lab/cut': exported });
    hubPort = Number(new URL(hub.url).port);
    hub.missing.add('lab/missing/onnx/model.onnx');
    hub.cut.set('lab/cut/onnx/model.onnx', 40_000);
    // THINKER_E2E_OUT: preview another build folder (a build of a branch), default dist-web.
    if (process.env.THINKER_E2E_OUT) {
      server = await preview({ build: { outDir: process.env.THINKER_E2E_OUT }, preview: { port: 0, host: '127.0.0.1', strictPort: false }, logLevel: 'error' });
      url = new URL(process.env.THINKER_E2E_PAGE ?? '', server.resolvedUrls!.local[0]).href;
    } else {
      ({ server, url } = await startPreview());
    }
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await hub?.close();
    await (await tmpP).cleanup();
  });

  async function openPage(): Promise<{ page: Page; requests: string[]; errors: string[] }> {
    const page = await browser.newPage();
    return { page, ...(await watch(page)) };
  }
  async function watch(page: Page) {
    const requests: string[] = [];
    const errors: string[] = [];
    page.context().on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as Thinker).thinker !== undefined);
    const has = await page.evaluate(() => typeof (window as unknown as Thinker).thinker.pretrained === 'function');
    expect(has, 'the app must expose window.thinker.pretrained (src/app/main.tsx: getPretrained from src/pretrained/client.ts)').toBe(true);
    return { requests, errors };
  }

  it('through the UI: the catalog for this adapter, a typed id and mirror, the loaded model and cache view, then Ask and Evaluate with the pretrained backend', async () => {
    const { page, errors } = await openPage();
    page.on('dialog', (d) => void d.accept());
    const go = async (id: string) => {
      await page.getByTestId(`nav-${id}`).click();
      await expect.poll(() => page.evaluate(() => location.hash)).toBe(`#/${id}`);
    };
    await go('models');
    await page.getByTestId('pretrained-start').click();
    await expect.poll(() => page.getByTestId('catalog-row').count()).toBe(5);
    // Each curated model shows the precision chosen here and its sizes, or why it cannot run.
    for (const row of await page.getByTestId('catalog-row').all()) {
      expect(await row.textContent()).toMatch(/(q4f16|fp16|q4|fp32) on (webgpu|wasm).*≈ .*B.*≈ .*B|needs about|allows buffers/);
    }
    await page.getByTestId('pretrained-id').fill('lab tiny');
    expect(await page.getByTestId('pretrained-problem').textContent()).toBe('"lab tiny" is not a hub model id (owner/name)');
    expect(await page.getByTestId('pretrained-load').isDisabled()).toBe(true);
    await page.getByTestId('pretrained-id').fill('lab/ui');
    await page.getByTestId('pretrained-endpoint').fill(hub.url);
    await page.getByTestId('pretrained-load').click();
    await page.getByTestId('pretrained-loaded').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('pretrained-loaded').textContent()).toMatch(/Loaded: lab\/ui · text only · .* in 5 files \(5 downloaded\)/);
    await expect.poll(() => page.getByTestId('cache-row').count()).toBe(1);
    expect(await page.getByTestId('cache-row').textContent()).toMatch(/lab\/ui.*complete.*loads offline/);
    await page.getByTestId('pretrained').screenshot({ path: 'test-results/pretrained-models.png' });

    // Ask: the pretrained backend is chosen; the answer is the engine's greedy text.
    await go('ask');
    expect(await page.getByTestId('backend-pretrained').isChecked()).toBe(true);
    expect(await page.getByTestId('pretrained-current').textContent()).toMatch(/^lab\/ui text only/);
    await page.getByTestId('ask-question').fill(QUESTION);
    await page.getByTestId('ask-recipe').uncheck();
    await page.locator('#ask-max').fill(String(MAX_NEW));
    await page.getByTestId('ask-run').click();
    await page.getByTestId('ask-summary').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('ask-answer').textContent()).toBe(engineText);
    expect(await page.getByTestId('ask-summary').textContent()).toMatch(new RegExp(`^${MAX_NEW} tokens`));
    await page.screenshot({ path: 'test-results/pretrained-ask.png' });

    // Evaluate: the same table as for lab models, under the pretrained model's name.
    await go('evaluate');
    expect(await page.getByTestId('backend-pretrained').isChecked()).toBe(true);
    await page.locator('#ev-limit').fill('2');
    await page.locator('#ev-max').fill('4');
    await page.getByTestId('eval-run').click();
    await page.getByTestId('eval-row-synth-text-L1').waitFor({ timeout: 60_000 });
    await expect
      .poll(async () => (await page.getByTestId('eval-results').textContent()) ?? '', { timeout: 60_000 })
      .toMatch(/^Results · lab\/ui \(pretrained\)/);
    expect(await page.getByTestId('eval-row-synth-text-L1').locator('td').nth(1).textContent()).toBe('2');
    // The graded records download as the CLI writes them: one JSON object per line.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('eval-download').click()]);
    expect(dl.suggestedFilename()).toBe('lab_ui_pretrained-records.jsonl');
    const lines = readFileSync((await dl.path())!, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { benchmark: string; response_tokens: number });
    expect(lines.map((r) => r.benchmark)).toEqual(['synth-text-L1', 'synth-text-L1']);

    // Data: teacher traces from the loaded model (this one writes no think/answer tags, so none is kept).
    await go('data');
    await page.locator('#dist-limit').fill('2');
    await page.locator('#dist-n').fill('2');
    await page.locator('#dist-max').fill('4');
    expect(await page.getByTestId('distill-teacher').textContent()).toBe('lab/ui');
    await page.getByTestId('distill-run').click();
    await page.getByTestId('distill-result').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('distill-summary').textContent()).toBe('0 of 2 questions got a correct trace (0.0%, 4 answers sampled).');
    // The pretrained text model sees no image, so the synth scan among the two questions is counted as answered without it.
    expect(await page.getByTestId('distill-without-images').textContent()).toMatch(/^1 of 2 questions were answered without \(some of\) their images/);

    // Unload, then delete the cached files from the cache view.
    await go('models');
    await page.getByTestId('pretrained-unload').click();
    await expect.poll(() => page.getByTestId('pretrained-loaded').count()).toBe(0);
    await page.getByTestId('uncache-lab/ui').click();
    await expect.poll(() => page.getByTestId('cache-row').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('downloads with progress, answers as the engine does, then answers the same from the cache with the server stopped', async () => {
    const { page, requests, errors } = await openPage();
    const first = await page.evaluate(
      async ({ endpoint, question, maxNew }) => {
        const t = (window as unknown as Thinker).thinker;
        const p = t.pretrained!();
        const events: { done: number; total: number; phase: string }[] = [];
        const adapter = await p.adapter();
        const info = (await p.load(
          { model: 'lab/tiny', endpoint },
          t.proxy((e: { done: number; total: number; phase: string }) => {
            events.push({ done: e.done, total: e.total, phase: e.phase });
          }),
        )) as Record<string, unknown>;
        const tokens: string[] = [];
        const reply = (await p.ask(
          { question, recipePrompt: false, maxNewTokens: maxNew, temperature: 0 },
          t.proxy((s: string) => {
            tokens.push(s);
          }),
        )) as { text: string };
        const cached = await p.cached();
        const catalog = (await p.catalog()) as { id: string; choice: unknown; refusal: string | null }[];
        return { adapter, info, events, reply, streamed: tokens.length, cached, catalog: catalog.map((c) => ({ id: c.id, ok: !!c.choice || !!c.refusal })) };
      },
      { endpoint: hub.url, question: QUESTION, maxNew: MAX_NEW },
    );
    expect(errors).toEqual([]);
    expect(first.info).toMatchObject({ id: 'lab/tiny', kind: 'text', downloaded: 5 });
    const last = first.events.at(-1)!;
    expect(last.done).toBe(last.total);
    expect(last.total).toBe(first.info.bytes);
    expect(first.events.length).toBeGreaterThan(3);
    expect(hub.requests.filter((r) => r.repo === 'lab/tiny' && r.file === 'onnx/model.onnx' && r.status === 200)).toHaveLength(1);
    // Greedy text from transformers.js in the browser equals the lab engine's (Dawn, Node).
    expect(first.reply.text).toBe(engineText);
    expect(first.streamed).toBeGreaterThan(1);
    expect(first.cached).toEqual([expect.objectContaining({ id: 'lab/tiny', host: hub.url, complete: true })]);
    expect(first.catalog).toHaveLength(5);
    console.log(`pretrained e2e: device ${first.info.device}, adapter ${JSON.stringify(first.adapter)}`);

    // A missing file and a broken download: named, and nothing of them cached.
    const failures = await page.evaluate(async (endpoint) => {
      const p = (window as unknown as Thinker).thinker.pretrained!();
      const msg = async (model: string) =>
        p.load({ model, endpoint }).then(
          () => 'loaded',
          (e: Error) => e.message,
        );
      const missing = await msg('lab/missing');
      const cut = await msg('lab/cut');
      const keys = (await (await caches.open('transformers-cache')).keys()).map((r) => r.url);
      return { missing, cut, keys };
    }, hub.url);
    expect(failures.missing).toBe(`lab/missing: onnx/model.onnx not found on ${hub.url} (HTTP 404)`);
    expect(failures.cut).toMatch(
      /^lab\/cut: the download of onnx\/model\.onnx from http:\/\/127\.0\.0\.1:\d+\/ broke off \(.+\); the partial file was not kept/,
    );
    expect(failures.keys.filter((k) => k.includes('/onnx/')).map((k) => new URL(k).pathname)).toEqual(['/lab/tiny/resolve/main/onnx/model.onnx']);

    // Second visit with the mirror gone: from the cache, the same answer, no model request.
    await hub.close();
    const before = hub.requests.length;
    await page.reload();
    await page.waitForFunction(() => (window as unknown as Thinker).thinker !== undefined);
    const second = await page.evaluate(
      async ({ endpoint, question, maxNew }) => {
        const p = (window as unknown as Thinker).thinker.pretrained!();
        const info = await p.load({ model: 'lab/tiny', endpoint });
        const reply = (await p.ask({ question, recipePrompt: false, maxNewTokens: maxNew, temperature: 0 })) as { text: string };
        // The path for browsers without WebGPU: ONNX Runtime's WASM backend on the CPU.
        const wasmInfo = await p.load({ model: 'lab/tiny', endpoint, device: 'wasm' });
        const wasmReply = (await p.ask({ question, recipePrompt: false, maxNewTokens: maxNew, temperature: 0 })) as { text: string };
        return { info, reply, wasmInfo, wasmReply };
      },
      { endpoint: hub.url, question: QUESTION, maxNew: MAX_NEW },
    );
    expect(second.info).toMatchObject({ id: 'lab/tiny', downloaded: 0 });
    expect(second.reply.text).toBe(first.reply.text);
    expect(second.wasmInfo).toMatchObject({ device: 'wasm', downloaded: 0 });
    expect(second.wasmReply.text).toBe(first.reply.text);
    expect(hub.requests.length).toBe(before);
    expect(errors).toEqual([]);

    // The cache view: the model with its files, and deleting it empties the cache.
    const removed = await page.evaluate(async () => {
      const p = (window as unknown as Thinker).thinker.pretrained!();
      await p.unload();
      const n = await p.deleteCached('lab/tiny');
      return {
        n,
        left: await p.cached(),
        keys: (await (await caches.open('transformers-cache')).keys()).map((r) => r.url).filter((u) => u.includes('/lab/tiny/')),
      };
    });
    expect(removed).toEqual({ n: 5, left: expect.any(Array), keys: [] });
    expect((removed.left as { id: string }[]).map((c) => c.id)).not.toContain('lab/tiny');

    // Every request went to the lab's own origin or to the mirror; ONNX Runtime's WASM came from the lab.
    const labOrigin = new URL(url).origin;
    const hosts = new Set(requests.filter((r) => /^https?:/.test(r)).map((r) => new URL(r).origin));
    expect([...hosts].sort()).toEqual([labOrigin, `http://127.0.0.1:${hubPort}`].sort());
    const wasm = requests.filter((r) => /ort-wasm-simd-threaded.*\.wasm$/.test(r));
    expect(wasm.length).toBeGreaterThan(0);
    for (const r of wasm) expect(new URL(r).origin).toBe(labOrigin);
    await page.close();
  });
});
