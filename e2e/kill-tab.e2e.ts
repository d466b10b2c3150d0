// A browser killed mid-run, as a crash or a power cut ends it: two tabs train (run A, started in
// the app with a checkpoint every step; run B, with no checkpoint before its end), the Chromium
// process is sent SIGKILL after A's second checkpoint (mid-step or mid-save, wherever it is), and
// Chromium starts again on the same profile folder. Both runs are listed as interrupted with their
// charts intact; A resumes from its last complete checkpoint to its end, and B, which has none,
// offers "Restart from the start" instead and runs from step 0 to its end. Each run's metrics then
// read as one run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { collectPageErrors, spawnChromium, startPreview, type OwnChromium } from './browser';
import { applyOverrides, sftConfigFrom } from '../src/recipe/sft-config';

const A = 'kill-a';
const B = 'kill-b';
const STEPS = 16;
const TEMPLATE = 'effusion_presence';
const WAIT = { timeout: 150_000, interval: 250 };
// Run B: ~30k parameters on one short synth template, only a final checkpoint.
const B_CONFIG = applyOverrides(sftConfigFrom('synth-micro'), [
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
  `maxSteps=${STEPS}`,
  'checkpoint.every=0',
]);

type Engine = { startRun(r: unknown): Promise<unknown>; runMetrics(n: string): Promise<{ type: string; step: number }[]> };
type Win = { thinker: { engine: () => Engine } };

async function setField(page: Page, field: string, value: string | number) {
  const box = page.locator(`#f-${field.replace(/\./g, '-')}`);
  await box.fill(String(value));
  await expect.poll(() => box.getAttribute('aria-invalid'), { message: `${field} = ${value} is refused` }).toBeNull();
}

async function lossPoints(page: Page): Promise<number> {
  const attr = (await page.getByTestId('chart-loss').getAttribute('data-series')) ?? '';
  return Number(/(?:^|;)train=(\d+)/.exec(attr)?.[1] ?? 0);
}

const status = (page: Page, run: string) => page.getByTestId(`run-status-${run}`).first().textContent();
const checkpointsShown = async (page: Page, run: string) =>
  ((await page.getByTestId(`run-row-${run}`).locator('td').nth(4).textContent()) ?? '')
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
const steps = (page: Page, run: string) =>
  page.evaluate(async (r) => (await (window as unknown as Win).thinker.engine().runMetrics(r)).filter((x) => x.type === 'step').map((x) => x.step), run);

describe('a browser killed mid-run', () => {
  let server: PreviewServer;
  let url: string;
  let chrome: OwnChromium | null = null;
  const profile = mkdtempSync(path.join(tmpdir(), 'thinker-kill-profile-'));

  beforeAll(async () => {
    ({ server, url } = await startPreview());
  });
  afterAll(async () => {
    await chrome?.kill();
    await server?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('lists its runs as interrupted with their charts; one resumes from its last checkpoint, the one without restarts from the start', async () => {
    chrome = await spawnChromium(profile);
    const tab1 = await chrome.context.newPage();
    await tab1.setViewportSize({ width: 1280, height: 900 });
    await tab1.goto(url);
    // Run A through the app: synth scans from the Data page, a tiny model, a checkpoint every step.
    await tab1.getByTestId('nav-data').waitFor({ timeout: 60_000 });
    await tab1.locator('#synth-kind').selectOption('image');
    await tab1.locator('#synth-n').fill('16');
    await tab1.getByTestId('synth-templates').locator('summary').click();
    await tab1.getByTestId(`synth-templates-${TEMPLATE}`).check();
    await expect.poll(() => tab1.getByTestId('preview').locator('.pager').textContent(), { timeout: 30_000 }).toContain('of 16');
    await tab1.getByTestId('synth-use').click();
    await tab1.getByTestId('sft-settings').waitFor();
    await tab1.getByTestId('run-name').fill(A);
    for (const [f, v] of [
      ['data.synth.evalN', 4],
      ['lr', 0.01],
      ['batchSize', 4],
      ['maxSteps', STEPS],
      ['checkpoint.every', 1],
      ['checkpoint.keep', 2],
      ['eval.every', 0],
      ['eval.items', 2],
      ['eval.maxNewTokens', 8],
    ] as const)
      await setField(tab1, f, v);
    await tab1.getByTestId('sft-settings').locator('details.group > summary').click();
    for (const [f, v] of [
      ['maxLength', 160],
      ['model.context', 160],
      ['model.vocabSize', 512],
      ['model.hiddenSize', 32],
      ['model.numLayers', 1],
      ['model.numHeads', 2],
      ['model.numKvHeads', 1],
      ['model.intermediateSize', 64],
    ] as const)
      await setField(tab1, f, v);
    await tab1.getByTestId('run-start').click();

    // Run B in a second tab, through its engine.
    const tab2 = await chrome.context.newPage();
    await tab2.goto(url);
    await tab2.waitForFunction(() => (window as unknown as Win).thinker !== undefined);
    await tab2.evaluate(
      ({ name, config }) => {
        void (window as unknown as Win).thinker
          .engine()
          .startRun({ name, kind: 'sft', config })
          .catch(() => undefined);
      },
      { name: B, config: B_CONFIG },
    );

    await expect.poll(async () => Math.max(0, ...(await checkpointsShown(tab1, A))), WAIT).toBeGreaterThanOrEqual(2);
    await expect.poll(async () => (await steps(tab2, B)).length, WAIT).toBeGreaterThanOrEqual(1);
    const shownA = await lossPoints(tab1);
    const loggedB = (await steps(tab2, B)).length;
    expect(await status(tab1, A)).toBe('running');
    await chrome.kill();
    chrome = null;

    // The same profile again.
    chrome = await spawnChromium(profile);
    const page = await chrome.context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    const errors = collectPageErrors(page);
    await page.goto(url);
    await page.getByTestId('nav-train').click();
    await expect.poll(() => status(page, A), { timeout: 60_000 }).toBe('interrupted');
    await expect.poll(() => status(page, B), { timeout: 30_000 }).toBe('interrupted');
    const rowsA = await steps(page, A);
    const rowsB = await steps(page, B);
    // Every step logged before the kill is there (a few more may have landed after the last look).
    expect(rowsA.length).toBeGreaterThanOrEqual(shownA);
    expect(rowsA).toEqual(rowsA.map((_, i) => i + 1));
    expect(rowsB.length).toBeGreaterThanOrEqual(loggedB);
    expect(rowsA.length).toBeLessThan(STEPS);
    expect(rowsB.length).toBeLessThan(STEPS);

    // A: its charts drawn, Resume from its last complete checkpoint.
    await page.getByTestId(`run-row-${A}`).click();
    await expect.poll(() => lossPoints(page)).toBe(rowsA.length);
    const resume = page.getByTestId(`run-resume-${A}`);
    const from = Number(/checkpoint (\d+)/.exec((await resume.getAttribute('title')) ?? '')?.[1]);
    expect(from).toBeGreaterThanOrEqual(2);
    expect(from).toBeLessThanOrEqual(rowsA.length);
    expect(await page.getByTestId(`run-restart-${A}`).count()).toBe(0);
    // B: no checkpoint, so no Resume; the view says why and offers the restart.
    expect(await page.getByTestId(`run-resume-${B}`).count()).toBe(0);
    await page.getByTestId(`run-row-${B}`).click();
    await expect
      .poll(() => page.getByTestId('run-no-checkpoint').textContent())
      .toMatch(/cut off .* before its first checkpoint, so\s+there is nothing to resume from/);
    await expect.poll(() => lossPoints(page)).toBe(rowsB.length);

    await page.getByTestId(`run-row-${A}`).click();
    await resume.click();
    await expect.poll(() => status(page, A), WAIT).toBe('completed');
    await page.getByTestId('run-log').locator('summary').click();
    expect(await page.getByTestId('run-log').textContent()).toContain(`resuming at step ${from}`);
    expect(await steps(page, A)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    await expect.poll(() => lossPoints(page)).toBe(STEPS);

    await page.getByTestId(`run-restart-${B}`).click();
    await expect.poll(() => status(page, B), WAIT).toBe('completed');
    expect(await steps(page, B)).toEqual(Array.from({ length: STEPS }, (_, i) => i + 1));
    await expect.poll(() => lossPoints(page)).toBe(STEPS);
    expect(errors).toEqual([]);
  });
});
