// The shell renders and its worker reports the adapter; the screenshot is kept as a test artifact.
import { it, expect } from 'vitest';
import { mkdirSync } from 'node:fs';
import { launchChromium, startPreview } from './browser';

it('the lab page shows the GPU the worker found', async () => {
  const { server, url } = await startPreview();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.getByTestId('gpu-info').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('gpu-info').textContent()).toMatch(/SwiftShader|swiftshader|google/i);
    // Chromium's SwiftShader is a CPU adapter with 4-lane subgroups: the row kernels, and subgroups reported.
    expect(await page.getByTestId('kernel-path').textContent()).toMatch(/one thread per row.*subgroups of 4 lanes.*KV cache in f32/);
    mkdirSync('test-results', { recursive: true });
    await page.screenshot({ path: 'test-results/lab-shell.png' });
  } finally {
    await browser.close();
    await server.close();
  }
});
