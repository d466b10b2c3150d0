// Whether this browser can run the lab, checked on the UI thread before the engine worker starts,
// and where to get a browser that can.

/** What is missing, or null when navigator.gpu exists (an adapter may still be refused later). */
export function missingWebGpu(nav: unknown): string | null {
  if (!nav || typeof nav !== 'object') return 'There is no navigator object here.';
  if (!('gpu' in nav) || !(nav as { gpu?: unknown }).gpu) {
    return 'This browser does not offer WebGPU (navigator.gpu is missing). It may be too old, have WebGPU switched off, or the page is not served from a secure origin (https or localhost).';
  }
  return null;
}

export const WEBGPU_BROWSERS: { browser: string; how: string; flags?: string[] }[] = [
  { browser: 'Chrome or Edge 113+ (Windows, macOS, ChromeOS)', how: 'on by default' },
  { browser: 'Chrome on Linux', how: 'start it with', flags: ['--enable-unsafe-webgpu', '--enable-features=Vulkan'] },
  { browser: 'Chrome on Android 121+', how: 'on by default on recent devices' },
  { browser: 'Safari 26 (macOS, iOS, iPadOS)', how: 'on by default; Safari Technology Preview too' },
  { browser: 'Firefox 141+ on Windows', how: 'on by default; elsewhere use Firefox Nightly' },
  {
    browser: 'No GPU at all (a server, a virtual machine)',
    how: "Chrome's software adapter, SwiftShader, runs WebGPU on the CPU (slowly, but the whole lab works): start Chrome with",
    flags: ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'],
  },
];
