// The headless commands of the pretrained backend, parsed by commander in-process as the runner
// parses them: export-onnx, ask (lab and transformers backends, local folder, hub mirror, offline
// cache), eval --backend transformers beside --backend lab, and distill to a recipe JSONL.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { Command } from 'commander';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { registerAsk } from '../../src/cli/commands/ask';
import { registerDistill } from '../../src/cli/commands/distill';
import { registerExportOnnx } from '../../src/cli/commands/export-onnx';
import { registerEval } from '../../src/cli/commands/eval';
import { loadRecipeJsonl } from '../../src/data/loaders/recipe';
import { nodeDirSource } from '../../src/io/workspace';
import { tokenizerFromJson } from '../../src/io/tokenizer';
import { saveCheckpoint } from '../../src/node/checkpoint';
import { computeReward } from '../../src/task/reward';
import { DATA_DIR, HAS_DATA } from '../data/helpers';
import { labTokenizer, letterTeacher, smallTextConfig, spreadWeights, tempDir } from './fixtures';
import { startHub, type LocalHub } from './hub-server';

const tmp = await tempDir('pretrained-cli');
let lab: string;
let teacherLab: string;
let hub: LocalHub;
const cacheDir = path.join(tmp.dir, 'cache');
const exported = path.join(tmp.dir, 'exported');

/** Run `thinker <args>` in-process; stdout is captured. */
async function thinker(args: string[]): Promise<{ stdout: string; error?: Error }> {
  const program = new Command('thinker').exitOverride();
  registerAsk(program);
  registerDistill(program);
  registerExportOnnx(program);
  registerEval(program);
  let stdout = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    stdout += String(s);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(args, { from: 'user' });
    return { stdout };
  } catch (e) {
    return { stdout, error: e as Error };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

beforeAll(async () => {
  const { bpe, files } = labTokenizer();
  const cfg = smallTextConfig(bpe.vocabSize, { maxPositionEmbeddings: 1024 });
  lab = path.join(tmp.dir, 'lab');
  await saveCheckpoint(lab, cfg, spreadWeights(cfg, 13), files);
  const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'cli tokenizer');
  const t = letterTeacher(tok);
  teacherLab = path.join(tmp.dir, 'teacher-lab');
  await saveCheckpoint(teacherLab, t.cfg, t.weights, files);
});
afterAll(async () => {
  await hub?.close();
  await tmp.cleanup();
});

describe('thinker export-onnx / ask / eval / distill with the transformers backend', () => {
  it('export-onnx writes the folder, and refuses to overwrite it without --force', async () => {
    const r = await thinker(['export-onnx', lab, exported, '--json']);
    expect(r.error).toBeUndefined();
    const report = JSON.parse(r.stdout);
    expect(report.files).toContain('onnx/model.onnx');
    expect((await stat(path.join(exported, 'onnx/model.onnx'))).size).toBe(report.onnxBytes);
    const again = await thinker(['export-onnx', lab, exported]);
    expect(again.error?.message).toMatch(/already holds a model \(config\.json\); pass --force/);
    expect((await thinker(['export-onnx', lab, exported, '--force'])).error).toBeUndefined();
    expect((await thinker(['export-onnx', path.join(tmp.dir, 'none'), path.join(tmp.dir, 'x')])).error?.message).toMatch(/model folder not found/);
  });

  it('ask answers the same through transformers (folder, mirror, offline cache) as through the engine', async () => {
    const q = ['Is the spleen enlarged?', '--option', 'A=Yes', '--option', 'B=No', '--recipe-prompt', '--max-new-tokens', '10', '--json', '--quiet'];
    const viaLab = await thinker(['ask', ...q, '--model', lab]);
    expect(viaLab.error).toBeUndefined();
    const want = JSON.parse(viaLab.stdout);
    expect(want.tokens).toBeGreaterThan(0);
    const viaFolder = JSON.parse((await thinker(['ask', ...q, '--backend', 'transformers', '--model', exported])).stdout);
    expect(viaFolder).toMatchObject({ text: want.text, format: false });

    hub = await startHub({ 'lab/cli': exported });
    const viaHub = await thinker(['ask', ...q, '--backend', 'transformers', '--model', 'lab/cli', '--endpoint', hub.url, '--cache-dir', cacheDir]);
    expect(viaHub.error).toBeUndefined();
    expect(JSON.parse(viaHub.stdout).text).toBe(want.text);
    await hub.close();
    const offline = await thinker(['ask', ...q, '--backend', 'transformers', '--model', 'lab/cli', '--offline', '--cache-dir', cacheDir]);
    expect(JSON.parse(offline.stdout).text).toBe(want.text);

    expect((await thinker(['ask', 'Q', '--model', lab, '--backend', 'onnx'])).error?.message).toMatch(/--backend: must be lab or transformers/);
    expect((await thinker(['ask', 'Q', '--model', lab, '--recipe-prompt'])).error?.message).toMatch(/give the options with --option/);
    expect((await thinker(['ask', 'Q', '--model', 'lab/never', '--backend', 'transformers', '--offline', '--cache-dir', cacheDir])).error?.message).toMatch(
      /lab\/never: config\.json is not in the cache and downloads are off/,
    );
  });

  it.skipIf(!HAS_DATA)('eval --backend transformers gives the records of eval --backend lab on real VQA-RAD items', async () => {
    const common = [
      '--benchmarks',
      'vqa-rad',
      '--data-dir',
      DATA_DIR,
      '--limit',
      '3',
      '--max-new-tokens',
      '4',
      '--batch',
      '1',
      '--paper-rows',
      'none',
      '--json',
      '--quiet',
    ];
    const a = await thinker(['eval', '--model', lab, ...common, '--out', path.join(tmp.dir, 'eval-lab')]);
    expect(a.error).toBeUndefined();
    const b = await thinker(['eval', '--backend', 'transformers', '--model', exported, ...common, '--out', path.join(tmp.dir, 'eval-tjs')]);
    expect(b.error).toBeUndefined();
    expect(JSON.parse(b.stdout).device).toMatch(/^transformers\.js on onnxruntime-node \(cpu\)/);
    const rows = async (d: string) =>
      (await readFile(path.join(tmp.dir, d, 'records.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .map((r) => ({ response: r.response, correct: r.correct, prompt_tokens: r.prompt_tokens, response_tokens: r.response_tokens }));
    const labRows = await rows('eval-lab');
    expect(labRows).toHaveLength(3);
    expect(await rows('eval-tjs')).toEqual(labRows);
    expect((await thinker(['eval', '--model', lab, ...common, '--endpoint', 'http://x'])).error?.message).toMatch(/are for --backend transformers/);
  });

  it.skipIf(!HAS_DATA)('distill writes the questions that got a correct trace as recipe JSONL, readable back with their images', async () => {
    const teacher = path.join(tmp.dir, 'teacher');
    expect((await thinker(['export-onnx', teacherLab, teacher])).error).toBeUndefined();
    const out = path.join(tmp.dir, 'distilled', 'items.jsonl');
    const r = await thinker([
      'distill',
      '--model',
      teacher,
      '--dataset',
      'vqa-rad',
      '--data-dir',
      DATA_DIR,
      '--limit',
      '9',
      '--n',
      '2',
      '--max-new-tokens',
      '12',
      '--out',
      out,
      '--records',
      path.join(tmp.dir, 'distilled', 'records.jsonl'),
      '--json',
      '--quiet',
    ]);
    expect(r.error).toBeUndefined();
    const summary = JSON.parse(r.stdout);
    const records = (await readFile(path.join(tmp.dir, 'distilled', 'records.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toHaveLength(9);
    const goldA = records.filter((x) => x.answer_label === 'A');
    expect(summary).toMatchObject({ questions: 9, with_trace: goldA.length, samples: 18 });
    expect(goldA.length).toBeGreaterThan(0);
    expect(goldA.length).toBeLessThan(9);
    const back = await loadRecipeJsonl(nodeDirSource(path.dirname(out)), 'items.jsonl', { images: nodeDirSource(summary.image_root) });
    expect(back.report.dropped).toEqual([]);
    expect(back.items.map((x) => x.hash)).toEqual(goldA.map((x) => x.hash));
    for (const it of back.items) {
      expect(it.reasoning).toMatch(/^[xy]$/);
      expect(it.images.length).toBeGreaterThan(0);
      expect((await it.images[0].load()).length).toBeGreaterThan(100);
      expect(computeReward(`<think>${it.reasoning}</think><answer>${it.answer_label}</answer>`, it.options, it.answer_label, it.answer)).toBe(1);
    }
    // The same teacher through the engine keeps the same questions.
    const viaLab = await thinker([
      'distill',
      '--backend',
      'lab',
      '--model',
      teacherLab,
      '--dataset',
      'vqa-rad',
      '--data-dir',
      DATA_DIR,
      '--limit',
      '9',
      '--n',
      '2',
      '--max-new-tokens',
      '12',
      '--out',
      path.join(tmp.dir, 'distilled-lab.jsonl'),
      '--json',
      '--quiet',
    ]);
    expect(viaLab.error).toBeUndefined();
    expect(JSON.parse(viaLab.stdout).with_trace).toBe(goldA.length);
  });
});
