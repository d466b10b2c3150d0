// The engine in a browser: a few training steps inside the dedicated engine worker must give the
// same losses as the same run on Dawn in Node, for the plain LM demo and for a recipe SFT run that
// keeps its checkpoints in the origin private file system (OPFS).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Browser } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { launchChromium, startPreview, openLab } from './browser';
import { createNodeGpu } from '../src/node/dawn';
import { runLmTraining } from '../src/model/lm-run';
import type { EngineApi, TrainLmRequest } from '../src/lab/api';
import { createLab } from '../src/lab';
import { MemoryWorkspace } from '../src/io/workspace';
import { applyOverrides, sftConfigFrom } from '../src/recipe/sft-config';

// A ~30k-parameter model on one short synth template: three steps take seconds on SwiftShader.
const SFT_SETS = [
  'model.hiddenSize=32',
  'model.numHeads=2',
  'model.numKvHeads=1',
  'model.intermediateSize=64',
  'model.context=160',
  'maxLength=160',
  'batchSize=2',
  'data.synth.n=24',
  'data.synth.options={"templates":["dose_weight"]}',
  'eval.items=0',
  'lr=1e-2',
  'seed=3',
  'maxSteps=3',
];

const req: TrainLmRequest = {
  cfg: {
    text: {
      architecture: 'llama',
      vocabSize: 64,
      hiddenSize: 32,
      intermediateSize: 64,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      maxPositionEmbeddings: 64,
      tieWordEmbeddings: true,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
    },
  },
  stream: Array.from({ length: 400 }, (_, i) => (i * 7 + Math.floor(i / 5)) % 64),
  steps: 4,
  batch: 2,
  seq: 16,
  lr: 1e-2,
  warmup: 1,
  seed: 3,
};

describe('engine in a browser worker', () => {
  let browser: Browser;
  let server: PreviewServer;
  let url: string;

  beforeAll(async () => {
    ({ server, url } = await startPreview());
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('trains in the worker with the same losses as Node to 1e-5', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await page.waitForFunction(() => (window as unknown as { thinker?: unknown }).thinker !== undefined);
    const browserLosses: number[] = await page.evaluate(async (r) => {
      const t = (window as unknown as { thinker: { engine: () => { trainLm: (q: unknown) => Promise<{ loss: number }[]> } } }).thinker;
      const steps = await t.engine().trainLm(r);
      return steps.map((s) => s.loss);
    }, req);
    expect(errors).toEqual([]);

    const gpu = await createNodeGpu();
    const { model, steps } = await runLmTraining(gpu, req.cfg, Uint32Array.from(req.stream), req);
    model.release();
    const nodeLosses = steps.map((s) => s.loss);
    expect(browserLosses).toHaveLength(req.steps);
    browserLosses.forEach((l, i) => expect(Math.abs(l - nodeLosses[i])).toBeLessThan(1e-5));
    // and it learned something over the 4 steps
    expect(nodeLosses[3]).toBeLessThan(nodeLosses[0]);

    await page.close();
  });

  it('runs an SFT run in the worker on OPFS with the same losses as Node, and a checkpoint exported and imported back scores the same', async () => {
    const { page, errors } = await openLab(browser, url);
    const config = applyOverrides(sftConfigFrom('synth-micro'), SFT_SETS);
    const text = '<|im_start|>assistant\n<think>dose</think><answer>A</answer><|im_end|>';
    const browserSide = await page.evaluate(
      async ({ config, text }) => {
        type E = Pick<EngineApi, 'startRun' | 'runMetrics' | 'listModels' | 'exportModel' | 'importModel' | 'scoreText' | 'listRuns'>;
        const e = (window as unknown as { thinker: { engine: () => E } }).thinker.engine();
        const run = await e.startRun({ name: 'e2e-sft', kind: 'sft', config });
        const metrics = await e.runMetrics('e2e-sft');
        const models = (await e.listModels()).map((m) => m.path);
        const ck = `runs/e2e-sft/checkpoint-${run.step}`;
        const before = await e.scoreText(ck, text);
        // A folder of the origin's private file system stands in for one the user picks.
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('exported', { create: true });
        await e.exportModel(ck, dir);
        const files: string[] = [];
        for await (const [n] of (dir as unknown as { entries(): AsyncIterable<[string, unknown]> }).entries()) files.push(n);
        await e.importModel('imported', dir);
        const after = await e.scoreText('models/imported', text);
        return { status: run.status, step: run.step, metrics, models, before, after, files: files.sort(), runs: (await e.listRuns()).map((r) => r.name) };
      },
      { config, text },
    );
    expect(errors).toEqual([]);
    expect([browserSide.status, browserSide.step]).toEqual(['completed', 3]);
    expect(browserSide.runs).toEqual(['e2e-sft']);
    expect(browserSide.models).toContain('runs/e2e-sft/checkpoint-3');
    expect(browserSide.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    expect(browserSide.files).not.toContain('.complete');
    expect(browserSide.after).toEqual(browserSide.before);

    // The same run in Node, through the same lab code on a memory workspace.
    const lab = createLab(new MemoryWorkspace('node'), () => createNodeGpu());
    const nodeRun = await lab.startRun({ name: 'e2e-sft', kind: 'sft', config });
    expect(nodeRun.step).toBe(3);
    const losses = (rows: Record<string, unknown>[]) => rows.filter((r) => r.type === 'step').map((r) => r.loss as number);
    const nodeLosses = losses(await lab.runMetrics('e2e-sft'));
    const browserLosses = losses(browserSide.metrics);
    expect(browserLosses).toHaveLength(3);
    browserLosses.forEach((l, i) => expect(Math.abs(l - nodeLosses[i])).toBeLessThan(1e-4));
    const nodeScore = await lab.scoreText('runs/e2e-sft/checkpoint-3', text);
    nodeScore.forEach((x, i) => expect(Math.abs(x - browserSide.before[i])).toBeLessThan(1e-3));
    await page.close();
  });
});
