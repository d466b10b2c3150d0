// The lab as a person uses it, in Debian's Chromium with WebGPU on SwiftShader, against the
// production build: synth data, an SFT run cut off by a reload and resumed, GRPO from its
// checkpoint with the rollout inspector, evaluation beside the paper, a question about an image,
// a checkpoint exported and imported back; then the same build in a browser without WebGPU.
// Everything is done through the UI's own controls. The one thing a test cannot click, the native
// folder picker, is stood in for: window.showDirectoryPicker answers with a folder of the origin's
// private file system, and the UI's export and import code runs as it would. window.thinker (the
// engine the UI talks to) is only read, to check what the UI showed: the logits of the exported and
// imported models (scoreText, which has no button), the metric rows and the rollout records.
//
// Settings are tiny so the whole file runs in about a minute on two shared CPU cores: one image
// template, 16 items, a 1-layer model of width 32, 160-token context, 4 SFT steps, 2 GRPO steps of
// 2 questions x G=2 with an 8-token budget, a checkpoint every step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { collectPageErrors, launchChromium, launchChromiumWithoutWebGpu, startPreview } from './browser';
import { generateSynth } from '../src/data/synth';
import { DATA_DIR, HAS_DATA } from '../test/data/helpers';

const OUT = 'test-results';
const TEMPLATE = 'effusion_presence';
const SFT = 'sft-1';
const GRPO = 'grpo-1';
const SFT_STEPS = 4;
const GRPO_STEPS = 2;
const G = 2;
const RUN_TIMEOUT = 150_000;

/** Type into a settings field of the form (ids are `f-` + the config path with dashes). */
async function setField(page: Page, path: string, value: string | number) {
  const box = page.locator(`#f-${path.replace(/\./g, '-')}`);
  await box.fill(String(value));
  await expect.poll(() => box.getAttribute('aria-invalid'), { message: `${path} = ${value} is refused` }).toBeNull();
}

/** The points a chart's series draw (its figure's data-series: "label=count;..."). */
async function seriesPoints(page: Page, chart: string): Promise<Record<string, number>> {
  const attr = (await page.getByTestId(`chart-${chart}`).getAttribute('data-series')) ?? '';
  return Object.fromEntries(
    attr
      .split(';')
      .filter(Boolean)
      .map((kv) => {
        const [k, v] = kv.split('=');
        return [k, Number(v)];
      }),
  );
}

const status = (page: Page, run: string) => page.getByTestId(`run-status-${run}`).first().textContent();

async function shoot(page: Page, name: string) {
  await page.screenshot({ path: `${OUT}/app-${name}.png` });
}

/** Scroll an element's top just under the sticky header. */
async function scrollToTop(page: Page, testId: string) {
  await page.getByTestId(testId).evaluate((el) => window.scrollTo({ top: el.getBoundingClientRect().top + window.scrollY - 76, behavior: 'instant' }));
}

async function goTo(page: Page, id: string) {
  await page.getByTestId(`nav-${id}`).click();
  await expect.poll(() => page.evaluate(() => location.hash)).toBe(`#/${id}`);
}

describe('the lab in a browser', () => {
  let server: PreviewServer;
  let url: string;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const t0 = Date.now();
  const took: Record<string, number> = {};
  let mark = Date.now();
  const lap = (what: string) => {
    took[what] = Math.round((Date.now() - mark) / 1000);
    mark = Date.now();
  };

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    ({ server, url } = await startPreview());
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    errors = collectPageErrors(page);
  });
  afterAll(async () => {
    took.total = Math.round((Date.now() - t0) / 1000);
    console.log(`app e2e seconds: ${JSON.stringify(took)}`);
    await browser?.close();
    await server?.close();
  });

  it.skipIf(!HAS_DATA)('Data: a folder imported from the form, which then starts afresh instead of calling the name taken', async () => {
    await page.goto(url);
    await page.getByTestId('nav-data').waitFor({ timeout: 60_000 });
    await page.locator('#imp-name').fill('mmlu');
    await page.locator('#imp-loader').selectOption('mmlu-med');
    await page.getByTestId('import-folder-input').setInputFiles(`${DATA_DIR}/mmlu-med`);
    const done = page.getByTestId('import-done');
    await done.waitFor({ timeout: RUN_TIMEOUT });
    // 1,089 test questions over the six medical subjects.
    expect(await done.textContent()).toMatch(/^Imported "mmlu": [\d,]+ items \(test \d+/);
    expect(await page.locator('#imp-name').inputValue()).toBe('');
    expect(await page.getByTestId('import-folder').locator('.form-error').count()).toBe(0);
    // The name is taken now: typing it again says so.
    await page.locator('#imp-name').fill('mmlu');
    expect(await page.getByTestId('import-folder').locator('.form-error').textContent()).toBe('"mmlu" is taken');
    await page.locator('#imp-name').fill('');
    expect(errors).toEqual([]);
    lap('import');
  });

  it('Data: the synth curriculum with its scans, handed to the Train page', async () => {
    await page.goto(url);
    await page.getByTestId('nav-data').waitFor({ timeout: 60_000 });
    await page.locator('#synth-kind').selectOption('image');
    await page.locator('#synth-n').fill('16');
    await page.getByTestId('synth-templates').locator('summary').click();
    await page.getByTestId(`synth-templates-${TEMPLATE}`).check();
    const preview = page.getByTestId('preview');
    await expect.poll(() => preview.locator('.pager').textContent(), { timeout: 30_000 }).toContain('of 16');
    const items = preview.getByTestId('item');
    // The pager can show the new total a render before the items list does: wait for both.
    await expect.poll(() => items.count(), { timeout: 30_000 }).toBe(12);
    await expect.poll(() => items.first().textContent()).toMatch(/pleural effusion/i);
    // Every scan decoded to a picture.
    const sizes = await preview.locator('img.item-image').evaluateAll((imgs) => imgs.map((i) => (i as HTMLImageElement).naturalWidth));
    expect(sizes).toHaveLength(12);
    expect(sizes.every((w) => w > 0)).toBe(true);
    expect(await page.getByTestId('gpu-info').textContent()).toMatch(/swiftshader/i);
    await page.getByTestId('synth-templates').locator('summary').click();
    await shoot(page, 'data');
    await page.getByTestId('synth-use').click();
    await expect.poll(() => page.evaluate(() => location.hash)).toBe('#/train');
    expect(errors).toEqual([]);
    lap('data');
  });

  it('Train: an SFT run, cut off by a reload, listed with its charts and resumed from its last checkpoint', async () => {
    const form = page.getByTestId('sft-settings');
    await form.waitFor();
    // The Data page's questions arrived in the form.
    expect(await page.locator('#f-data-synth-kind').inputValue()).toBe('image');
    expect(await page.locator('#f-data-synth-n').inputValue()).toBe('16');
    expect(await form.getByTestId('f-data-synth-options-templates').locator('summary').textContent()).toContain(TEMPLATE);
    await setField(page, 'data.synth.evalN', 4);
    await setField(page, 'lr', 0.01);
    await setField(page, 'batchSize', 4);
    await setField(page, 'maxSteps', SFT_STEPS);
    await setField(page, 'checkpoint.every', 1);
    await setField(page, 'checkpoint.keep', SFT_STEPS);
    await setField(page, 'eval.every', 0);
    await setField(page, 'eval.items', 2);
    await setField(page, 'eval.maxNewTokens', 8);
    await form.locator('details.group > summary').click();
    for (const [path, v] of [
      ['maxLength', 160],
      ['model.context', 160],
      ['model.vocabSize', 512],
      ['model.hiddenSize', 32],
      ['model.numLayers', 1],
      ['model.numHeads', 2],
      ['model.numKvHeads', 1],
      ['model.intermediateSize', 64],
    ] as const)
      await setField(page, path, v);
    expect(await page.getByTestId('run-problem').count()).toBe(0);
    // Before Start: the time this run would take here, from its own first steps (nothing is saved).
    await page.getByTestId('run-estimate').click();
    await expect.poll(() => page.getByTestId('run-estimate-text').count(), { timeout: RUN_TIMEOUT, interval: 250 }).toBe(1);
    expect(await page.getByTestId('run-estimate-text').textContent()).toMatch(
      new RegExp(`^About .+ on this GPU: ${SFT_STEPS} steps × [\\d.]+ s, 2 held-out evaluations × `),
    );
    expect(await page.getByTestId(`run-row-${SFT}`).count()).toBe(0);
    await scrollToTop(page, 'new-run');
    await shoot(page, 'train-form');
    await page.getByTestId('run-start').click();

    // Live: the loss chart gains points step by step, and a checkpoint lands every step.
    const row = page.getByTestId(`run-row-${SFT}`);
    await expect.poll(async () => (await seriesPoints(page, 'loss')).train ?? 0, { timeout: RUN_TIMEOUT, interval: 250 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => row.locator('td').nth(4).textContent(), { timeout: 30_000, interval: 250 }).toMatch(/\b2\b/);
    const beforeReload = (await seriesPoints(page, 'loss')).train;
    expect(await status(page, SFT)).toBe('running');
    await shoot(page, 'train-sft-live');
    lap('sft until reload');

    // The tab reloads mid-run: the engine worker dies with it.
    await page.reload();
    await goTo(page, 'train');
    await expect.poll(() => status(page, SFT), { timeout: 30_000 }).toBe('interrupted');
    const resume = page.getByTestId(`run-resume-${SFT}`);
    const from = Number(/checkpoint (\d+)/.exec((await resume.getAttribute('title')) ?? '')?.[1]);
    expect(from).toBeGreaterThanOrEqual(2);
    expect(from).toBeLessThan(SFT_STEPS);
    // Its charts are intact: every step logged before the reload is still drawn.
    await expect.poll(async () => (await seriesPoints(page, 'loss')).train ?? 0).toBeGreaterThanOrEqual(beforeReload);
    expect((await seriesPoints(page, 'loss'))['held-out']).toBe(1);
    await expect.poll(() => page.getByTestId('run-view').textContent()).toContain(`Resume continues from its last checkpoint, step ${from}`);
    await shoot(page, 'train-interrupted');

    await resume.click();
    await expect.poll(() => status(page, SFT), { timeout: RUN_TIMEOUT, interval: 500 }).toBe('completed');
    // It went on from the checkpoint, not from the start, and the charts read as one run.
    await page.getByTestId('run-log').locator('summary').click();
    expect(await page.getByTestId('run-log').textContent()).toContain(`resuming at step ${from}`);
    await expect.poll(async () => (await seriesPoints(page, 'loss')).train).toBe(SFT_STEPS);
    expect((await seriesPoints(page, 'loss'))['held-out']).toBe(2);
    const steps = await page.evaluate(async (run) => {
      const e = (window as unknown as { thinker: { engine: () => { runMetrics(n: string): Promise<{ type: string; step: number }[]> } } }).thinker.engine();
      return (await e.runMetrics(run)).filter((r) => r.type === 'step').map((r) => r.step);
    }, SFT);
    expect(steps).toEqual([1, 2, 3, 4]);
    expect(await row.locator('td').nth(3).textContent()).toBe(`${SFT_STEPS} / ${SFT_STEPS}`);
    await page.getByTestId('run-log').locator('summary').click();
    await scrollToTop(page, 'run-view');
    await shoot(page, 'train-sft');
    expect(errors).toEqual([]);
    lap('sft resumed');
  });

  it('Train and Rollouts: GRPO from the SFT checkpoint, its charts live, the inspector showing G responses with rewards and advantages', async () => {
    await page.getByTestId('kind-grpo').click();
    const form = page.getByTestId('grpo-settings');
    await form.waitFor();
    expect(await page.getByTestId('run-model').inputValue()).toBe(`runs/${SFT}/checkpoint-${SFT_STEPS}`);
    expect(await page.locator('#f-data-synth-kind').inputValue()).toBe('image');
    // GRPO on mixed questions: scans and text notes in one run (the app's GRPO on image or mixed
    // data once died at step 2 on a sampled <image> token).
    await page.locator('#f-data-synth-kind').selectOption('mixed');
    const templates = page.getByTestId('f-data-synth-options-templates');
    await templates.locator('summary').click();
    await templates.getByTestId('f-data-synth-options-templates-triage_signs').check();
    await templates.locator('summary').click();
    await setField(page, 'data.synth.evalN', 4);
    await setField(page, 'groupSize', G);
    await setField(page, 'promptsPerStep', 2);
    await setField(page, 'maxNewTokens', 8);
    await setField(page, 'steps', GRPO_STEPS);
    await setField(page, 'checkpoint.every', 1);
    await setField(page, 'eval.every', 0);
    await setField(page, 'eval.items', 2);
    await setField(page, 'eval.maxNewTokens', 8);
    expect(await page.getByTestId('run-problem').count()).toBe(0);
    await page.getByTestId('run-start').click();
    await expect.poll(async () => (await seriesPoints(page, 'reward')).rollouts ?? 0, { timeout: RUN_TIMEOUT, interval: 250 }).toBe(1);
    await expect.poll(async () => (await seriesPoints(page, 'reward')).rollouts ?? 0, { timeout: RUN_TIMEOUT, interval: 250 }).toBe(GRPO_STEPS);
    await expect.poll(() => status(page, GRPO), { timeout: RUN_TIMEOUT, interval: 500 }).toBe('completed');
    for (const c of ['loss', 'kl', 'clip', 'entropy', 'length']) {
      expect(
        Object.values(await seriesPoints(page, c)).some((n) => n === GRPO_STEPS),
        c,
      ).toBe(true);
    }
    // The model in use (header) follows the newest checkpoint.
    await expect.poll(() => page.getByTestId('model-memory').textContent(), { timeout: 30_000 }).toContain(`${GRPO} · GRPO step ${GRPO_STEPS}`);
    await scrollToTop(page, 'run-view');
    await shoot(page, 'train-grpo');
    lap('grpo');

    await goTo(page, 'rollouts');
    await expect
      .poll(() => page.getByTestId('step-label').textContent(), { timeout: 30_000 })
      .toBe(`step ${GRPO_STEPS} (${GRPO_STEPS} of ${GRPO_STEPS} logged)`);
    expect(await page.getByTestId('group-tab').count()).toBe(2);
    const responses = page.getByTestId('inspector-response');
    expect(await responses.count()).toBe(G);
    const rewards = await page.getByTestId('response-reward').allTextContents();
    const advantages = await page.getByTestId('response-advantage').allTextContents();
    expect(rewards.every((t) => /^reward (0|1)(\.0+)?$/.test(t))).toBe(true);
    expect(advantages.every((t) => /^advantage [+-]\d\.\d{3}$/.test(t))).toBe(true);
    // The tokens are coloured spans; pieces of a character split across tokens are shown merged, so
    // the only "�" left are bytes that are not UTF-8 in the response itself.
    const shown = await responses.evaluateAll((rs) => rs.map((r) => [...r.querySelectorAll('.tok')].map((t) => t.textContent ?? '').join('')));
    const logged = await page.evaluate(
      async ({ run, step }) => {
        const e = (
          window as unknown as { thinker: { engine: () => { rollouts(n: string, s: number): Promise<{ responses: { text: string; tokens: string[] }[] }[]> } } }
        ).thinker.engine();
        return (await e.rollouts(run, step))[0].responses;
      },
      { run: GRPO, step: GRPO_STEPS },
    );
    const broken = (t: string) => t.split('\uFFFD').length - 1;
    expect(shown).toHaveLength(G);
    shown.forEach((t, i) => {
      expect(t.length).toBeGreaterThan(0);
      expect(broken(t)).toBe(broken(logged[i].text));
      expect(broken(t)).toBeLessThanOrEqual(broken(logged[i].tokens.join('')));
    });
    // The responses lead; the prompt waits collapsed below them, with its literal \n explained.
    expect(await page.getByTestId('group-prompt').evaluate((d) => (d as HTMLDetailsElement).open)).toBe(false);
    const [firstResponse, prompt] = await Promise.all([responses.first().boundingBox(), page.getByTestId('group-prompt').boundingBox()]);
    expect(prompt!.y).toBeGreaterThan(firstResponse!.y);
    // A group whose rewards are all equal says it gives no gradient; one whose rewards differ does not.
    for (let k = 0; k < 2; k++) {
      await page.getByTestId('group-tab').nth(k).click();
      const r = (await page.getByTestId('response-reward').allTextContents()).map((t) => Number(t.replace('reward ', '')));
      expect(await page.getByTestId('group-no-signal').count(), `question ${k + 1}: rewards ${r}`).toBe(new Set(r).size === 1 ? 1 : 0);
    }
    // The explainer works the advantages out from the rewards; they agree with what the trainer logged.
    await page.getByTestId('advantage-explainer').locator('summary').click();
    const rows = await page
      .getByTestId('explainer-table')
      .locator('tbody tr')
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(rows).toHaveLength(G);
    for (const r of rows) expect(r[2]).toBe(r[3]);
    expect(await page.getByTestId('advantage-explainer').locator('.form-error').count()).toBe(0);
    // Token details without a mouse: Tab reaches a token, the panel below says its numbers.
    await responses.first().locator('.tok').first().focus();
    await page.keyboard.press('Tab');
    expect(await responses.first().getByTestId('token-detail').textContent()).toMatch(/^token 2 ".*" · ratio [\d.]+ · advantage × ratio -?[\d.]+/);
    await page.getByTestId('step-prev').click();
    await expect.poll(() => page.getByTestId('step-label').textContent()).toBe(`step 1 (1 of ${GRPO_STEPS} logged)`);
    expect(await responses.count()).toBe(G);
    await shoot(page, 'rollouts');
    expect(errors).toEqual([]);
    lap('rollouts');
  });

  it('Evaluate: a handful of held-out items, the table beside the paper', async () => {
    await goTo(page, 'evaluate');
    // The model in use follows the newest checkpoint until the user picks one.
    await expect.poll(() => page.getByTestId('model-picker').inputValue()).toBe(`runs/${GRPO}/checkpoint-${GRPO_STEPS}`);
    await page.getByTestId('bench-synth-text-L1').uncheck();
    await page.getByTestId('bench-synth-image-L1').check();
    await page.locator('#ev-limit').fill('4');
    await page.locator('#ev-max').fill('8');
    // Every count the job bar shows while it runs.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { evalCounts: string[] }).evalCounts = seen;
      new MutationObserver(() => {
        const t = document.querySelector('[data-testid="progress-bar-counts"]')?.textContent ?? '';
        if (t && seen[seen.length - 1] !== t) seen.push(t);
      }).observe(document.body, { childList: true, subtree: true, characterData: true });
    });
    await page.getByTestId('eval-run').click();
    const row = page.getByTestId('eval-row-synth-image-L1');
    await row.waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('eval-results').locator('h2').textContent(), { timeout: RUN_TIMEOUT, interval: 500 }).toMatch(/^Results ·/);
    const cells = await row.locator('td').allTextContents();
    expect(cells[0]).toBe('synth-image-L1');
    expect(cells[1]).toBe('4');
    expect(cells[2]).toMatch(/^\d+(\.\d)?%$/);
    // A vision model: every scan went in, so no "answered without their images" notice.
    expect(await page.getByTestId('eval-without-images').count()).toBe(0);
    const paper = page.getByTestId('paper-table');
    expect(await paper.locator('tbody tr').count()).toBeGreaterThan(10);
    expect(await paper.locator('tr.lab-row').textContent()).toContain(`runs/${GRPO}/checkpoint-${GRPO_STEPS}`);
    // Synth sets are not the paper's benchmarks: the lab row says so rather than showing dashes.
    expect(await paper.getByTestId('paper-lab-empty').textContent()).toMatch(/paper's benchmarks/);
    // Items done of the total from the start, not "working…" while the first batch decodes.
    const counts = await page.evaluate(() => (window as unknown as { evalCounts: string[] }).evalCounts);
    expect(
      counts.some((t) => /^0 \/ 4 · estimating time left$/.test(t)),
      counts.join(' | '),
    ).toBe(true);
    await row.click();
    const records = page.getByTestId('eval-records').locator('details.record');
    expect(await records.count()).toBe(4);
    // Each record says what the grader read; a wrong one says why it scored 0.
    for (let i = 0; i < 4; i++) {
      const r = records.nth(i);
      expect(await r.locator('summary').textContent()).toMatch(/gold [A-Z] · graded /);
      const wrong = (await r.locator('.badge').textContent()) === 'wrong';
      expect(await r.getByTestId('eval-record-why').count()).toBe(wrong ? 1 : 0);
      if (wrong) expect(await r.getByTestId('eval-record-why').textContent()).toMatch(/grader read|block reads|never closed/);
    }
    await page.screenshot({ path: `${OUT}/app-evaluate.png`, fullPage: true });
    expect(errors).toEqual([]);
    lap('evaluate');
  });

  it("Alerts: a job's outcome waits on its own page, counted on its link, and is dismissed there", async () => {
    await goTo(page, 'evaluate');
    await page.locator('#ev-limit').fill('64');
    await page.locator('#ev-max').fill('96');
    await page.getByTestId('eval-run').click();
    await page.getByTestId('job-cancel').waitFor();
    await goTo(page, 'ask');
    await page.getByTestId('job-cancel').click();
    // The cancellation is news for Evaluate: not shown over Ask, counted on Evaluate's link.
    await page.getByTestId('nav-alerts-evaluate').waitFor({ timeout: RUN_TIMEOUT });
    expect(await page.getByTestId('nav-alerts-evaluate').textContent()).toBe('1');
    expect(await page.getByTestId('alert').count()).toBe(0);
    await goTo(page, 'evaluate');
    const alert = page.getByTestId('alert');
    expect(await alert.textContent()).toMatch(/^Evaluating .*: cancelled\./);
    expect(await page.getByTestId('nav-alerts-evaluate').count()).toBe(0);
    // In the page's flow, not over the form: the form starts below it.
    const [a, f] = await Promise.all([alert.boundingBox(), page.getByTestId('eval-form').boundingBox()]);
    expect(a!.y + a!.height).toBeLessThanOrEqual(f!.y);
    await page.getByTestId('alert-dismiss').click();
    expect(await page.getByTestId('alert').count()).toBe(0);
    expect(errors).toEqual([]);
    lap('alerts');
  });

  it('Ask: a question about a local image, the answer streaming in', async () => {
    // A scan the synth generator draws, saved as a file on this computer to open.
    const [item] = await generateSynth({ n: 1, kind: 'image', level: 1, seed: 5, split: 'test', templates: [TEMPLATE] });
    const png = `${OUT}/ask-scan.png`;
    writeFileSync(png, await item.images[0].load());
    await goTo(page, 'ask');
    expect(await page.getByTestId('model-picker').inputValue()).toBe(`runs/${GRPO}/checkpoint-${GRPO_STEPS}`);
    await page.getByTestId('ask-image').setInputFiles(png);
    await page.locator('img.ask-image').waitFor();
    expect(await page.getByTestId('ask-image-name').textContent()).toBe('ask-scan.png');
    await page.getByTestId('ask-question').fill(item.question);
    await page.getByTestId('ask-options').fill(
      Object.entries(item.options)
        .map(([k, v]) => `${k}. ${v}`)
        .join('\n'),
    );
    await page.locator('#ask-max').fill('24');
    // Every text the answer box shows, as it changes.
    await page.getByTestId('ask-answer').evaluate((el) => {
      const seen: string[] = [];
      (window as unknown as { askSeen: string[] }).askSeen = seen;
      new MutationObserver(() => {
        const t = el.textContent ?? '';
        if (seen[seen.length - 1] !== t) seen.push(t);
      }).observe(el, { childList: true, subtree: true, characterData: true });
    });
    await page.getByTestId('ask-run').click();
    await page.getByTestId('ask-summary').waitFor({ timeout: RUN_TIMEOUT });
    const summary = await page.getByTestId('ask-summary').textContent();
    const tokens = Number(/^(\d+) tokens/.exec(summary ?? '')?.[1]);
    expect(tokens).toBeGreaterThan(0);
    const seen = await page.evaluate(() => (window as unknown as { askSeen: string[] }).askSeen);
    const answers = seen.filter((t) => t && !t.startsWith('Reading the question') && !t.startsWith('The answer appears'));
    expect(answers.length).toBeGreaterThan(0);
    // It grew: each text shown is where the next one started (the first shown before the answer was complete).
    if (tokens > 4) expect(answers.length).toBeGreaterThan(1);
    const final = answers[answers.length - 1];
    answers.forEach((t) => expect(final.startsWith(t.replace(/\s+$/, ''))).toBe(true));
    expect(summary).toMatch(/format (ok|not the recipe's) · the grader read .*: (option [AB]|no option)$/);
    // An answer that names no option, or an <answer> never closed, says so under the summary.
    if (/no option$/.test(summary!)) expect(await page.getByTestId('ask-why').textContent()).toMatch(/matches no option|never closed/);
    await page.evaluate(() => window.scrollTo(0, 0));
    await shoot(page, 'ask');
    expect(errors).toEqual([]);
    lap('ask');
  });

  it('Models: a checkpoint exported as a Hugging Face folder and imported back gives the same logits', async () => {
    await goTo(page, 'models');
    // The native folder picker stands in as a folder of the origin's private file system.
    await page.evaluate(() => {
      (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = async () =>
        (await navigator.storage.getDirectory()).getDirectoryHandle('picked-folder', { create: true });
    });
    const path = `runs/${SFT}/checkpoint-${SFT_STEPS}`;
    const row = page.getByTestId('model-row').filter({ hasText: path });
    await row.getByRole('button', { name: 'Export…' }).click();
    await page
      .getByTestId('alert')
      .filter({ hasText: `Exported ${path}` })
      .waitFor({ timeout: 60_000 });
    const files = await page.evaluate(async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked-folder');
      const out: string[] = [];
      for await (const [n] of (dir as unknown as { entries(): AsyncIterable<[string, unknown]> }).entries()) out.push(n);
      return out.sort();
    });
    expect(files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
    await page.getByTestId('import-model').getByRole('textbox', { name: 'model name' }).fill('imported');
    await page.getByTestId('import-model-button').click();
    const imported = page.getByTestId('model-row').filter({ hasText: 'models/imported' });
    await imported.waitFor({ timeout: 60_000 });
    expect(await imported.textContent()).toContain('1 layer × 32');
    const [a, b] = await page.evaluate(async (ck) => {
      const e = (window as unknown as { thinker: { engine: () => { scoreText(p: string, t: string): Promise<number[]> } } }).thinker.engine();
      const text = '<|im_start|>assistant\n<think>The effusion</think>\n<answer> A </answer><|im_end|>';
      return [await e.scoreText(ck, text), await e.scoreText('models/imported', text)];
    }, path);
    expect(a.length).toBeGreaterThan(5);
    expect(b).toEqual(a);
    await shoot(page, 'models');
    expect(errors).toEqual([]);
    lap('models');
  });

  it('every page fits the window at 1280, 800 and 390 px, narrowed live as a person would (screenshots kept)', async () => {
    const overflow: string[] = [];
    for (const id of ['data', 'train', 'rollouts', 'evaluate', 'ask', 'models']) {
      await page.setViewportSize({ width: 1280, height: 800 });
      await goTo(page, id);
      await page.waitForTimeout(300);
      for (const width of [1280, 800, 390]) {
        await page.setViewportSize({ width, height: 800 });
        // Charts follow their box through a ResizeObserver: give it a frame or two.
        await page.waitForTimeout(300);
        const { scroll, inner, widest } = await page.evaluate(() => {
          const inner = window.innerWidth;
          // The element that sticks out furthest, to say what to fix.
          let widest = '';
          let right = inner;
          for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > right + 1 && getComputedStyle(el).position !== 'fixed' && !el.closest('.table-scroll')) {
              right = r.right;
              widest = `${el.tagName.toLowerCase()}.${(el.className as unknown as string).toString().split(' ').join('.')}[${el.getAttribute('data-testid') ?? ''}] right ${Math.round(r.right)}`;
            }
          }
          return { scroll: document.documentElement.scrollWidth, inner, widest };
        });
        if (scroll > inner + 1) overflow.push(`${id} at ${width}: page ${scroll} px wide; ${widest}`);
        await page.screenshot({ path: `${OUT}/app-${id}-${width}.png`, fullPage: true });
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(overflow).toEqual([]);
    expect(errors).toEqual([]);
    lap('widths');
  });

  it('accessibility: axe-core finds no serious or critical violation on any page', async () => {
    // axe's own script, evaluated through the DevTools protocol (the site's policy allows no injected <script>).
    const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    const found: string[] = [];
    for (const id of ['data', 'train', 'rollouts', 'evaluate', 'ask', 'models']) {
      await goTo(page, id);
      await page.waitForTimeout(300);
      await page.evaluate(axeSource);
      const violations = await page.evaluate(async () => {
        const axe = (
          window as unknown as {
            axe: { run(o: unknown): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> };
          }
        ).axe;
        const r = await axe.run({ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
        return r.violations
          .filter((v) => v.impact === 'serious' || v.impact === 'critical')
          .map(
            (v) =>
              `${v.id} (${v.impact}): ${v.help} at ${v.nodes
                .slice(0, 3)
                .map((n) => n.target.join(' '))
                .join(', ')}${v.nodes.length > 3 ? ` and ${v.nodes.length - 3} more` : ''}`,
          );
      });
      found.push(...violations.map((v) => `${id}: ${v}`));
    }
    expect(found).toEqual([]);
    expect(errors).toEqual([]);
    lap('axe');
  });

  it('without WebGPU: the explanation page, and no uncaught error', async () => {
    const plain = await launchChromiumWithoutWebGpu();
    try {
      // Launched without the flag: navigator.gpu is there but gives no adapter.
      const p1 = await plain.newPage({ viewport: { width: 1280, height: 800 } });
      const e1 = collectPageErrors(p1);
      await p1.goto(url);
      await p1.getByTestId('no-webgpu').waitFor({ timeout: 60_000 });
      expect(await p1.getByTestId('no-webgpu-reason').textContent()).toMatch(/no WebGPU adapter/i);
      expect(await p1.getByRole('heading', { name: 'Browsers with WebGPU' }).count()).toBe(1);
      expect(await p1.getByTestId('nav-data').count()).toBe(0);
      // The software adapter is offered to machines without a GPU, and no flag wraps across lines.
      expect(await p1.getByTestId('webgpu-browser').filter({ hasText: 'No GPU at all' }).textContent()).toContain('--use-webgpu-adapter=swiftshader');
      for (const flag of await p1.locator('code.flag').all()) {
        const box = await flag.boundingBox();
        const lineHeight = await flag.evaluate((el) => parseFloat(getComputedStyle(el).lineHeight) || 1.5 * parseFloat(getComputedStyle(el).fontSize));
        expect(box!.height, (await flag.textContent()) ?? '').toBeLessThan(1.5 * lineHeight);
      }
      await p1.screenshot({ path: `${OUT}/app-no-webgpu.png` });
      // A browser with no WebGPU at all (navigator.gpu missing): said before any worker starts.
      const p2 = await plain.newPage();
      const e2 = collectPageErrors(p2);
      await p2.addInitScript(() => {
        Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
      });
      await p2.goto(url);
      await p2.getByTestId('no-webgpu').waitFor({ timeout: 30_000 });
      expect(await p2.getByTestId('no-webgpu-reason').textContent()).toMatch(/navigator\.gpu is missing/);
      expect(e1).toEqual([]);
      expect(e2).toEqual([]);
    } finally {
      await plain.close();
    }
    lap('no webgpu');
  });
});
