// The SmolVLM path in a browser: a SmolVLM-shaped tiny model (the real checkpoint's files: chat
// template, Idefics3 image processor, SigLIP tower, pixel shuffle, Llama decoder; toy dimensions)
// is imported into the lab like a downloaded folder, LoRA-fine-tuned by SFT in the engine worker
// (the same losses as Node to 1e-4), and its checkpoint then runs LoRA GRPO rollouts on image tiles.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Browser } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { launchChromium, startPreview, openLab } from './browser';
import { createNodeGpu } from '../src/node/dawn';
import type { EngineApi } from '../src/lab/api';
import { createLab } from '../src/lab';
import { MemoryWorkspace } from '../src/io/workspace';
import { applyOverrides, sftConfigFrom } from '../src/recipe/sft-config';
import { applyGrpoOverrides, grpoConfigFrom } from '../src/recipe/grpo-config';
import { generateSynth } from '../src/data/synth';
import { tinySmolvlmFiles } from '../src/recipe/smolvlm';

const SFT_SETS = [
  'model.init=models/smolvlm-tiny',
  'model.lora.rank=8',
  'model.lora.alpha=16',
  'data.synth.kind=image',
  'data.synth.n=16',
  'data.synth.level=1',
  'eval.items=0',
  'batchSize=2',
  'maxLength=320',
  'lr=5e-3',
  'seed=3',
  'maxSteps=3',
];
const GRPO_SETS = [
  'model=runs/smol-sft/checkpoint-3',
  'data.synth.kind=image',
  'data.synth.n=4',
  'steps=1',
  'promptsPerStep=2',
  'groupSize=2',
  'maxNewTokens=8',
  'eval.items=0',
  'lora.rank=8',
  'lora.alpha=16',
  'seed=4',
];

describe('SmolVLM-shaped model in a browser worker', () => {
  let browser: Browser;
  let server: PreviewServer;
  let url: string;
  let files: Map<string, Uint8Array>;

  beforeAll(async () => {
    ({ server, url } = await startPreview());
    browser = await launchChromium();
    files = await tinySmolvlmFiles(await generateSynth({ n: 64, kind: 'image', level: 1, seed: 1, split: 'train' }), { seed: 2 });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('imports the folder, runs LoRA SFT with the same losses as Node, then LoRA GRPO from its checkpoint', async () => {
    const { page, errors } = await openLab(browser, url);
    const sft = applyOverrides(sftConfigFrom('synth-micro'), SFT_SETS);
    const grpo = applyGrpoOverrides(grpoConfigFrom('synth-micro'), GRPO_SETS);
    const folder = Object.fromEntries([...files].map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const browserSide = await page.evaluate(
      async ({ folder, sft, grpo }) => {
        type E = Pick<EngineApi, 'importModel' | 'startRun' | 'runMetrics' | 'listModels'>;
        const e = (window as unknown as { thinker: { engine: () => E } }).thinker.engine();
        // A folder of the origin's private file system stands in for the one the user picks.
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('smolvlm-pick', { create: true });
        for (const [name, b64] of Object.entries(folder)) {
          const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
          await w.write(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
          await w.close();
        }
        await e.importModel('smolvlm-tiny', dir);
        const s = await e.startRun({ name: 'smol-sft', kind: 'sft', config: sft });
        const g = await e.startRun({ name: 'smol-grpo', kind: 'grpo', config: grpo });
        return {
          sft: [s.status, s.step],
          grpo: [g.status, g.step],
          sftMetrics: await e.runMetrics('smol-sft'),
          grpoMetrics: await e.runMetrics('smol-grpo'),
          models: (await e.listModels()).map((m) => m.path),
        };
      },
      { folder, sft, grpo },
    );
    expect(errors).toEqual([]);
    expect(browserSide.sft).toEqual(['completed', 3]);
    expect(browserSide.grpo).toEqual(['completed', 1]);
    expect(browserSide.models).toEqual(expect.arrayContaining(['models/smolvlm-tiny', 'runs/smol-sft/checkpoint-3', 'runs/smol-grpo/checkpoint-1']));
    const step = browserSide.grpoMetrics.find((r) => r.type === 'step');
    expect(step?.response_length).toBeGreaterThan(0);

    // The same SFT in Node, through the same lab code on a memory workspace holding the same folder.
    const ws = new MemoryWorkspace('node');
    await ws.writeFolder('models/smolvlm-tiny', Object.fromEntries(files));
    const lab = createLab(ws, () => createNodeGpu());
    const nodeRun = await lab.startRun({ name: 'smol-sft', kind: 'sft', config: sft });
    expect(nodeRun.step).toBe(3);
    const losses = (rows: Record<string, unknown>[]) => rows.filter((r) => r.type === 'step').map((r) => r.loss as number);
    const nodeLosses = losses(await lab.runMetrics('smol-sft'));
    const browserLosses = losses(browserSide.sftMetrics);
    expect(browserLosses).toHaveLength(3);
    browserLosses.forEach((l, i) => expect(Math.abs(l - nodeLosses[i])).toBeLessThan(1e-4));
    await page.close();
  });
});
