// A handful of the fuzz suite's bad inputs through the real CLI process, as a person meets them:
// exit code 1, one line naming the file, key or line, no stack trace, and the good files around
// (a run folder, a model folder) unchanged.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { saveCheckpoint } from '../../src/node/checkpoint';
import { initWeights } from '../../src/model/model';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';
import { labTokenizer, smallTextConfig } from '../pretrained/fixtures';
import { tinyModel } from '../eval/run-helpers';

const root = path.resolve(__dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'thinker-fuzz-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function thinker(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(root, 'bin/thinker.mjs'), ...args], { cwd: dir, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** Every file under `d` with its text. */
function snapshot(d: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (x: string) => {
    for (const e of readdirSync(x, { withFileTypes: true })) {
      const p = path.join(x, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(d, p)] = readFileSync(p).toString('base64');
    }
  };
  walk(d);
  return out;
}

/** Exit 1 with a single "thinker: ..." line matching `msg` and no stack trace. */
function refusedCleanly(r: { code: number; stderr: string }, msg: RegExp) {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toMatch(msg);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('fuzz: through the CLI process', () => {
  const model = path.join(dir, 'model');
  const run = path.join(dir, 'run');
  beforeAll(async () => {
    const { bpe, files } = labTokenizer();
    const cfg = smallTextConfig(bpe.vocabSize);
    await saveCheckpoint(model, cfg, initWeights(cfg, 1), files);
    mkdirSync(path.join(run, 'checkpoint-2'), { recursive: true });
    writeFileSync(path.join(run, 'run.json'), '{"name":"run","kind":"sft","status":"completed"}');
    writeFileSync(path.join(run, 'checkpoint-2', '.complete'), '{}');
  });

  it('a bad config with --force over a good run: refused, the run untouched', async () => {
    const before = snapshot(run);
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify({ extends: 'synth-micro', eval: { every: -3 } }));
    refusedCleanly(await thinker(['sft', '--config', 'bad.json', '--out', run, '--force']), /^thinker: bad\.json: eval\.every must be >= 0, got -3\n$/);
    refusedCleanly(
      await thinker(['grpo', '--config', 'synth-micro', '--model', model, '--set', 'groupSize=1', '--out', run, '--force']),
      /groupSize must be at least 2: with one response per prompt every advantage/,
    );
    refusedCleanly(
      await thinker(['sft', '--config', 'synth-micro', '--set', '__proto__.polluted=1', '--out', run, '--force']),
      /"__proto__" is not a config key/,
    );
    expect(snapshot(run)).toEqual(before);
  }, 120_000);

  it('a model folder whose safetensors header length is one short, or holds a NaN: refused by name, the folder untouched', async () => {
    const bad = path.join(dir, 'short-header');
    cpSync(model, bad, { recursive: true });
    const f = path.join(bad, 'model.safetensors');
    const bytes = readFileSync(f);
    bytes.writeBigUInt64LE(bytes.readBigUInt64LE(0) - 1n, 0);
    writeFileSync(f, bytes);
    const before = snapshot(bad);
    refusedCleanly(
      await thinker(['generate', '--model', bad, '--prompt-ids', '1,2', '--max-new-tokens', '2', '--greedy']),
      /short-header\/model\.safetensors: the tensors cover \d+ bytes but the data is \d+ bytes/,
    );
    expect(snapshot(bad)).toEqual(before);
    const nan = path.join(dir, 'nan-weight');
    cpSync(model, nan, { recursive: true });
    const w = path.join(nan, 'model.safetensors');
    const t = readSafetensors(new Uint8Array(readFileSync(w)), w);
    t.get('model.norm.weight')!.data[3] = NaN;
    writeFileSync(w, writeSafetensors([...t].map(([name, v]) => ({ name, ...v }))));
    refusedCleanly(
      await thinker(['generate', '--model', nan, '--prompt-ids', '1,2', '--max-new-tokens', '2', '--greedy']),
      /nan-weight\/model\.safetensors: tensor model\.norm\.weight holds NaN \(element 3\)/,
    );
  }, 120_000);

  it('grader lines: every line answered in order, the bad ones named, exit 1', async () => {
    const good = JSON.stringify({ response: '<think>x</think><answer>A</answer>', options: { A: 'Yes', B: 'No' }, answer_label: 'A' });
    const r = await thinker(['grade'], [good, '{"response": 5}', '', good, '[1,2]', '{"response": "x", "options": {}, "answer_label": "A"}'].join('\n'));
    refusedCleanly(r, /thinker grade: stdin:2: "response" must be a string/);
    expect(r.stderr).toMatch(/stdin:5: expected a JSON object/);
    expect(r.stderr).toMatch(/stdin:6: "options" must be a non-empty object/);
    expect(r.stderr).toMatch(/thinker: stdin: 3 of 5 lines could not be graded/);
    const out = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out.map((o) => ('error' in o ? `bad ${o.line}` : o.correct))).toEqual([true, 'bad 2', true, 'bad 5', 'bad 6']);
  }, 60_000);

  it('a training file with a bad line, and an image that is not one: named with the line or file', async () => {
    writeFileSync(path.join(dir, 'notes.jsonl'), '{"text": "the lung"}\n{"text": 5}\n');
    refusedCleanly(await thinker(['train', '--data', 'notes.jsonl', '--steps', '1']), /^thinker: notes\.jsonl:2: each line needs a string "text" field\n$/);
    writeFileSync(path.join(dir, 'scan.png'), 'not a png at all');
    const vision = await tinyModel({ dir: path.join(dir, 'vision-model') });
    refusedCleanly(
      await thinker(['ask', 'Is it?', '--model', vision.dir, '--image', 'scan.png']),
      /^thinker: question\[0\] image scan\.png: is not a JPEG or PNG image\n$/,
    );
  }, 120_000);
});
