import { describe, expect, it } from 'vitest';
import type { DatasetInfo } from '../../workers/api';
import { GRPO_PRESETS } from '../../src/recipe/grpo-config';
import { SFT_PRESETS } from '../../src/recipe/sft-config';
import { splitAnswer } from '../../src/app/lib/answer';
import { paperComparison, storedChoices, synthChoices } from '../../src/app/lib/benchmarks';
import { freeName, nameProblem, parseColumns } from '../../src/app/lib/names';
import { pageFromHash } from '../../src/app/lib/route';
import { checkRunConfig, presetConfig, presetMemory, storedDatasetOf, withStoredDataset } from '../../src/app/lib/run-config';
import { missingWebGpu } from '../../src/app/lib/webgpu';
import { parseOptions } from '../../src/app/stores/ask';
import { countParams, PRESETS } from '../../src/model/config';
import { PAPER_ROWS } from '../../src/eval/paper';

const dataset = (name: string, source: string, splits: string[]): DatasetInfo => ({
  name, source, splits: splits.map((s) => ({ name: s, items: 10, withImages: 10 })), dropped: {}, importedAt: '2026-01-01T00:00:00Z', bytes: 1,
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
    for (const p of Object.keys(SFT_PRESETS)) expect(checkRunConfig('sft', presetConfig('sft', p)), p).toEqual({ ok: true });
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

  it("give a preset's parameter count and a lower bound of its training memory", () => {
    const m = presetMemory('micro')!;
    expect(m.params).toBe(countParams(PRESETS.micro));
    expect(m.trainBytesAtLeast).toBe(16 * m.params);
    expect(presetMemory('nope')).toBeNull();
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
    const r = (name: string, accuracy: number) => ({ name, items: 10, correct: 0, accuracy, skipped: 0, unfinished: 0 });
    const cmp = paperComparison([r('vqa-rad', 0.5), r('slake', 0.25), r('synth-text-L1', 0.9)]);
    expect(cmp.columns.map((c) => c.column)).toEqual(['PMC', 'MMMU', 'MedX-M', 'PathVQA', 'SLAKE', 'VQA-RAD']);
    expect(cmp.lab).toEqual([null, null, null, null, 25, 50]);
    expect(cmp.labMean).toBeCloseTo(37.5);
    expect(cmp.complete).toBe(false);
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
