// The classroom path, timed in the browser (not a test): the Train page's default presets
// (synth-micro-noisy: the learning proof's SFT, then GRPO from its checkpoint) run in the built
// site's engine worker in headless Chromium (WebGPU on this machine's adapter), as a teacher would
// start them from the page, with every held-out evaluation and the minutes each stage took.
//
//   npm run build && npx tsx scripts/classroom-browser.ts [--grpo-steps 8]
// Prints one JSON line: {"sft": {"seconds", "evals": [{step, format_rate, accuracy}]}, "grpo": {...}, "adapter"}.
import './raw-imports';

const { launchChromium, startPreview } = await import('../e2e/browser');
const { sftConfigFrom } = await import('../src/recipe/sft-config');
const { grpoConfigFrom } = await import('../src/recipe/grpo-config');
type EngineApi = import('../src/lab/api').EngineApi;

const argv = process.argv.slice(2);
const grpoSteps = argv[0] === '--grpo-steps' && /^\d+$/.test(argv[1] ?? '') ? Number(argv[1]) : grpoConfigFrom('synth-micro-noisy').steps;
const sft = sftConfigFrom('synth-micro-noisy');
const grpo = { ...grpoConfigFrom('synth-micro-noisy'), steps: grpoSteps, model: 'runs/classroom-sft/checkpoint-120' };

const { server, url } = await startPreview();
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  // tsx names the functions it compiles with a __name helper the page does not have.
  await page.addInitScript('globalThis.__name = (f) => f');
  await page.goto(url);
  await page.waitForFunction(() => (window as unknown as { thinker?: unknown }).thinker !== undefined);
  const out = await page.evaluate(
    async ({ sft, grpo }) => {
      type E = Pick<EngineApi, 'init' | 'startRun' | 'runMetrics'>;
      const e = (window as unknown as { thinker: { engine: () => E } }).thinker.engine();
      const info = await e.init();
      const stage = async (name: string, req: Parameters<E['startRun']>[0]) => {
        const t0 = performance.now();
        const end = await e.startRun(req);
        const seconds = (performance.now() - t0) / 1000;
        const rows = await e.runMetrics(name);
        const evals = rows
          .filter((r) => r.type === 'eval')
          .map((r) => ({ step: r.step, format_rate: r.format_rate, accuracy: r.accuracy, seconds: r.seconds }));
        return { status: end.status, steps: end.step, seconds, evals };
      };
      return {
        adapter: `${info.vendor} ${info.architecture} ${info.description}`.trim(),
        sft: await stage('classroom-sft', { name: 'classroom-sft', kind: 'sft', config: sft }),
        grpo: await stage('classroom-grpo', { name: 'classroom-grpo', kind: 'grpo', config: grpo }),
      };
    },
    { sft, grpo },
  );
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  await browser.close();
  await server.close();
}
process.exit(0);
