// Real data through the browser: the VQA-RAD folder picked in the page (an <input webkitdirectory>,
// as the Data page's folder import does) is imported by the engine worker into OPFS, and a tiny
// vision model trained for two steps in the worker is evaluated on four real test items: every
// record is graded as the paper's grader grades its response, the images went through the
// browser's decoder, and the same import and evaluation in Node give the same item set.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { launchChromium, startPreview, openLab } from './browser';
import type { EngineApi } from '../src/lab/api';
import { applyOverrides, sftConfigFrom } from '../src/recipe/sft-config';
import { gradeAnswer } from '../src/task/grader';
import { createLab } from '../src/lab';
import { dataApi } from '../src/lab/data';
import { MemoryWorkspace, nodeDirSource } from '../src/io/workspace';
import { createNodeGpu } from '../src/node/dawn';

const VQA_RAD = path.resolve(__dirname, '../../shared/data/vqa-rad');
const SETS = [
  'model.hiddenSize=32',
  'model.numHeads=2',
  'model.numKvHeads=1',
  'model.intermediateSize=64',
  'model.context=192',
  'maxLength=192',
  'batchSize=2',
  'data.synth.n=8',
  'data.synth.kind=image',
  'data.synth.options={"imageSize":16}',
  'model.vision=on',
  'eval.items=0',
  'maxSteps=2',
  'seed=1',
];

// The real data sits beside the checkout (../shared/data); a clone elsewhere skips this file and says so.
const HAS_DATA = existsSync(VQA_RAD);
if (!HAS_DATA) console.warn(`[e2e] ${VQA_RAD} is absent: the real VQA-RAD browser test is skipped`);

describe.skipIf(!HAS_DATA)('evaluation of real VQA-RAD items in the browser worker', () => {
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

  it('imports the picked folder, evaluates four test items, grades them as the grader does', async () => {
    const { page, errors } = await openLab(browser, url);
    await page.evaluate(() => {
      const input = document.createElement('input');
      input.type = 'file';
      input.webkitdirectory = true;
      input.id = 'pick-vqa-rad';
      document.body.append(input);
    });
    await page.setInputFiles('#pick-vqa-rad', VQA_RAD);
    const config = applyOverrides(sftConfigFrom('synth-micro'), SETS);
    const out = await page.evaluate(
      async ({ config }) => {
        type E = Pick<EngineApi, 'importFolder' | 'startRun' | 'evaluate'>;
        const e = (window as unknown as { thinker: { engine: () => E } }).thinker.engine();
        const files = Array.from((document.getElementById('pick-vqa-rad') as HTMLInputElement).files!);
        const info = await e.importFolder({ name: 'vqa-rad', loader: 'vqa-rad', files, splits: ['test'] });
        const run = await e.startRun({ name: 'tiny', kind: 'sft', config });
        const res = await e.evaluate({
          model: `runs/tiny/checkpoint-${run.step}`,
          limit: 4,
          maxNewTokens: 8,
          benchmarks: [{ name: 'vqa_rad', data: { kind: 'dataset', name: 'vqa-rad', split: 'test' } }],
        });
        return { info, res, files: files.length };
      },
      { config },
    );
    expect(errors).toEqual([]);
    expect(out.info.splits).toEqual([{ name: 'test', items: 271, withImages: 271 }]);
    const { res } = out;
    expect(res.benchmarks).toHaveLength(1);
    expect(res.benchmarks[0]).toMatchObject({ name: 'vqa_rad', items: 4 });
    expect(res.records).toHaveLength(4);
    for (const r of res.records) {
      expect(r.prompt).toContain(r.question);
      const g = gradeAnswer(r.response, r.options, r.answer_label, r.answer);
      expect([r.correct, r.pred_letter]).toEqual([g.correct, g.predLetter]);
    }
    expect(res.benchmarks[0].correct).toBe(res.records.filter((r) => r.correct).length);

    // Node imports the same folder to the same first four test items.
    const lab = createLab(new MemoryWorkspace('node'), () => createNodeGpu());
    await dataApi(lab.context).importFrom({ name: 'vqa-rad', loader: 'vqa-rad', splits: ['test'] }, nodeDirSource(VQA_RAD));
    const preview = await lab.previewItems({ kind: 'dataset', name: 'vqa-rad', split: 'test' }, 0, 4);
    expect(res.records.map((r) => r.hash)).toEqual(preview.items.map((it) => it.hash));
    await page.close();
  });
});
