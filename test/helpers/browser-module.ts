// A lab module run in headless Chromium: `source` (TypeScript that sets a function on window) is
// bundled with esbuild for the browser, served from a local server and opened in a page, which
// the test then calls through page.evaluate. For comparing a module's browser path with Node's
// (image decoding, the synth generator) without building the whole site.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type Page } from 'playwright-core';
import { REPO } from '../data/helpers';

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);

/** Opens the page once `window[ready]` is a function; `close` frees the browser, server and files. */
export async function openModulePage(source: string, ready: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'thinker-browser-module-'));
  const entry = path.join(dir, 'entry.ts');
  await writeFile(entry, source);
  // Splitting keeps the Node-only decoders (jpeg-js, pngjs) in a chunk the page never loads.
  await build({
    entryPoints: [entry],
    outdir: path.join(dir, 'out'),
    bundle: true,
    format: 'esm',
    splitting: true,
    platform: 'browser',
    external: ['jpeg-js', 'pngjs'],
    logLevel: 'error',
    absWorkingDir: REPO,
  });
  const server = createServer(async (req, res) => {
    if (req.url === '/') {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><script type="module" src="/entry.js"></script>');
      return;
    }
    try {
      const body = await readFile(path.join(dir, 'out', path.basename(req.url ?? '')));
      res.setHeader('content-type', 'text/javascript');
      res.end(body);
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForFunction((name) => typeof (window as unknown as Record<string, unknown>)[name] === 'function', ready);
  return {
    page,
    close: async () => {
      await browser.close();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
