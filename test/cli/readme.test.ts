// The README's headless-runner commands, run as a new user would: in the order written, from a
// fresh folder holding only a copy of README.md, through bin/thinker.mjs. What a test cannot
// afford is shortened by the QUICK table below (fewer steps and items), and each entry must find
// its text in the README line, so the README and this test cannot drift apart silently. The
// second block of the section (minutes-long or networked commands) is not run here.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DATA_DIR, HAS_DATA, NO_DATA_MESSAGE, REPO } from '../data/helpers';

/** The commands of the first ```bash block under "## Headless runner", comments removed. */
function readmeCommands(readme: string): string[] {
  const at = readme.indexOf('## Headless runner');
  if (at < 0) throw new Error('README has no "## Headless runner" section');
  const m = /```bash\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!m) throw new Error('the Headless runner section has no bash block');
  return m[1]
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter(Boolean);
}

/** Shorter settings for the test: [subcommand, README text, replacement]. */
const QUICK: [string, string, string][] = [
  ['train', '--steps 40', '--steps 2'],
  ['sft --config synth-micro-vision', '--steps 60', '--steps 2 --set eval.items=4'],
  ['grpo', '--steps 4', '--steps 1 --set eval.items=4 --set promptsPerStep=2 --set groupSize=2'],
  ['eval', '--limit 20', '--limit 2'],
  ['curate', '--limit 32 --k 8', '--limit 4 --k 2'],
  // The engine's own sections only: TensorFlow.js and ONNX Runtime are timed in test/bench.
  ['bench', '--quick', '--quick --sections train,decode --no-tfjs --no-ort'],
  // The checkpoints the shortened runs end with.
  ['', 'checkpoint-60', 'checkpoint-2'],
  ['', 'checkpoint-4', 'checkpoint-1'],
];

function quick(line: string, used: Set<number>): string {
  let out = line;
  QUICK.forEach(([cmd, from, to], i) => {
    if (cmd && !line.startsWith(`npx thinker ${cmd} `)) return;
    if (out.includes(from)) {
      out = out.split(from).join(to);
      used.add(i);
    }
  });
  return out
    .split('npx thinker')
    .join(`node ${JSON.stringify(path.join(REPO, 'bin/thinker.mjs'))}`)
    .split('../shared/data')
    .join(JSON.stringify(DATA_DIR));
}

describe('README commands', () => {
  const commands = readmeCommands(readFileSync(path.join(REPO, 'README.md'), 'utf8'));

  it('the section lists the runner commands, each through npx thinker', () => {
    expect(commands.length).toBeGreaterThanOrEqual(12);
    for (const c of commands) expect(c, c).toMatch(/(^|\| )npx thinker [a-z-]+/);
    // No placeholder a reader would have to fill in.
    for (const c of commands) expect(c, c).not.toMatch(/\bDIR\b|<(teacher|model|file|dir|path)[^>]*>|scan\.png/);
  });

  it.skipIf(!HAS_DATA)(
    `run as written, in order, in a fresh folder (quick settings)${HAS_DATA ? '' : `: ${NO_DATA_MESSAGE}`}`,
    () => {
      const cwd = mkdtempSync(path.join(os.tmpdir(), 'thinker-readme-'));
      const used = new Set<number>();
      try {
        copyFileSync(path.join(REPO, 'README.md'), path.join(cwd, 'README.md'));
        for (const line of commands) {
          const cmd = quick(line, used);
          const r = spawnSync('bash', ['-c', cmd], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' }, maxBuffer: 64 << 20 });
          expect(r.status, `${line}\n${r.stderr}`).toBe(0);
          expect((r.stdout + r.stderr).trim().length, `${line} printed nothing`).toBeGreaterThan(0);
          expect(r.stderr, line).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);
        }
        // Every shortening found its text: a README edit that drops one shows up here.
        expect(QUICK.filter((_, i) => !used.has(i)).map(([c, from]) => `${c} ${from}`)).toEqual([]);
        for (const f of [
          'runs/micro/config.json',
          'runs/sft/checkpoint-2/model.safetensors',
          'runs/grpo/checkpoint-1/model.safetensors',
          'runs/vqa-rad-rl.parquet',
          'runs/onnx-model/onnx/model.onnx',
        ]) {
          expect(existsSync(path.join(cwd, f)), f).toBe(true);
        }
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
      // About a minute alone; a loaded 2-core machine can take many times that, and no limit load can trip is set.
    },
    3_600_000,
  );
});
