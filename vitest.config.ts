import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const root = path.dirname(fileURLToPath(import.meta.url));

/**
 * What puts a test file in the `gpu` lane: it, or a test helper it imports (followed through
 * test/), makes a Dawn device (`createNodeGpu`, `testGpu` of test/helpers/gpu.ts), runs a CLI
 * command that makes one, launches Chromium, or starts the `thinker` process or a script under tsx
 * (which run on Dawn). Everything else is the `unit` lane: plain CPU code. In the unit lane the
 * `webgpu` package is test/helpers/no-gpu.ts, which fails saying so: a test that reaches Dawn
 * without matching these patterns fails there instead of silently being slow.
 */
const NEEDS_DEVICE = [
  /\bcreateNodeGpu\b/,
  /helpers\/gpu['"]/,
  /from ['"]webgpu['"]/,
  /from ['"]playwright-core['"]/,
  /bin\/thinker|thinker\.mjs/,
  /tsx\/dist\/cli\.mjs/,
  /\bcli\/commands\/(sft|grpo|train|generate|eval|ask|demo|curate|distill|bench|export-onnx)['"]/,
];

function testFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(`${dir}/${e.name}`) : e.name.endsWith('.test.ts') ? [`${dir}/${e.name}`] : [],
  );
}

/** Whether `file` (relative to the root) or a test/ module it imports matches NEEDS_DEVICE. */
function needsDevice(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file)) return false;
  seen.add(file);
  const text = readFileSync(path.join(root, file), 'utf8');
  if (NEEDS_DEVICE.some((re) => re.test(text))) return true;
  for (const [, spec] of text.matchAll(/from\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) + '.ts';
    if (target.startsWith('test/') && needsDevice(target, seen)) return true;
  }
  return false;
}

const gpuTests = testFiles('test').filter((f) => needsDevice(f));

/**
 * The files that take minutes, longest first (measured in CI: the learning proof ~8 min, the
 * README's commands ~3.5, the vision probe ~2.5, the learning tests ~1.5). With two workers the
 * suite lasts at least as long as the longest file; started first, the rest fills the other worker
 * beside it. Vitest's own order puts files it has never timed in path order, which on a fresh clone
 * started the 8-minute proof two thirds of the way through and added its whole length to the end.
 */
const SLOWEST = ['test/recipe/recipe-synth.test.ts', 'test/cli/readme.test.ts', 'test/scripts/probe-vision.test.ts', 'test/model/learning.test.ts'];

class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = SLOWEST.indexOf(path.relative(root, f.moduleId).split(path.sep).join('/'));
      return i < 0 ? SLOWEST.length : i;
    };
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map((x) => x.f);
  }
}

// Dawn + SwiftShader use every core for one dispatch; two test files at once is the most a 2-core
// machine gains from.
const shared = { pool: 'forks', maxWorkers: 2, testTimeout: 300_000, hookTimeout: 300_000 } as const;

export default defineConfig({
  test: {
    ...shared,
    sequence: { sequencer: SlowestFirst },
    // `vitest run` runs both lanes; `vitest run --project unit` (npm run test:fast) the CPU-only one.
    projects: [
      {
        resolve: { alias: { webgpu: path.join(root, 'test/helpers/no-gpu.ts') } },
        test: { ...shared, name: 'unit', include: ['test/**/*.test.ts'], exclude: gpuTests },
      },
      { test: { ...shared, name: 'gpu', include: gpuTests } },
    ],
  },
});
