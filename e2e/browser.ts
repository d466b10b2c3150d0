// Launch Debian's Chromium (Playwright gives it a fresh temporary profile) with WebGPU on SwiftShader and serve the production build on loopback.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';

export async function startPreview(): Promise<{ server: PreviewServer; url: string }> {
  // THINKER_E2E_OUT serves another build folder (default dist-web), e.g. a build made beside a running one.
  const outDir = process.env.THINKER_E2E_OUT;
  const server = await preview({ ...(outDir ? { build: { outDir } } : {}), preview: { port: 0, host: '127.0.0.1', strictPort: false }, logLevel: 'error' });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview did not report a URL (is dist-web/ built? run `npm run build`)');
  return { server, url };
}

const CHROMIUM = () => process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WEBGPU_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM(), headless: true, args: WEBGPU_ARGS });
}

export interface OwnChromium {
  browser: Browser;
  /** The profile's own context (its storage is the profile folder's). */
  context: BrowserContext;
  /** SIGKILL, as a crash or a power cut would end it; resolves once it and its children are gone. */
  kill(): Promise<void>;
}

/**
 * Chromium (with launchChromium's flags) as a process of this test on a profile folder, driven over
 * the DevTools protocol: unlike a Playwright launch it can be killed like a crash and started again
 * on the same profile, whose origin storage (OPFS) then holds what the killed one wrote.
 */
export async function spawnChromium(userDataDir: string): Promise<OwnChromium> {
  const proc = spawn(CHROMIUM(), [...WEBGPU_ARGS, '--remote-debugging-port=0', `--user-data-dir=${userDataDir}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    let err = '';
    // Generous: a loaded CI machine starts Chromium slowly, and this wait must not be what fails.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`chromium did not open its DevTools port in 300 s: ${err.slice(-2000)}`));
    }, 300_000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}) before opening its DevTools port: ${err.slice(-2000)}`));
    });
  });
  proc.stderr!.resume();
  let browser;
  try {
    browser = await chromium.connectOverCDP(endpoint);
  } catch (e) {
    // Not left running for the rest of the suite.
    proc.kill('SIGKILL');
    throw e;
  }
  const exited = new Promise<void>((r) => {
    if (proc.exitCode !== null || proc.signalCode !== null) r();
    else proc.once('exit', () => r());
  });
  return {
    browser,
    context: browser.contexts()[0],
    async kill() {
      proc.kill('SIGKILL');
      await exited;
      // Its renderer and GPU processes end when they lose it; the next start on this profile waits for them.
      for (let i = 0; i < 150 && profileInUse(userDataDir); i++) await new Promise((r) => setTimeout(r, 100));
    },
  };
}

/** A process whose command line names the profile folder is still running. */
function profileInUse(userDataDir: string): boolean {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(`--user-data-dir=${userDataDir}`)) return true;
    } catch {
      // It ended while we looked.
    }
  }
  return false;
}

/**
 * Chromium as a browser without WebGPU: the same build, launched without --enable-unsafe-webgpu,
 * so navigator.gpu is there but offers no adapter (Chromium on Linux by default).
 */
export async function launchChromiumWithoutWebGpu(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM(),
    headless: true,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Console errors and uncaught exceptions of a page, collected from now on. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

/** A fresh page of the lab at `url`, its errors collected, once the engine API (window.thinker) is up. */
export async function openLab(browser: Browser, url: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors = collectPageErrors(page);
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { thinker?: unknown }).thinker !== undefined);
  return { page, errors };
}
