// The SFT config: presets, files that extend them, --set overrides, and every kind of bad value
// rejected with an InputError naming the key, before any data or GPU work. Also the run plan
// (steps, warmup, learning rates, data order) that a resumed run must recompute identically.
import { describe, it, expect } from 'vitest';
import { InputError } from '../../src/engine/errors';
import { SFT_DEFAULTS, SFT_PRESETS, applyOverrides, sftConfigFrom, warmupSteps } from '../../src/recipe/sft-config';
import { epochOrder, sftLr, sftPlan } from '../../src/recipe/sft';
import { fingerprint } from '../../src/recipe/held-out';

const fails = (f: () => unknown, ...patterns: RegExp[]) => {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected an InputError').toBeInstanceOf(InputError);
  for (const p of patterns) expect((err as Error).message).toMatch(p);
};

describe('SFT config', () => {
  it('presets carry the recipe defaults, with lr scaled for small models', () => {
    const c = sftConfigFrom('synth-micro');
    expect(c).toEqual(SFT_DEFAULTS);
    expect([c.warmupRatio, c.schedule, c.weightDecay, c.beta1, c.beta2]).toEqual([0.05, 'cosine', 1e-4, 0.9, 0.95]);
    expect(c.lr).toBe(1e-3);
    const paper = sftConfigFrom({ extends: 'paper', model: { init: '/models/qwen' }, data: { dataset: { name: 'medqa', dataDir: '/data' } } }, 'my.json');
    expect([paper.lr, paper.batchSize * paper.gradAccum, paper.epochs, paper.warmupRatio]).toEqual([1e-5, 16, 5, 0.05]);
    expect(paper.model.init).toBe('/models/qwen');
    // Presets on real datasets (paper, vqa-closed) need the user's data folder; the rest run as they are.
    const needData = ['paper', 'vqa-closed', 'smolvlm-lora-sft'];
    for (const name of Object.keys(SFT_PRESETS)) if (!needData.includes(name)) expect(() => sftConfigFrom(name)).not.toThrow();
    // The paper preset alone names no dataset: it says what is missing.
    fails(() => sftConfigFrom('paper'), /data\.dataset\.name/);
    // vqa-closed names its datasets and asks for the folder they are in.
    fails(() => sftConfigFrom('vqa-closed'), /vqa-closed/, /data\.dataset\.dataDir is empty/);
    expect(sftConfigFrom({ extends: 'vqa-closed', data: { dataset: { dataDir: '/data' } } }, 'my.json').data.dataset.name).toBe('vqa-rad,slake');
    // The SmolVLM preset adapts a downloaded SmolVLM: it asks for the data folder and the start model.
    fails(() => sftConfigFrom({ extends: 'smolvlm-lora-sft', data: { dataset: { dataDir: '/data' } } }, 'my.json'), /set model\.init/);
    const smol = sftConfigFrom({ extends: 'smolvlm-lora-sft', model: { init: '/models/smolvlm' }, data: { dataset: { dataDir: '/data' } } }, 'my.json');
    expect([smol.model.lora.rank, smol.model.imageSplitting, smol.data.answer]).toEqual([16, 'off', 'gold']);
  });

  it('a file overrides only what it names, nested objects merged key by key', () => {
    const c = sftConfigFrom({ extends: 'synth-tiny', lr: 2e-4, eval: { every: 7 }, data: { synth: { n: 99 } } }, 'run.json');
    const tiny = SFT_PRESETS['synth-tiny'].config;
    expect(c.lr).toBe(2e-4);
    expect(c.eval).toEqual({ ...tiny.eval, every: 7 });
    expect(c.data.synth).toEqual({ ...tiny.data.synth, n: 99 });
    expect(c.model.preset).toBe('tiny');
  });

  it('unknown keys and bad values are InputErrors naming the file and the key', () => {
    fails(() => sftConfigFrom({ lr: 1e-3, learningRate: 1 }, 'run.json'), /run\.json/, /unknown key "learningRate"/);
    fails(() => sftConfigFrom({ data: { synth: { count: 5 } } }, 'run.json'), /unknown key "data\.synth\.count"/);
    fails(() => sftConfigFrom({ lr: -1 }, 'run.json'), /lr must be >= 0/);
    fails(() => sftConfigFrom({ batchSize: 0 }), /batchSize must be >= 1/);
    fails(() => sftConfigFrom({ batchSize: 2.5 }), /batchSize must be an integer/);
    fails(() => sftConfigFrom({ beta2: 1 }), /beta2 must be <=/);
    fails(() => sftConfigFrom({ warmupRatio: 1 }), /warmupRatio/);
    fails(() => sftConfigFrom({ overflow: 'wrap' }), /overflow must be one of drop, truncate/);
    fails(() => sftConfigFrom({ model: { preset: 'huge' } }), /model\.preset must be one of/);
    fails(() => sftConfigFrom({ eval: 3 }), /eval must be an object/);
    fails(() => sftConfigFrom({ seed: '1' }), /seed must be a number/);
    fails(() => sftConfigFrom({ extends: 'nope' }), /"extends" must name a preset/);
    fails(() => sftConfigFrom([1, 2]), /must be a JSON object/);
    fails(() => sftConfigFrom('no-such-preset'), /neither a preset/);
    // Checks across keys.
    fails(() => sftConfigFrom({ data: { source: 'dataset', dataset: { name: 'medqa' } } }), /dataDir is empty/);
    fails(() => sftConfigFrom({ epochs: 0 }), /nothing to train/);
    fails(() => sftConfigFrom({ model: { hiddenSize: 50, numHeads: 4 } }), /not a multiple/);
    fails(() => sftConfigFrom({ data: { synth: { evalN: 0 } } }), /evalN is 0/);
  });

  it('--set overrides parse JSON values and are checked the same way', () => {
    const c = applyOverrides(SFT_DEFAULTS, [
      'eval.every=20',
      'data.synth.kind=image',
      'lr=0.002',
      'data.synth.options={"noisyFraction":0.2}',
      'eval.atStart=false',
    ]);
    expect(c.eval.every).toBe(20);
    expect(c.data.synth.kind).toBe('image');
    expect(c.lr).toBe(0.002);
    expect(c.data.synth.options).toEqual({ noisyFraction: 0.2 });
    expect(c.eval.atStart).toBe(false);
    expect(SFT_DEFAULTS.eval.every).toBe(50);
    fails(() => applyOverrides(SFT_DEFAULTS, ['lr=fast']), /--set lr=fast/, /lr must be a number/);
    fails(() => applyOverrides(SFT_DEFAULTS, ['nope=1']), /unknown key "nope"/);
    fails(() => applyOverrides(SFT_DEFAULTS, ['data.synth.n=0']), /data\.synth\.n must be >= 1/);
    fails(() => applyOverrides(SFT_DEFAULTS, ['lr']), /key\.path=value/);
    // Synth options are checked by the generator itself, still before anything is generated.
    fails(() => applyOverrides(SFT_DEFAULTS, ['data.synth.options={"noise":0.2}']), /data\.synth/, /noise/);
    fails(() => applyOverrides(SFT_DEFAULTS, ['data.synth.options={"noisyFraction":2}']), /noisyFraction/);
    expect(applyOverrides(SFT_DEFAULTS, ['data.synth.options.noisyKind=conclusion']).data.synth.options).toEqual({ noisyKind: 'conclusion' });
    fails(() => applyOverrides(SFT_DEFAULTS, ['data.synth.options.noisyKind=lies']), /noisyKind/, /misreading, conclusion/);
    fails(() => applyOverrides(SFT_DEFAULTS, ['data.synth.kind=audio']), /kind must be one of text, image, mixed/);
    // Options are an object of generator settings; a number would be spread into nothing and ignored.
    fails(() => applyOverrides(SFT_DEFAULTS, ['data.synth.options=5']), /data\.synth\.options must be an object/);
    fails(() => sftConfigFrom({ data: { synth: { options: [1] } } }, 'run.json'), /run\.json/, /data\.synth\.options must be an object/);
  });

  it('keys that reach Object.prototype are refused, in --set and in config files, and pollute nothing', () => {
    for (const set of [
      '__proto__.polluted=1',
      'constructor.prototype.x=1',
      'eval.__proto__.x=1',
      'eval.constructor=1',
      'toString=1',
      'data.synth.hasOwnProperty=1',
    ]) {
      fails(() => applyOverrides(SFT_DEFAULTS, [set]), new RegExp(`--set ${set.replace(/[.]/g, '\\.')}`), /unknown key|not a config key/);
    }
    for (const text of [
      '{"__proto__": {"polluted": 1}}',
      '{"constructor": {"prototype": {"x": 1}}}',
      '{"eval": {"__proto__": {"every": 3}}}',
      '{"valueOf": 1}',
    ]) {
      fails(() => sftConfigFrom(JSON.parse(text), 'run.json'), /run\.json/, /unknown key|not a config key/);
    }
    // Options pass through to the generator, which must refuse such keys as well.
    fails(() => applyOverrides(SFT_DEFAULTS, ['data.synth.options={"__proto__":{"noisyFraction":0.5}}']), /__proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(SFT_DEFAULTS.eval.every).toBe(50);
  });
});

describe('SFT plan', () => {
  it('counts steps, warmup and learning rates as transformers does', () => {
    const p = sftPlan(100, { batchSize: 8, gradAccum: 2, epochs: 3, maxSteps: 0, warmupRatio: 0.05 });
    expect(p).toEqual({ perStep: 16, stepsPerEpoch: 7, totalSteps: 21, warmup: 2 });
    expect(sftPlan(100, { batchSize: 8, gradAccum: 2, epochs: 3, maxSteps: 5, warmupRatio: 0.05 }).totalSteps).toBe(5);
    expect(warmupSteps({ warmupRatio: 0.05 }, 100)).toBe(5);
    const cfg = { lr: 1e-3, schedule: 'cosine' as const, minLrRatio: 0 };
    expect(sftLr(cfg, 0, 21, 2)).toBeCloseTo(5e-4, 12);
    expect(sftLr(cfg, 1, 21, 2)).toBeCloseTo(1e-3, 12);
    // Halfway through the decay: half the peak.
    expect(sftLr(cfg, 2 + 19 / 2, 21, 2)).toBeCloseTo(5e-4, 12);
    expect(sftLr(cfg, 20, 21, 2)).toBeLessThan(1e-5);
    expect(sftLr({ ...cfg, schedule: 'constant' }, 15, 21, 2)).toBe(1e-3);
  });

  it('data order: a seeded permutation per epoch, the same every time it is recomputed', () => {
    const a = epochOrder(50, 3, 0);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(epochOrder(50, 3, 0)).toEqual(a);
    expect(epochOrder(50, 3, 1)).not.toEqual(a);
    expect(epochOrder(50, 4, 0)).not.toEqual(a);
    expect(fingerprint(['ab', 'c'])).not.toBe(fingerprint(['a', 'bc']));
    expect(fingerprint(['x', 'y'])).toBe(fingerprint(['x', 'y']));
    expect(fingerprint(['x', 'y'])).not.toBe(fingerprint(['y', 'x']));
  });
});
