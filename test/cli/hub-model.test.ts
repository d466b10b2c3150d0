// `thinker hub model REPO --out DIR` (src/cli/commands/hub.ts hubModelToFolder: the lab's own
// download, src/lab/hub-models.ts, on a Node folder) against the in-memory Hub of test/lab: the
// folder written at once with the served files, the staging folder beside it resumed after a cut
// and removed at the end, --out checks, and a model too big for the given adapter refused after
// config.json alone. The adapter is given (no Dawn device here).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { generateSynth } from '../../src/data/synth';
import { tinySmolvlmFiles } from '../../src/recipe/smolvlm';
import { hubModelToFolder, registerHub } from '../../src/cli/commands/hub';
import type { HubModelProgress } from '../../src/lab/hub-models';
import { HUB, fakeHub } from '../lab/fake-hub';

const REPO = 'HuggingFaceTB/SmolVLM-tiny';
const tmp = mkdtempSync(path.join(tmpdir(), 'thinker-hub-model-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const budget = async () => ({ maxBindingBytes: 2 ** 30, memoryBytes: 2 ** 32 });

let files: Record<string, Uint8Array>;
beforeAll(async () => {
  const items = await generateSynth({ n: 8, kind: 'image', level: 1, seed: 1, split: 'train' });
  files = Object.fromEntries(await tinySmolvlmFiles(items, { seed: 4 }));
}, 120_000);

function expectFolder(dir: string) {
  expect(readdirSync(dir).sort()).toEqual(['.complete', ...Object.keys(files)].sort());
  for (const [f, b] of Object.entries(files)) expect(readFileSync(path.join(dir, f)).equals(Buffer.from(b)), f).toBe(true);
}

describe('thinker hub model', () => {
  it('is a command: hub model [repo] --out, defaulting to SmolVLM-256M-Instruct', () => {
    const program = new Command();
    registerHub(program);
    const model = program.commands.find((c) => c.name() === 'hub')?.commands.find((c) => c.name() === 'model');
    expect(model?.helpInformation()).toMatch(/HuggingFaceTB\/SmolVLM-256M-Instruct/);
    expect(model?.options.map((o) => o.long)).toEqual(expect.arrayContaining(['--out', '--revision', '--endpoint', '--token', '--force', '--no-fit-check']));
  });

  it('writes the model folder at once; a cut download resumes from the staging folder beside it with a Range request', async () => {
    const out = path.join(tmp, 'smol');
    const at = 30_000;
    const hub = fakeHub({ [REPO]: { files, cut: { file: 'model.safetensors', at } } });
    const o = { repo: REPO, out, endpoint: HUB, fetch: hub.fetch, budget, partBytes: 4096 };
    await expect(hubModelToFolder(o)).rejects.toThrow(/was cut after/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(path.join(tmp, '.smol.download', 'download.json'))).toBe(true);

    const progress: HubModelProgress[] = [];
    const { dir, staging, result } = await hubModelToFolder(o, (p) => progress.push(p));
    expect(dir).toBe(out);
    expectFolder(out);
    expect(existsSync(staging)).toBe(false);
    expect(result.resumed).toBeGreaterThanOrEqual(at);
    expect(result.files).toEqual(Object.keys(files).sort());
    expect(hub.gets('model.safetensors').at(-1)?.range).toBe(`bytes=${at}-`);
    expect(progress.at(-1)).toMatchObject({ phase: 'done', bytesDone: result.bytes, bytesTotal: result.bytes });

    // An --out holding a model is kept unless --force; with it, the model is replaced whole.
    await expect(hubModelToFolder(o)).rejects.toThrow(/already holds a model \(config\.json\); pass --force to replace it/);
    await hubModelToFolder({ ...o, force: true });
    expectFolder(out);
  });

  it('refuses an --out of other files, and a model too big for the adapter after config.json alone', async () => {
    const other = path.join(tmp, 'notes');
    mkdirSync(other);
    writeFileSync(path.join(other, 'todo.txt'), 'x');
    const hub = fakeHub({ [REPO]: { files } });
    await expect(hubModelToFolder({ repo: REPO, out: other, endpoint: HUB, fetch: hub.fetch, budget })).rejects.toThrow(/holds files that are not a model/);
    expect(hub.log).toEqual([]);

    const small = async () => ({ maxBindingBytes: 4096, memoryBytes: null });
    await expect(hubModelToFolder({ repo: REPO, out: path.join(tmp, 'big'), endpoint: HUB, fetch: hub.fetch, budget: small })).rejects.toThrow(
      /^hf HuggingFaceTB\/SmolVLM-tiny: too big for this adapter: tensor .* needs [\d.]+ MB in one buffer/,
    );
    expect(hub.log.map((e) => e.file)).toEqual(['config.json']);
    expect(existsSync(path.join(tmp, 'big'))).toBe(false);
    expect(existsSync(path.join(tmp, '.big.download'))).toBe(false);
  });
});
