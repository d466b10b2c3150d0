// The GPU server's runner (scripts/build-cli.mjs --small, what scripts/pack-gpu-server.sh carries)
// starts where no npm package is installed at all: whatever only some commands use (transformers.js
// for the pretrained backend, onnxruntime-web for the bench, Dawn for the GPU) is loaded when used.
// A single-file bundle hoisted transformers.js's import to the top, and the packed `thinker info`
// failed at start on a machine without it; this builds the pack's runner into an empty folder
// outside the repository (no node_modules above it) and runs commands that need no GPU.
import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'thinker-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the packed runner as the pack's `thinker` script does, with these arguments. */
const runner = (args: string[]) =>
  spawnSync(process.execPath, ['-e', `import('./thinker-cli.mjs').then(async (m) => { process.exitCode = await m.main(${JSON.stringify(args)}); })`], {
    cwd: dir,
    encoding: 'utf8',
  });

describe('the GPU-server runner (build-cli.mjs --small)', () => {
  it('starts and answers without any npm package installed; transformers.js only in a lazily loaded chunk', () => {
    expect(existsSync(path.join(tmpdir(), 'node_modules'))).toBe(false); // nothing to find packages in
    const b = spawnSync(process.execPath, [path.join(root, 'scripts/build-cli.mjs'), path.join(dir, 'thinker-cli.mjs'), '--small'], { encoding: 'utf8' });
    expect(b.status, b.stderr).toBe(0);

    const help = runner(['--help']);
    expect(help.status, help.stderr).toBe(0);
    for (const cmd of ['info', 'bench', 'sft', 'grpo', 'eval', 'ask', 'distill']) expect(help.stdout).toMatch(new RegExp(`\\n\\s+${cmd}\\b`));
    const bench = runner(['bench', '--help']);
    expect(bench.status, bench.stderr).toBe(0);
    expect(bench.stdout).toMatch(/--no-ort-webgpu/);

    // The pretrained backend's chunk is the one place transformers.js is imported.
    const chunks = readdirSync(path.join(dir, 'chunks'));
    const importers = chunks.filter((f) => /from\s*"@huggingface\/transformers"/.test(readFileSync(path.join(dir, 'chunks', f), 'utf8')));
    expect(importers).toHaveLength(1);
    expect(readFileSync(path.join(dir, 'thinker-cli.mjs'), 'utf8')).not.toMatch(/from\s*"(@huggingface\/transformers|onnxruntime-web|webgpu)"/);
  }, 120_000);
});
