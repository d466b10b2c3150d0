// The lab's model, evaluation and asking calls (src/lab/models.ts, evaluate.ts) in Node over a
// memory workspace with tiny models: scoreText against the float64 reference, a model that goes
// checkpoint -> saved -> exported -> imported scoring the same, imports that fail writing nothing,
// evaluation records re-graded with the paper's grader, and streamed answers equal to greedy decoding.

import { describe, expect, it, beforeAll } from 'vitest';
import type { FileSink } from '../../src/io/files';
import { MemoryWorkspace } from '../../src/io/workspace';
import { countParams, type ModelConfig } from '../../src/model/config';
import { initWeights, Model, type WeightMap } from '../../src/model/model';
import { generate } from '../../src/model/generate';
import { gradeAnswer } from '../../src/task/grader';
import { endOfTurnIds } from '../../src/task/encode';
import { promptText } from '../../src/task/prompt';
import { chatPrompt } from '../../src/io/chat';
import type { EvalRecord } from '../../src/eval/run';
import { createLab } from '../../src/lab';
import { modelsApi } from '../../src/lab/models';
import { writeModelFolder } from '../../src/io/hf-config';
import { memoryEstimate } from '../../src/model/memory';
import type { Progress } from '../../src/lab/api';
import { testGpu } from '../helpers/gpu';
import { pngFile } from '../data/helpers';
import { asRefWeights, randomWeights } from '../model/fixtures';
import { forwardLogits } from '../reference/llama-f64';
import { scriptWeights, tinyConfig, tinyTokenizer } from '../eval/run-helpers';

const { bpe, tok } = tinyTokenizer();
const tokFiles = { 'tokenizer.json': JSON.stringify(bpe.tokenizerJson), 'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig) };
const TEXT = 'Is there evidence of an aortic aneurysm? <think>x</think><answer>A</answer>';

/** log p(ids[t+1] | ids[..t]) from the float64 reference's logits. */
function referenceLogprobs(cfg: ModelConfig, w: WeightMap, ids: number[]): number[] {
  const V = cfg.text.vocabSize;
  const logits = forwardLogits(cfg, asRefWeights(w), [ids]);
  const out: number[] = [];
  for (let t = 0; t + 1 < ids.length; t++) {
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[t * V + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[t * V + v] - max);
    out.push(logits[t * V + ids[t + 1]] - max - Math.log(sum));
  }
  return out;
}

/** A sink that remembers the order files were written in. */
class RecordingSink extends MemoryWorkspace implements FileSink {
  readonly order: string[] = [];
  override async write(p: string, b: Uint8Array) {
    this.order.push(p);
    await super.write(p, b);
  }
}

describe('models: list, save, export, import, delete, score', () => {
  const ws = new MemoryWorkspace();
  const lab = createLab(ws, testGpu);
  const cfg = tinyConfig(tok);
  const weights = randomWeights(cfg, 21);
  const ckpt = 'runs/r1/checkpoint-3';
  let reference: number[];

  beforeAll(async () => {
    await writeModelFolder(ws, ckpt, cfg, weights, { ...tokFiles, 'trainer_state.json': '{"kind":"sft"}\n', 'optimizer.safetensors': new Uint8Array(1000) });
    await ws.write('runs/r1/run.json', new TextEncoder().encode(JSON.stringify({ name: 'r1', kind: 'grpo' })));
    // A torn checkpoint (no completion marker) is not a model.
    await ws.write('runs/r1/checkpoint-9/config.json', await ws.read(`${ckpt}/config.json`));
    reference = referenceLogprobs(cfg, weights, tok.encode(TEXT));
  });

  it('lists complete run checkpoints with their size and memory estimates', async () => {
    const list = await lab.listModels();
    expect(list.map((m) => m.path)).toEqual([ckpt]);
    const [m] = list;
    expect(m.run).toEqual({ name: 'r1', kind: 'grpo', step: 3 });
    expect(m.params).toBe(countParams(cfg));
    let bytes = 0;
    for (const f of await ws.list()) if (f.startsWith(`${ckpt}/`) && !f.endsWith('.complete')) bytes += (await ws.size(f))!;
    expect(m.bytes).toBe(bytes);
    expect(m.cfg).toEqual(cfg);
    expect(m.trainBytes).toBeGreaterThan(16 * m.params);
    expect(m.inferBytes).toBeGreaterThan(4 * m.params);
    expect(m.inferBytes).toBeLessThan(m.trainBytes);
    // Doubling the context doubles the KV cache and prefill part of the estimate, not the weights.
    const long = memoryEstimate({ ...cfg, text: { ...cfg.text, maxPositionEmbeddings: 2 * cfg.text.maxPositionEmbeddings } });
    expect(long.inferBytes - 4 * m.params).toBeCloseTo(2 * (m.inferBytes - 4 * m.params - 4 * cfg.text.vocabSize) + 4 * cfg.text.vocabSize, -1);
  });

  it('scoreText gives the float64 reference log-probs of every token after the first', async () => {
    const got = await lab.scoreText(ckpt, TEXT);
    expect(got).toHaveLength(tok.encode(TEXT).length - 1);
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - reference[i])).toBeLessThan(2e-4);
    await expect(lab.scoreText(ckpt, '')).rejects.toThrow(/the text is empty/);
    await expect(lab.scoreText('runs/r1/checkpoint-9', TEXT)).rejects.toThrow(/incomplete/);
    await expect(lab.scoreText('models/../x', TEXT)).rejects.toThrow(/is not a model path|not allowed/);
  });

  it('save -> export -> import keeps the scores bit for bit; the export has no marker and config.json comes last', async () => {
    const base = await lab.scoreText(ckpt, TEXT);
    const saved = await lab.saveModel(ckpt, 'keep');
    expect(saved.path).toBe('models/keep');
    expect(await ws.exists('models/keep/optimizer.safetensors')).toBe(false);
    expect(await lab.scoreText('models/keep', TEXT)).toEqual(base);

    const sink = new RecordingSink('picked');
    await modelsApi(lab.context).exportModelTo('models/keep', sink);
    expect(sink.order[sink.order.length - 1]).toBe('config.json');
    expect(sink.order).not.toContain('.complete');
    expect([...sink.order].sort()).toEqual([
      'config.json',
      'generation_config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
      'trainer_state.json',
      'vision.safetensors',
    ]);

    const back = await modelsApi(lab.context).importModelFrom('back', sink);
    expect(back).toMatchObject({ path: 'models/back', params: countParams(cfg) });
    expect(await lab.scoreText('models/back', TEXT)).toEqual(base);
    expect((await lab.listModels()).map((m) => m.path)).toEqual(['models/back', 'models/keep', ckpt]);
    await expect(lab.saveModel(ckpt, 'keep')).rejects.toThrow(/models\/keep: a model of this name exists/);
  });

  it('imports that do not load are InputErrors naming the problem, and write nothing', async () => {
    const full = new MemoryWorkspace('picked');
    await modelsApi(lab.context).exportModelTo('models/keep', full);
    const without = (drop: string) => new MemoryWorkspace('picked', Object.fromEntries([...full.files].filter(([p]) => p !== drop)));
    const before = await ws.list();
    await expect(modelsApi(lab.context).importModelFrom('bad', without('config.json'))).rejects.toThrow(/picked: no config\.json in this folder/);
    await expect(modelsApi(lab.context).importModelFrom('bad', without('tokenizer.json'))).rejects.toThrow(/picked: no tokenizer\.json/);
    const cfgJson = JSON.parse(new TextDecoder().decode(full.files.get('config.json')!));
    const wrong = new MemoryWorkspace('picked', Object.fromEntries(full.files));
    await wrong.write('config.json', new TextEncoder().encode(JSON.stringify({ ...cfgJson, intermediate_size: cfgJson.intermediate_size * 2 })));
    await expect(modelsApi(lab.context).importModelFrom('bad', wrong)).rejects.toThrow(
      /tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[64, 32\] but config\.json implies \[128, 32\]/,
    );
    await expect(modelsApi(lab.context).importModelFrom('a/b', full)).rejects.toThrow(/not allowed/);
    expect(await ws.list()).toEqual(before);
  });

  it('deleting a model removes its folder and its cached copy', async () => {
    await lab.scoreText('models/back', TEXT);
    await lab.deleteModel('models/back');
    expect((await ws.list()).some((f) => f.startsWith('models/back/'))).toBe(false);
    await expect(lab.scoreText('models/back', TEXT)).rejects.toThrow(/models\/back: no model here/);
    await expect(lab.deleteModel('models/back')).rejects.toThrow(/no model here/);
  });
});

describe('evaluation and asking', () => {
  const ws = new MemoryWorkspace();
  const lab = createLab(ws, testGpu);
  // The scripted model answers <think>x</think><answer>A</answer> greedily (see run-helpers); a longer
  // context than the helper's, so that synth prompts fit.
  const base = tinyConfig(tok);
  const cfg: ModelConfig = { ...base, text: { ...base.text, maxPositionEmbeddings: 1024 } };
  const scripted = initWeights(cfg, 3);
  scriptWeights(cfg, scripted, tok, 0.5);
  const noisy = randomWeights(cfg, 8);
  const textCfg: ModelConfig = { text: cfg.text };
  beforeAll(async () => {
    await writeModelFolder(ws, 'models/scripted', cfg, scripted, tokFiles);
    await writeModelFolder(ws, 'models/noisy', cfg, noisy, tokFiles);
    const textOnly = new Map([...noisy].filter(([k]) => !k.startsWith('vision.')));
    await writeModelFolder(ws, 'models/text', textCfg, textOnly, tokFiles);
  });

  it('evaluate: records graded as the paper grader grades their responses, progress ending at the total, the average of the benchmarks', async () => {
    const progress: Progress[] = [];
    const streamed: EvalRecord[] = [];
    const synth = (kind: 'image' | 'text', n: number) => ({ kind: 'synth' as const, options: { n, kind, level: 1 as const, seed: 4, split: 'test' as const } });
    const reply = await lab.evaluate(
      {
        model: 'models/scripted',
        benchmarks: [
          { name: 'scans', data: synth('image', 3) },
          { name: 'notes', data: synth('text', 4) },
        ],
        limit: 0,
        maxNewTokens: 8,
        batchSize: 4,
      },
      (p) => progress.push(p),
      (r) => streamed.push(r),
    );
    expect(reply.records).toHaveLength(7);
    expect(streamed).toEqual(reply.records);
    for (const r of reply.records) {
      expect(r.skipped).toBeUndefined();
      expect(r.response).toBe('<think>x</think><answer>A</answer>');
      const g = gradeAnswer(r.response, r.options, r.answer_label, r.answer);
      expect([r.correct, r.pred_letter, r.extracted]).toEqual([g.correct, g.predLetter, g.extracted]);
      expect(r.correct).toBe(r.answer_label === 'A');
    }
    expect(reply.benchmarks.map((b) => [b.name, b.items])).toEqual([
      ['scans', 3],
      ['notes', 4],
    ]);
    for (const b of reply.benchmarks) {
      const recs = reply.records.filter((r) => r.benchmark === b.name);
      expect(b.accuracy).toBeCloseTo(recs.filter((r) => r.correct).length / recs.length, 12);
    }
    expect(reply.average.accuracy).toBeCloseTo((reply.benchmarks[0].accuracy + reply.benchmarks[1].accuracy) / 2, 12);
    expect(reply.average.items).toBe(7);
    const last = progress[progress.length - 1];
    expect([last.done, last.total]).toEqual([7, 7]);
    expect(last.etaSeconds).toBe(0);

    await expect(lab.evaluate({ model: 'models/scripted', benchmarks: [], limit: 0, maxNewTokens: 8 })).rejects.toThrow(/no benchmarks/);
    await expect(
      lab.evaluate({ model: 'models/scripted', benchmarks: [{ name: 'x', data: { kind: 'dataset', name: 'none' } }], limit: 0, maxNewTokens: 8 }),
    ).rejects.toThrow(/datasets\/none: no such dataset/);
    await expect(lab.evaluate({ model: 'models/scripted', benchmarks: [{ name: 'x', data: synth('text', 2) }], limit: -1, maxNewTokens: 8 })).rejects.toThrow(
      /evaluate\.limit/,
    );
  });

  it('ask streams growing prefixes that end in the reply, which is greedy generate decoded', async () => {
    const req = {
      model: 'models/noisy',
      question: 'Is there a rib fracture?',
      options: { A: 'Yes', B: 'No' },
      recipePrompt: true,
      maxNewTokens: 24,
      temperature: 0,
    };
    const seen: string[] = [];
    const reply = await lab.ask(req, (t) => seen.push(t));
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i].length).toBeGreaterThan(seen[i - 1].length);
      expect(seen[i].startsWith(seen[i - 1])).toBe(true);
    }
    expect(seen[seen.length - 1]).toBe(reply.text);

    // Independently: the same prompt through generate on a model loaded here.
    const m = new Model(await testGpu(), cfg);
    m.loadWeights(noisy);
    const ids = tok.encode(chatPrompt(promptText({ question: req.question, options: req.options }), 0, 0), { addSpecialTokens: false });
    const g = await generate(m, [ids], { maxNewTokens: 24, greedy: true, eosIds: endOfTurnIds(tok) });
    m.release();
    const body = g.finished[0] ? g.ids[0].slice(0, -1) : g.ids[0];
    expect(reply.text).toBe(tok.decode(body, { skipSpecialTokens: false }));
    expect(reply.tokens).toBe(g.ids[0].length);
    expect(reply.format).toBe(false);
  });

  it('ask with options checks the format and reads the letter; an image goes to a vision model and is refused by a text-only one', async () => {
    const image = pngFile(20, 20, new Uint8Array(20 * 20 * 4).fill(128));
    const req = {
      model: 'models/scripted',
      question: 'Is there a rib fracture?',
      options: { A: 'Yes', B: 'No' },
      recipePrompt: true,
      maxNewTokens: 12,
      temperature: 0,
    };
    expect(await lab.ask({ ...req, image })).toEqual({
      text: '<think>x</think><answer>A</answer>',
      tokens: 7,
      format: true,
      letter: 'A',
      extracted: 'A',
      why: null,
    });
    const free = await lab.ask({ ...req, options: undefined, recipePrompt: false });
    expect(free.format).toBeUndefined();
    expect(free.letter).toBeUndefined();
    expect(free.why).toBeUndefined();
    await expect(lab.ask({ ...req, model: 'models/text', image })).rejects.toThrow(/models\/text: this model has no vision encoder/);
    await expect(lab.ask({ ...req, image: new Uint8Array([1, 2, 3]) })).rejects.toThrow(/is not a JPEG or PNG image/);
    await expect(lab.ask({ ...req, question: ' ' })).rejects.toThrow(/question is empty/);
    await expect(lab.ask({ ...req, options: { a: 'Yes' } })).rejects.toThrow(/not a capital letter/);
    await expect(lab.ask({ ...req, temperature: -1 })).rejects.toThrow(/ask\.temperature/);
    expect(await lab.busy()).toBeNull();
  });
});
