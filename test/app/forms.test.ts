import { describe, expect, it } from 'vitest';
import type { DatasetInfo } from '../../src/lab/api';
import { GRPO_PRESETS } from '../../src/recipe/grpo-config';
import { SFT_PRESETS } from '../../src/recipe/sft-config';
import { splitAnswer } from '../../src/app/lib/answer';
import { storedChoices, synthChoices } from '../../src/app/lib/benchmarks';
import { paperComparison } from '../../src/eval/report';
import { freeName, nameProblem, parseColumns } from '../../src/app/lib/names';
import { pageFromHash } from '../../src/app/lib/route';
import {
  checkRunConfig,
  presetConfig,
  presetDataset,
  pruneTemplates,
  scratchModelEstimate,
  startModelEstimate,
  storedDatasetOf,
  withStoredDataset,
  withSynthSettings,
} from '../../src/app/lib/run-config';
import { applyOverrides } from '../../src/recipe/sft-config';
import { scratchModelConfig } from '../../src/recipe/sft-run';
import { LAB_SPECIAL_TOKENS, trainByteLevelBpe } from '../../src/io/bpe-trainer';
import { tokenizerFromJson } from '../../src/io/tokenizer';
import { missingWebGpu } from '../../src/app/lib/webgpu';
import { parseOptions } from '../../src/app/stores/ask';
import { countParams, PRESETS } from '../../src/model/config';
import { memoryEstimate } from '../../src/model/memory';
import { PAPER_ROWS } from '../../src/eval/paper';

const dataset = (name: string, source: string, splits: string[]): DatasetInfo => ({
  name,
  source,
  splits: splits.map((s) => ({ name: s, items: 10, withImages: 10 })),
  dropped: {},
  importedAt: '2026-01-01T00:00:00Z',
  bytes: 1,
});

describe('names', () => {
  it('are checked like the engine checks them', () => {
    expect(nameProblem('')).toMatch(/name/);
    expect(nameProblem('sft-1')).toBeNull();
    expect(nameProblem('a/b')).toMatch(/letters/);
    expect(nameProblem('.hidden')).toMatch(/letters/);
    expect(nameProblem('x', ['x'])).toMatch(/taken/);
    expect(freeName('sft', ['sft-1', 'sft-2'])).toBe('sft-3');
  });

  it('column mappings parse from key = column lines', () => {
    expect(parseColumns('question = Q\n# note\n\noptionColumns = A, B\n')).toEqual({ columns: { question: 'Q', optionColumns: 'A, B' } });
    expect(parseColumns('question Q')).toEqual({ error: 'line 1: expected "key = column", got "question Q"' });
    expect(parseColumns('x =')).toHaveProperty('error');
  });
});

describe('routes and WebGPU', () => {
  it('map hashes to pages', () => {
    expect(pageFromHash('')).toBe('data');
    expect(pageFromHash('#/train')).toBe('train');
    expect(pageFromHash('#rollouts')).toBe('rollouts');
    expect(pageFromHash('#/Evaluate?x=1')).toBe('evaluate');
    expect(pageFromHash('#/nope')).toBe('data');
  });

  it('say what is missing without navigator.gpu', () => {
    expect(missingWebGpu({})).toMatch(/navigator\.gpu is missing/);
    expect(missingWebGpu({ gpu: undefined })).toMatch(/navigator\.gpu/);
    expect(missingWebGpu(undefined)).toMatch(/navigator/);
    expect(missingWebGpu({ gpu: {} })).toBeNull();
  });
});

describe('run configs', () => {
  it('every preset, as the browser starts it, passes the config check', () => {
    for (const p of Object.keys(SFT_PRESETS)) {
      const c = presetConfig('sft', p);
      // A LoRA preset adapts the start model the picker above the form sets; without one it says so.
      if (c.model.lora.rank > 0) {
        expect(checkRunConfig('sft', c), p).toMatchObject({ ok: false, error: expect.stringMatching(/set model\.init/) });
        c.model.init = 'models/smolvlm';
      }
      expect(checkRunConfig('sft', c), p).toEqual({ ok: true });
    }
    for (const p of Object.keys(GRPO_PRESETS)) expect(checkRunConfig('grpo', presetConfig('grpo', p)), p).toEqual({ ok: true });
    expect(presetConfig('grpo', 'paper').data.source).toBe('synth');
  });

  it('report the first bad setting', () => {
    const c = presetConfig('grpo', 'synth-micro');
    const r = checkRunConfig('grpo', { ...c, clipC: 0.5 });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(/clipC/);
    expect(checkRunConfig('sft', { ...presetConfig('sft', 'synth-micro'), lr: -1 })).toMatchObject({ ok: false });
  });

  it('the vqa-closed presets take an imported VQA-RAD or SLAKE set with a train split, and are valid on it', () => {
    const sets = [dataset('notes', 'jsonl', ['train']), dataset('rad-test', 'vqa-rad', ['test']), dataset('my-slake', 'slake', ['train', 'test'])];
    expect(presetDataset('sft', 'vqa-closed', sets)).toMatchObject({ dataset: { name: 'my-slake' }, split: 'train' });
    expect(presetDataset('sft', 'vqa-closed', [...sets, dataset('vqa-rad', 'vqa-rad', ['train', 'test'])])?.dataset.name).toBe('vqa-rad');
    expect(presetDataset('sft', 'vqa-closed', sets.slice(0, 2))).toBeNull();
    expect(presetDataset('sft', 'synth-micro', sets)).toBeNull();
    const p = presetDataset('sft', 'vqa-closed', sets)!;
    const sft = withStoredDataset(presetConfig('sft', 'vqa-closed'), p.dataset, p.split);
    expect(sft.data.file).toMatchObject({ path: 'datasets/my-slake/train.jsonl', evalPath: 'datasets/my-slake/test.jsonl' });
    expect(checkRunConfig('sft', sft)).toEqual({ ok: true });
    const grpo = withStoredDataset(presetConfig('grpo', 'vqa-closed'), presetDataset('grpo', 'vqa-closed', sets)!.dataset, 'train');
    expect(grpo.data.file.path).toBe('datasets/my-slake/train.jsonl');
    expect(checkRunConfig('grpo', { ...grpo, model: 'runs/sft-1/checkpoint-2' })).toEqual({ ok: true });
  });

  it('point GRPO at a stored dataset and back', () => {
    const c = presetConfig('grpo', 'synth-micro');
    const two = withStoredDataset(c, dataset('rad', 'vqa-rad', ['train', 'test']), 'train');
    expect(two.data.source).toBe('file');
    expect(two.data.file).toMatchObject({ path: 'datasets/rad/train.jsonl', evalPath: 'datasets/rad/test.jsonl' });
    expect(two.eval.items).toBe(c.eval.items);
    expect(storedDatasetOf(two)).toEqual({ name: 'rad', split: 'train' });
    expect(checkRunConfig('grpo', two)).toEqual({ ok: true });
    const one = withStoredDataset(c, dataset('cur', 'curated:x', ['train']), 'train');
    expect(one.data.file.evalPath).toBe('');
    expect(one.eval.items).toBe(0);
    expect(storedDatasetOf(c)).toBeNull();
    // SFT reads stored datasets the same way.
    const sft = withStoredDataset(presetConfig('sft', 'synth-micro'), dataset('rad', 'vqa-rad', ['train', 'validate']), 'train');
    expect(sft.data.file).toMatchObject({ path: 'datasets/rad/train.jsonl', evalPath: 'datasets/rad/validate.jsonl' });
    expect(checkRunConfig('sft', sft)).toEqual({ ok: true });
    expect(storedDatasetOf(sft)).toEqual({ name: 'rad', split: 'train' });
  });
});

describe('synth questions handed from the Data page', () => {
  const synth = {
    n: 16,
    kind: 'image' as const,
    level: 2 as const,
    seed: 9,
    split: 'test' as const,
    imageSize: 48,
    noisyFraction: 0.25,
    sloppyFraction: 0,
    templates: ['effusion_presence'],
  };

  it("set kind, level, count, seed, templates and scan size; the trace noise only for SFT; the split stays the run's", () => {
    const sft = withSynthSettings(presetConfig('sft', 'synth-micro'), synth, 'sft');
    expect(sft.data.source).toBe('synth');
    expect(sft.data.synth).toEqual({
      ...presetConfig('sft', 'synth-micro').data.synth,
      kind: 'image',
      level: 2,
      n: 16,
      seed: 9,
      options: { templates: ['effusion_presence'], imageSize: 48, noisyFraction: 0.25 },
    });
    expect(checkRunConfig('sft', sft)).toEqual({ ok: true });
    const grpo = withSynthSettings({ ...presetConfig('grpo', 'synth-micro'), model: 'runs/a/checkpoint-1' }, synth, 'grpo');
    expect(grpo.data.synth.options).toEqual({ templates: ['effusion_presence'], imageSize: 48 });
    expect(checkRunConfig('grpo', grpo)).toEqual({ ok: true });
    // From a stored dataset back to synth questions.
    const stored = withStoredDataset(presetConfig('sft', 'synth-micro'), dataset('rad', 'vqa-rad', ['train']), 'train');
    expect(withSynthSettings(stored, synth, 'sft').data.source).toBe('synth');
  });

  it('drop templates of another kind when the kind changes, so the generator never refuses the form', () => {
    const c = withSynthSettings(presetConfig('sft', 'synth-micro'), synth, 'sft');
    const text = pruneTemplates({ ...c, data: { ...c.data, synth: { ...c.data.synth, kind: 'text' } } });
    expect(text.data.synth.options.templates).toBeUndefined();
    expect(checkRunConfig('sft', text)).toEqual({ ok: true });
    const mixed = pruneTemplates({
      ...c,
      data: { ...c.data, synth: { ...c.data.synth, kind: 'mixed', options: { templates: ['effusion_presence', 'dose_weight'] } } },
    });
    expect(mixed.data.synth.options.templates).toEqual(['effusion_presence', 'dose_weight']);
    expect(pruneTemplates(c)).toBe(c);
  });
});

describe('the from-scratch model estimate', () => {
  it('counts the parameters of the model the SFT run builds, shape overrides and vision encoder included', () => {
    const bpe = trainByteLevelBpe(['Case 1. Is there a pleural effusion? <think> the fluid </think> <answer> A </answer>'.repeat(20)], {
      vocabSize: 300,
      specialTokens: [...LAB_SPECIAL_TOKENS],
      eosToken: '<|im_end|>',
    });
    const tok = tokenizerFromJson(bpe.tokenizerJson, bpe.tokenizerConfig, 'test');
    for (const sets of [
      [],
      ['model.hiddenSize=32', 'model.numLayers=1', 'model.numHeads=2', 'model.numKvHeads=1', 'model.intermediateSize=64', 'model.context=160'],
    ]) {
      for (const [kind, withImages] of [
        ['text', false],
        ['image', true],
      ] as const) {
        const cfg = applyOverrides(presetConfig('sft', 'synth-micro'), [...sets, `model.vocabSize=${tok.vocabSize}`, `data.synth.kind="${kind}"`]);
        const est = scratchModelEstimate(cfg)!;
        const built = scratchModelConfig(cfg, tok, withImages);
        expect(est.params, `${sets.join(' ')} ${kind}`).toBe(countParams(built));
        expect(est.vision).toBe(withImages);
        expect(est.custom).toBe(true);
        expect(est.trainBytesAtLeast).toBe(16 * est.params);
      }
    }
    expect(scratchModelEstimate(presetConfig('sft', 'synth-micro'))).toMatchObject({
      params: countParams({ text: PRESETS.micro.text }),
      custom: false,
      vision: false,
    });
  });
});

describe('benchmarks', () => {
  it('synth held-out sets use the test split', () => {
    const c = synthChoices(50);
    expect(c).toHaveLength(6);
    for (const b of c) expect(b.data).toMatchObject({ kind: 'synth', options: { split: 'test', n: 50 } });
  });

  it("stored test splits of the paper's sets are named by the paper's key", () => {
    const c = storedChoices([dataset('rad', 'vqa-rad', ['test', 'train']), dataset('rad2', 'vqa-rad', ['test']), dataset('mine', 'jsonl', ['train'])]);
    expect(c.map((x) => x.name)).toEqual(['vqa-rad', 'rad/train', 'rad2/test', 'mine/train']);
  });

  it('fill the paper columns that were evaluated and average only those', () => {
    const r = (name: string, accuracy: number) => ({ name, items: 10, correct: 0, accuracy, skipped: 0, unfinished: 0, without_images: 0 });
    const cmp = paperComparison([r('vqa-rad', 0.5), r('slake', 0.25), r('synth-text-L1', 0.9)]);
    expect(cmp.columns.map((c) => c.column)).toEqual(['PMC', 'MMMU', 'MedX-M', 'PathVQA', 'SLAKE', 'VQA-RAD']);
    expect(cmp.lab).toEqual([null, null, null, null, 25, 50]);
    expect(cmp.labMean).toBeCloseTo(37.5);
    expect(cmp.complete).toBe(false);
    // Each paper row is averaged over the same two columns as the lab's mean (what `thinker eval` prints).
    const q = PAPER_ROWS[1];
    expect(cmp.rows[1].avg_same_benchmarks).toBeCloseTo((q.scores['vqa-rad'] + q.scores.slake) / 2, 2);
    expect(cmp.rows[1].scores['synth-text-L1']).toBeNull();
    // The paper's own rows keep their printed average.
    const q3 = PAPER_ROWS[0];
    const all = paperComparison(cmp.columns.map((c) => r(c.key, (q3.scores as Record<string, number>)[c.key] / 100)));
    expect(all.complete).toBe(true);
    expect(all.labMean).toBeCloseTo(q3.avg, 1);
  });
});

describe('answers and options', () => {
  it('split a streamed answer at its tags, open or closed', () => {
    expect(splitAnswer('plain')).toMatchObject({ before: 'plain', think: null, answer: null });
    expect(splitAnswer('<think> looking')).toMatchObject({ before: '', think: ' looking', answer: null });
    expect(splitAnswer('<think>x</think>\n<answer> B')).toMatchObject({ think: 'x', between: '\n', answer: ' B', after: '' });
    expect(splitAnswer('<think>x</think><answer>B</answer>!')).toMatchObject({ think: 'x', answer: 'B', after: '!' });
  });

  it('parse options typed one per line', () => {
    expect(parseOptions('')).toBeUndefined();
    expect(parseOptions('A. Yes\nB) No')).toEqual({ A: 'Yes', B: 'No' });
    expect(parseOptions('Left\nRight\nBoth')).toEqual({ A: 'Left', B: 'Right', C: 'Both' });
    expect(parseOptions('B. second\nfirst')).toEqual({ A: 'first', B: 'second' });
  });
});

describe('the Train page memory line for a start model', () => {
  it("follows the run's LoRA, f16 base and checkpointing settings, as the run's own fit check counts them", () => {
    const model = PRESETS.small;
    const sft = presetConfig('sft', 'synth-micro');
    const full = startModelEstimate(model, 'sft', sft);
    expect(full.lora).toBeNull();
    expect(full.trainBytes).toBe(memoryEstimate(model).trainBytes);
    const lora = { ...sft, model: { ...sft.model, init: 'models/x', lora: { rank: 8, alpha: 16, targets: 'all', base: 'f16' as const } } };
    const l = startModelEstimate(model, 'sft', lora);
    expect([l.lora?.rank, l.f16, l.checkpoint]).toEqual([8, true, false]);
    expect(l.trainBytes).toBe(memoryEstimate(model, l.lora, { f16: true }).trainBytes);
    expect(l.trainBytes).toBeLessThan(full.trainBytes);
    const ck = startModelEstimate(model, 'sft', { ...lora, activationCheckpointing: true });
    expect(ck.trainBytes).toBeLessThan(l.trainBytes);
    const grpo = presetConfig('grpo', 'smolvlm-lora-grpo');
    expect(startModelEstimate(model, 'grpo', grpo)).toMatchObject({ f16: true, checkpoint: true, lora: { rank: 16 } });
  });
});
