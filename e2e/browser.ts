// Launch Debian's Chromium (Playwright gives it a fresh temporary profile) with WebGPU on SwiftShader and serve the production build on loopback.
import { chromium, type Browser, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';

export async function startPreview(): Promise<{ server: PreviewServer; url: string }> {
  // THINKER_E2E_OUT serves another build folder (default dist-web), e.g. a build made beside a running one.
  const outDir = process.env.THINKER_E2E_OUT;
  const server = await preview({ ...(outDir ? { build: { outDir } } : {}), preview: { port: 0, host: '127.0.0.1', strictPort: false }, logLevel: 'error' });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview did not report a URL (is dist-web/ built? run `npm run build`)');
  return { server, url };
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
      '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Chromium as a browser without WebGPU: the same build, launched without --enable-unsafe-webgpu,
 * so navigator.gpu is there but offers no adapter (Chromium on Linux by default).
 */
export async function launchChromiumWithoutWebGpu(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Console errors and uncaught exceptions of a page, collected from now on. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}
