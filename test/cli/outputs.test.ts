// Nothing a person made is lost to an output flag, and no command ends "successfully" with nothing:
// sft/grpo/train/curate/distill refuse an --out that already holds something (before any work)
// unless --force (or --resume into the run's own folder), --force replaces an old run without
// leaving its checkpoints beside the new one, and a blank answer or an empty result is an error
// instead of blank lines or an empty file.
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Gpu } from '../../src/engine/gpu';
import { InputError } from '../../src/engine/errors';
import type { QAItem } from '../../src/task/schema';
import { paramSpecs } from '../../src/model/config';
import type { WeightMap } from '../../src/model/model';
import { tokenizerFromJson, type TextTokenizer } from '../../src/io/tokenizer';
import { saveCheckpoint } from '../../src/node/checkpoint';
import { exportOnnxFolder } from '../../src/io/onnx-export';
import { nodeDirSink, nodeDirSource, nodeWorkspace } from '../../src/io/workspace';
import { CHAT } from '../../src/io/chat';
import { MetricsLog, readRunInfo } from '../../src/recipe/run-io';
import { runSftCommand, type SftCliOptions, type SynthGenerator } from '../../src/cli/commands/sft';
import { runGrpoCommand } from '../../src/cli/commands/grpo';
import { registerTrain } from '../../src/cli/commands/train';
import { registerCurate } from '../../src/cli/commands/curate';
import { registerDistill } from '../../src/cli/commands/distill';
import { registerAsk } from '../../src/cli/commands/ask';
import { labTokenizer, smallTextConfig, tempDir } from '../pretrained/fixtures';
import { rng, testGpu } from '../helpers/gpu';
import { MICRO_MODEL } from '../recipe/compare-items';

const tmp = await tempDir('outputs');
afterAll(() => tmp.cleanup());
const at = (...p: string[]) => path.join(tmp.dir, ...p);

/** A device that fails the test the moment anything uses it. */
const noGpu = new Proxy(
  {},
  {
    get: (_t, k) => {
      throw new Error(`the GPU was touched (${String(k)}) before the input was checked`);
    },
  },
) as Gpu;

/** Every file under `dir` with its bytes, to show nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}

/** A run folder as an earlier run left it, plus a note of the person's own. */
function oldRun(dir: string) {
  mkdirSync(path.join(dir, 'checkpoint-7'), { recursive: true });
  writeFileSync(
    path.join(dir, 'run.json'),
    JSON.stringify({ name: 'old', kind: 'sft', status: 'completed', step: 7, totalSteps: 7, checkpoints: [7], config: {} }),
  );
  writeFileSync(path.join(dir, 'metrics.jsonl'), `${JSON.stringify({ type: 'step', step: 7, loss: 0.123 })}\n`);
  writeFileSync(path.join(dir, 'checkpoint-7', 'config.json'), '{}');
  writeFileSync(path.join(dir, 'checkpoint-7', '.complete'), '{}');
  writeFileSync(path.join(dir, 'notes.txt'), 'my notes');
  return snapshot(dir);
}

async function refused(p: Promise<unknown>, ...patterns: RegExp[]): Promise<InputError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  for (const re of patterns) expect((err as Error).message).toMatch(re);
  return err as InputError;
}

/** `thinker <args>` in-process; stdout and stderr captured. */
async function thinker(args: string[]): Promise<{ stdout: string; stderr: string; error?: Error }> {
  const program = new Command('thinker').exitOverride();
  registerTrain(program);
  registerCurate(program);
  registerDistill(program);
  registerAsk(program);
  let stdout = '',
    stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    stdout += String(s);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    stderr += String(s);
    return true;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { stdout, stderr };
  } catch (e) {
    return { stdout, stderr, error: e as Error };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const compare = (n: number, seed: number, split: string): QAItem[] => {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const a = 1 + r.int(9),
      b = 1 + r.int(9);
    const label = a > b ? 'A' : 'B';
    return {
      images: [],
      question: `${a} > ${b}?`,
      options: { A: 'yes', B: 'no' },
      answer_label: label,
      answer: label === 'A' ? 'yes' : 'no',
      reasoning: `${a} ${a > b ? '>' : '<='} ${b}`,
      dataset_name: `compare-${split}`,
      dataset_index: i,
      hash: `${split}-${seed}-${i}`,
    };
  });
};
const handMade: SynthGenerator = (o) => compare(o.n, o.seed + (o.split === 'test' ? 1000 : 0), o.split);
const MICRO = [...MICRO_MODEL, 'batchSize=2', 'data.synth.n=8', 'eval.items=0', 'checkpoint.every=0'];
const sft = (o: SftCliOptions, gpu: Gpu = noGpu) =>
  runSftCommand({ config: 'synth-micro', quiet: true, ...o }, { gpu, generateSynth: handMade, handleSignals: false, log: () => undefined });

/**
 * A model that answers `chain` whatever it is asked: every block is zero, so the residual stream
 * is the token's embedding; every token sits on axis 0 except the chain's, each on its own axis,
 * and lm_head puts logit 20 on the next chain token (from axis 0: the first). The last one repeats
 * unless it ends the turn. ['\n'] answers only newlines; [CHAT.end] ends at once.
 */
async function chainModel(dir: string, chain: string[]): Promise<string> {
  const { bpe, files } = labTokenizer();
  const tok: TextTokenizer = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'chain');
  const ids = chain.map((t) => {
    const x = t === CHAT.end ? [tok.tokenToId(CHAT.end)!] : tok.encode(t, { addSpecialTokens: false });
    if (x.length !== 1) throw new Error(`"${t}" is not one token`);
    return x[0];
  });
  const d = 16;
  const cfg = smallTextConfig(tok.vocabSize, {
    hiddenSize: d,
    intermediateSize: 16,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 8,
    tieWordEmbeddings: false,
  });
  const weights: WeightMap = new Map();
  for (const p of paramSpecs(cfg)) {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    if (p.name.endsWith('norm.weight')) data.fill(1);
    weights.set(p.name, { shape: [...p.shape], data });
  }
  const embed = weights.get('model.embed_tokens.weight')!.data;
  const head = weights.get('lm_head.weight')!.data;
  const axis = new Map(ids.map((t, i) => [t, i + 1]));
  for (let t = 0; t < cfg.text.vocabSize; t++) embed[t * d + (axis.get(t) ?? 0)] = 1;
  head[ids[0] * d] = 5;
  ids.forEach((t, i) => {
    head[(ids[i + 1] ?? t) * d + i + 1] = 5;
  });
  await saveCheckpoint(dir, cfg, weights, files);
  return dir;
}

describe('run folders (sft, grpo)', () => {
  it('refuse an --out that holds a run, or is a file, before any GPU work, changing nothing', async () => {
    const out = at('old-run');
    const before = oldRun(out);
    const e = await refused(sft({ out }), /already holds a run \(run\.json, metrics\.jsonl, checkpoint-7\)/, /--resume/, /--force/);
    expect(e.where).toBe(out);
    expect(snapshot(out)).toEqual(before);
    writeFileSync(at('a-file'), 'x');
    await refused(sft({ out: at('a-file') }), /a-file: is a file, not a run folder/);
    expect(readFileSync(at('a-file'), 'utf8')).toBe('x');
    const grpoArgs = { config: 'synth-micro', model: at('no-model'), quiet: true };
    await refused(runGrpoCommand({ ...grpoArgs, out }, { gpu: noGpu, handleSignals: false }), /already holds a run/, /--force/);
    await refused(runGrpoCommand({ ...grpoArgs, out: at('a-file') }, { gpu: noGpu, handleSignals: false }), /is a file/);
    expect(snapshot(out)).toEqual(before);
  });

  it('--force does not clear a folder the run reads from', async () => {
    const out = at('reads-inside');
    oldRun(out);
    const before = snapshot(out);
    await refused(sft({ out, force: true, set: [`model.init=${path.join(out, 'checkpoint-7')}`] }), /model\.init: .*checkpoint-7 is inside --out/);
    await refused(
      runGrpoCommand({ config: 'synth-micro', model: path.join(out, 'checkpoint-7'), out, force: true }, { gpu: noGpu, handleSignals: false }),
      /^model: .*checkpoint-7 is inside --out/,
    );
    expect(snapshot(out)).toEqual(before);
  });

  it('--force replaces the old run: its checkpoints, metrics and record go, files of the person stay', async () => {
    const out = at('forced');
    oldRun(out);
    // Bad input is still found before the old run is cleared.
    await refused(sft({ out, force: true, set: [...MICRO, 'lr=2'] }), /lr must be <= 1/);
    expect(existsSync(path.join(out, 'checkpoint-7'))).toBe(true);
    const s = await sft({ out, force: true, steps: '2', set: MICRO }, await testGpu());
    expect(s).toMatchObject({ step: 2, stopped: 'completed' });
    expect(readdirSync(out).sort()).toEqual(['checkpoint-2', 'metrics.jsonl', 'notes.txt', 'run.json', 'run_config.json', 'summary.json']);
    expect(await readRunInfo(nodeWorkspace(out))).toMatchObject({ kind: 'sft', status: 'completed', step: 2, checkpoints: [2] });
    expect((await MetricsLog.read(path.join(out, 'metrics.jsonl'))).map((r) => r.step)).toEqual([1, 2]);
    expect(readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('my notes');
    // Resuming into the run's own folder needs no --force; into another run's folder it does.
    const other = at('other-run');
    const otherBefore = oldRun(other);
    await refused(sft({ resume: out, out: other, steps: '3' }), /already holds a run/);
    expect(snapshot(other)).toEqual(otherBefore);
  }, 300_000);
});

describe('train, curate, distill outputs', () => {
  let model: string;
  beforeAll(async () => {
    model = await chainModel(at('blank'), ['\n']);
  });

  it('train refuses an existing model folder (unless --force), a folder of other files, a file, an existing metrics file', async () => {
    writeFileSync(at('corpus.txt'), 'the lung shows a nodule. '.repeat(40));
    const base = ['train', '--data', at('corpus.txt'), '--steps', '1', '--batch', '1', '--seq', '8', '--quiet'];
    const m = at('trained');
    mkdirSync(m);
    writeFileSync(path.join(m, 'config.json'), '{"mine": true}');
    let r = await thinker([...base, '--out', m]);
    expect(r.error?.message).toMatch(/trained: already holds a model \(config\.json\); pass --force to replace it/);
    mkdirSync(at('photos'));
    writeFileSync(at('photos', 'cat.jpg'), 'jpg');
    for (const force of [[], ['--force']]) {
      r = await thinker([...base, '--out', at('photos'), ...force]);
      expect(r.error?.message).toMatch(/photos: holds files that are not a model \(cat\.jpg\); choose a new or empty folder/);
    }
    r = await thinker([...base, '--out', at('corpus.txt')]);
    expect(r.error?.message).toMatch(/corpus\.txt: is a file, not a model folder/);
    writeFileSync(at('m.jsonl'), '{"step":1}\n');
    r = await thinker([...base, '--metrics', at('m.jsonl')]);
    expect(r.error?.message).toMatch(/m\.jsonl: already exists; pass --force to replace it/);
    expect(readFileSync(path.join(m, 'config.json'), 'utf8')).toBe('{"mine": true}');
    expect(readFileSync(at('m.jsonl'), 'utf8')).toBe('{"step":1}\n');
    expect(readdirSync(at('photos'))).toEqual(['cat.jpg']);
  });

  const items = () => {
    const f = at('items.jsonl');
    writeFileSync(
      f,
      compare(3, 2, 'x')
        .map((it) => JSON.stringify({ ...it, options: JSON.stringify(it.options) }))
        .join('\n') + '\n',
    );
    return f;
  };

  it('curate and distill refuse existing outputs before loading anything', async () => {
    const f = items();
    writeFileSync(at('kept.jsonl'), 'old\n');
    writeFileSync(at('traces.summary.json'), '{}');
    let r = await thinker(['curate', '--model', at('nowhere'), '--items', f, '--out', at('kept.jsonl')]);
    expect(r.error).toBeInstanceOf(InputError);
    expect(r.error?.message).toMatch(/kept\.jsonl: already exists; pass --force to replace it/);
    r = await thinker(['curate', '--model', at('nowhere'), '--items', f, '--out', at('new.jsonl'), '--summary', at('traces.summary.json')]);
    expect(r.error?.message).toMatch(/traces\.summary\.json: already exists/);
    r = await thinker(['curate', '--model', at('nowhere'), '--items', f, '--out', tmp.dir]);
    expect(r.error?.message).toMatch(/is a folder, not a file/);
    r = await thinker(['distill', '--backend', 'lab', '--model', at('nowhere'), '--items', f, '--out', at('traces.jsonl')]);
    expect(r.error?.message).toMatch(/traces\.summary\.json: already exists/);
    expect(readFileSync(at('kept.jsonl'), 'utf8')).toBe('old\n');
    expect(readFileSync(at('traces.summary.json'), 'utf8')).toBe('{}');
  });

  it('an empty curation or distillation is an error that leaves no empty file', async () => {
    const f = items();
    const out = at('empty', 'kept.jsonl');
    let r = await thinker([
      'curate',
      '--model',
      model,
      '--items',
      f,
      '--k',
      '2',
      '--lo',
      '1',
      '--hi',
      '2',
      '--max-new-tokens',
      '4',
      '--out',
      out,
      '--export-verl',
      at('empty', 'kept.parquet'),
      '--quiet',
    ]);
    expect(r.error?.message).toMatch(
      /no item has a pass count in 1\.\.2 \(pass counts 0\.\.2: 3, 0, 0\): no items file or verl parquet written; the pass counts are in .*kept\.summary\.json/,
    );
    expect(readdirSync(at('empty'))).toEqual(['kept.summary.json']);
    expect(JSON.parse(readFileSync(at('empty', 'kept.summary.json'), 'utf8'))).toMatchObject({ items: 3, kept: 0, files: { items: null, verl: null } });
    r = await thinker([
      'distill',
      '--backend',
      'lab',
      '--model',
      model,
      '--items',
      f,
      '--n',
      '2',
      '--max-new-tokens',
      '4',
      '--out',
      at('empty', 'traces.jsonl'),
      '--records',
      at('empty', 'records.jsonl'),
      '--quiet',
    ]);
    expect(r.error?.message).toMatch(/none of the 3 questions got a correct trace \(6 samples\): no traces file written; see .*traces\.summary\.json/);
    expect(readdirSync(at('empty')).sort()).toEqual(['kept.summary.json', 'records.jsonl', 'traces.summary.json']);
    expect(readFileSync(at('empty', 'records.jsonl'), 'utf8').trim().split('\n')).toHaveLength(3);
    // A teacher that cannot be loaded leaves no records file behind.
    r = await thinker([
      'distill',
      '--backend',
      'lab',
      '--model',
      at('nowhere'),
      '--items',
      f,
      '--out',
      at('none', 'traces.jsonl'),
      '--records',
      at('none', 'records.jsonl'),
      '--quiet',
    ]);
    expect(r.error?.message).toMatch(/model folder not found/);
    expect(existsSync(at('none', 'records.jsonl'))).toBe(false);
  }, 120_000);
});

describe('ask never ends with blank lines', () => {
  it('a whitespace-only or empty answer is an error naming what came back; --json shows it as it is', async () => {
    const ws = await chainModel(at('ws-model'), ['\n']);
    let r = await thinker(['ask', 'Is the lung clear?', '--model', ws, '--max-new-tokens', '16']);
    expect(r.stdout).toBe('');
    expect(r.error?.message).toBe('the model produced no text: 16 tokens of whitespace, cut at --max-new-tokens 16');
    r = await thinker(['ask', 'Is the lung clear?', '--model', ws, '--max-new-tokens', '16', '--json']);
    expect(r.error).toBeUndefined();
    expect(JSON.parse(r.stdout)).toMatchObject({ text: '\n'.repeat(16), tokens: 16, finished: false });
    const ended = await chainModel(at('end-model'), [CHAT.end]);
    r = await thinker(['ask', 'Is the lung clear?', '--model', ended]);
    expect(r.stdout).toBe('');
    expect(r.error?.message).toBe('the model produced no text: it ended its answer at once');
  }, 120_000);

  it('a real answer is printed with its leading whitespace, and a summary line on stderr', async () => {
    const m = await chainModel(at('answer-model'), [' ', 'A', CHAT.end]);
    const r = await thinker(['ask', 'Is the lung clear?', '--model', m, '--max-new-tokens', '8']);
    expect(r.error).toBeUndefined();
    expect(r.stdout).toBe(' A\n');
    expect(r.stderr).toMatch(/^ask: 3 tokens, ended by the model$/m);
  }, 60_000);

  it('the transformers backend gets the same check', async () => {
    const ws = await chainModel(at('ws-model-onnx'), ['\n']);
    const exported = at('ws-onnx');
    await exportOnnxFolder(nodeDirSource(ws), nodeDirSink(exported));
    const r = await thinker(['ask', 'Is the lung clear?', '--backend', 'transformers', '--model', exported, '--max-new-tokens', '8', '--quiet']);
    expect(r.stdout.trim()).toBe('');
    expect(r.error?.message).toBe('the model produced no text: 8 tokens of whitespace, cut at --max-new-tokens 8');
  }, 180_000);
});
