// Two tabs of one browser on the same run (one context: the same origin storage and Web Locks).
// Tab A trains; tab B lists the run as "running elsewhere", offers no Resume and no Delete, says
// why, follows its charts, and its engine refuses to resume or delete it. Once A pauses it, B can
// take it over: B resumes it (A now sees it running elsewhere), and the run's metrics read as one
// run, each step once, every line valid JSON: before the locks, B's Resume started a second trainer
// on the same folder and the two interleaved metrics.jsonl.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { PreviewServer } from 'vite';
import { collectPageErrors, launchChromium, startPreview } from './browser';
import { applyOverrides, sftConfigFrom } from '../src/recipe/sft-config';

const RUN = 'shared';
// ~30k parameters on one short synth template; many steps so that A is still training while B looks.
const CONFIG = applyOverrides(sftConfigFrom('synth-micro'), [
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
  'maxSteps=2000',
  'checkpoint.every=1',
  'checkpoint.keep=2',
]);
const WAIT = { timeout: 120_000, interval: 250 };

type Engine = {
  startRun(r: unknown): Promise<{ status: string; step: number }>;
  resumeRun(n: string): Promise<unknown>;
  deleteRun(n: string): Promise<void>;
  stopRun(how: string): Promise<void>;
  listRuns(): Promise<{ name: string; status: string }[]>;
  runMetrics(n: string): Promise<{ type: string; step: number }[]>;
};
type Win = { thinker: { engine: () => Engine }; aRun?: Promise<{ status: string; step: number }> };

/** The points a chart's series draw (its figure's data-series: "label=count;..."). */
async function lossPoints(page: Page): Promise<number> {
  const attr = (await page.getByTestId('chart-loss').getAttribute('data-series')) ?? '';
  return Number(/(?:^|;)train=(\d+)/.exec(attr)?.[1] ?? 0);
}

/** The run's status badge in a page's run list; when there is none, what the page's alerts say (so a failure shows why). */
const badge = (page: Page) =>
  page
    .getByTestId(`run-status-${RUN}`)
    .first()
    .textContent({ timeout: 2000 })
    .catch(async () => `no row for the run; alerts: ${JSON.stringify(await page.getByTestId('alert').allTextContents())}`);

const steps = (page: Page) =>
  page.evaluate(async (run) => (await (window as unknown as Win).thinker.engine().runMetrics(run)).filter((r) => r.type === 'step').map((r) => r.step), RUN);
const statusOf = (page: Page) =>
  page.evaluate(async (run) => (await (window as unknown as Win).thinker.engine().listRuns()).find((r) => r.name === run)?.status, RUN);
/** A call of the page's engine: 'ok', or the message it was refused with. */
const attempt = (page: Page, call: 'resumeRun' | 'deleteRun') =>
  page.evaluate(
    async ({ run, call }) => {
      try {
        await (window as unknown as Win).thinker.engine()[call](run);
        return 'ok';
      } catch (e) {
        return (e as Error).message;
      }
    },
    { run: RUN, call },
  );

describe('two tabs, one run', () => {
  let server: PreviewServer;
  let url: string;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    ({ server, url } = await startPreview());
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the other tab sees it running elsewhere and cannot resume or delete it; once paused, it takes it over cleanly', async () => {
    const a = await context.newPage();
    const b = await context.newPage();
    const errorsA = collectPageErrors(a);
    const errorsB = collectPageErrors(b);
    await a.goto(url);
    await a.waitForFunction(() => (window as unknown as Win).thinker !== undefined);
    // Tab A's engine runs it (its own page needs no UI for that); the promise ends with the run.
    await a.evaluate(
      ({ run, config }) => {
        const w = window as unknown as Win;
        w.aRun = w.thinker.engine().startRun({ name: run, kind: 'sft', config });
      },
      { run: RUN, config: CONFIG },
    );
    await expect.poll(async () => (await steps(a)).length, WAIT).toBeGreaterThanOrEqual(2);

    await b.goto(url);
    await b.getByTestId('nav-train').click();
    await expect.poll(() => badge(b), WAIT).toBe('running elsewhere');
    const row = b.getByTestId(`run-row-${RUN}`);
    expect(await b.getByTestId(`run-resume-${RUN}`).count()).toBe(0);
    expect(await b.getByTestId(`run-restart-${RUN}`).count()).toBe(0);
    expect(await row.getByRole('button', { name: 'Delete' }).isDisabled()).toBe(true);
    expect(await b.getByTestId('run-elsewhere').textContent()).toMatch(/running in another tab/);
    // Its charts follow A's run.
    // (The list shows the run before its rows have loaded into the chart.)
    await expect.poll(() => lossPoints(b), WAIT).toBeGreaterThanOrEqual(2);
    const shown = await lossPoints(b);
    await expect.poll(() => lossPoints(b), WAIT).toBeGreaterThan(shown);
    // B's engine refuses, whatever its UI shows.
    expect(await attempt(b, 'resumeRun')).toMatch(/run shared: is running in another tab/);
    expect(await attempt(b, 'deleteRun')).toMatch(/run shared: is running in another tab/);
    expect(await statusOf(a)).toBe('running');

    // A pauses; B sees it paused and resumes it; A now sees it running elsewhere.
    await a.evaluate(() => (window as unknown as Win).thinker.engine().stopRun('pause'));
    const paused = await a.evaluate(() => (window as unknown as Win).aRun!);
    expect(paused.status).toBe('paused');
    await expect.poll(() => badge(b), WAIT).toBe('paused');
    await b.getByTestId(`run-resume-${RUN}`).click();
    await expect.poll(() => statusOf(a), WAIT).toBe('running-elsewhere');
    expect(await attempt(a, 'resumeRun')).toMatch(/run shared: is running in another tab/);
    await expect.poll(async () => (await steps(b)).length, WAIT).toBeGreaterThan(paused.step + 1);
    await b.getByTestId('run-pause').click();
    await expect.poll(() => badge(b), WAIT).toBe('paused');

    // One run's worth of metrics: each step once, in order (runMetrics refuses a line that is not JSON).
    const done = await steps(b);
    expect(done.length).toBeGreaterThan(paused.step + 1);
    expect(done).toEqual(done.map((_, i) => i + 1));
    expect(errorsA).toEqual([]);
    expect(errorsB).toEqual([]);
  });
});
