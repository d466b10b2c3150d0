// `thinker grpo` end to end on a micro model with the full recipe prompt: the run folder's files,
// resume reproducing an uninterrupted run exactly, and bad input refused before the GPU is touched.
import { describe, it, expect, beforeAll } from 'vitest';
import { readSafetensors } from '../../src/io/safetensors';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { trainByteLevelBpe, LAB_SPECIAL_TOKENS } from '../../src/io/bpe-trainer';
import { initWeights } from '../../src/model/model';
import { saveCheckpoint } from '../../src/node/checkpoint';
import { promptText, sftTarget } from '../../src/task/prompt';
import { chatPrompt } from '../../src/io/chat';
import { InputError } from '../../src/engine/errors';
import { runGrpoCommand, registerGrpo, type GrpoCliOptions, type GrpoSummary } from '../../src/cli/commands/grpo';
import { runSftCommand, type SftSummary } from '../../src/cli/commands/sft';
import { testGpu } from '../helpers/gpu';
import { grpoConfigFrom, applyGrpoOverrides, GRPO_PRESETS, GRPO_DEFAULTS, totalSteps, type GrpoConfig } from '../../src/recipe/grpo-config';
import type { ModelConfig } from '../../src/model/config';
import type { GrpoStepMetrics, GroupRecord } from '../../src/recipe/grpo';

const items = ['left', 'right', 'up', 'down'].map((k, i) => ({
  question: `Which way does the sign point? It points ${k}.`,
  options: { A: 'left or up', B: 'right or down' },
  answer_label: i % 2 === 0 ? 'A' : 'B',
  answer: i % 2 === 0 ? 'left or up' : 'right or down',
  reasoning: `it says ${k}`,
  dataset_name: 'signs',
  dataset_index: i,
}));

const readJsonl = <T>(f: string): T[] =>
  readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
/** In-process, on the test device (its pipelines compiled once for the whole file), no signal handlers. */
const grpo = async (o: GrpoCliOptions) => runGrpoCommand({ quiet: true, ...o }, { gpu: await testGpu(), handleSignals: false, log: () => undefined });

describe('thinker grpo', () => {
  let dir: string, model: string, data: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'thinker-grpo-'));
    data = path.join(dir, 'items.jsonl');
    writeFileSync(data, items.map((it) => JSON.stringify({ ...it, options: JSON.stringify(it.options) })).join('\n') + '\n');
    const corpus = items
      .map((it) => chatPrompt(promptText(it), 0, 0) + sftTarget(it))
      .join('\n')
      .repeat(3);
    const bpe = trainByteLevelBpe(corpus, { vocabSize: 400, specialTokens: [...LAB_SPECIAL_TOKENS], eosToken: '<|im_end|>' });
    const cfg: ModelConfig = {
      text: {
        architecture: 'llama',
        vocabSize: bpe.vocabSize,
        hiddenSize: 16,
        intermediateSize: 32,
        numLayers: 1,
        numHeads: 2,
        numKvHeads: 1,
        headDim: 8,
        rmsNormEps: 1e-5,
        ropeTheta: 10000,
        maxPositionEmbeddings: 128,
        tieWordEmbeddings: true,
        qkvBias: false,
        oBias: false,
        mlpBias: false,
      },
    };
    model = path.join(dir, 'start');
    await saveCheckpoint(model, cfg, initWeights(cfg, 4), {
      'tokenizer.json': JSON.stringify(bpe.tokenizerJson),
      'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig),
    });
  });

  const config = (extra: Record<string, unknown> = {}) => {
    const f = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(
      f,
      JSON.stringify({
        extends: 'synth-micro',
        data: { source: 'file', file: { path: data, evalPath: data } },
        steps: 2,
        promptsPerStep: 2,
        groupSize: 2,
        maxNewTokens: 6,
        maxPromptTokens: 120,
        microBatch: 4,
        rolloutBatch: 4,
        lr: 1e-3,
        seed: 5,
        eval: { items: 2, maxNewTokens: 6, batchSize: 2, every: 0 },
        checkpoint: { every: 1, keep: 5 },
        ...extra,
      }),
    );
    return f;
  };

  it('writes checkpoints, metrics, rollouts and a summary; a resumed run repeats the uninterrupted one exactly', async () => {
    const cfgFile = config();
    const full = path.join(dir, 'full');
    const s = (await grpo({ config: cfgFile, model, out: full })) as GrpoSummary;
    expect(s).toMatchObject({ command: 'grpo', step: 2, totalSteps: 2, stopped: false, items: 4, evalItems: 2, resumedFrom: null });
    expect(s.initialEval?.step).toBe(0);
    expect(s.finalEval?.step).toBe(2);
    const rows = readJsonl<Record<string, unknown>>(path.join(full, 'metrics.jsonl'));
    expect(rows.map((r) => `${r.type}@${r.step}`)).toEqual(['eval@0', 'step@1', 'step@2', 'eval@2']);
    const steps = rows.filter((r) => r.type === 'step') as unknown as GrpoStepMetrics[];
    for (const m of steps) {
      for (const k of [
        'reward_mean',
        'accuracy',
        'format_rate',
        'kl',
        'clip_frac',
        'entropy',
        'response_length',
        'adv_mean',
        'adv_std',
        'tokens_per_s',
        'grad_norm',
      ]) {
        expect(Number.isFinite((m as unknown as Record<string, number>)[k]), k).toBe(true);
      }
      expect(m.updates).toBe(2);
      expect(m.entropy).toBeGreaterThan(0);
      expect(m.sampled_tokens).toBeGreaterThan(0);
    }
    // A random start model: the first mini-batch is on-policy, so every ratio starts at 1.
    const groups = readJsonl<GroupRecord>(path.join(full, 'rollouts.jsonl'));
    expect(groups.map((g) => g.step)).toEqual([1, 1, 2, 2]);
    const g0 = groups[0];
    expect(g0.prompt).toContain('Question: Which way does the sign point?');
    expect(g0.prompt).toContain('You will solve a problem/request.');
    expect(g0.responses).toHaveLength(2);
    for (const r of g0.responses) {
      expect(r.ratios).toHaveLength(r.tokens.length);
      for (const x of r.ratios!) expect(Math.abs(x - 1)).toBeLessThan(1e-3);
      expect(r.reward).toBe(0);
    }
    expect(
      readdirSync(full)
        .filter((f) => f.startsWith('checkpoint-'))
        .sort(),
    ).toEqual(['checkpoint-1', 'checkpoint-2']);
    const state = JSON.parse(readFileSync(path.join(full, 'checkpoint-2', 'trainer_state.json'), 'utf8'));
    expect(state).toMatchObject({ kind: 'grpo', step: 2, totalSteps: 2, position: { updates: 4 }, reason: 'final', optimizer: true });
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'optimizer.safetensors'])
      expect(existsSync(path.join(full, 'checkpoint-2', f)), f).toBe(true);
    expect(JSON.parse(readFileSync(path.join(full, 'summary.json'), 'utf8')).step).toBe(2);
    expect(JSON.parse(readFileSync(path.join(full, 'run_config.json'), 'utf8')).model).toBe(path.resolve(model));

    // One step, then resume to two: step 2 must come out identical (weights, AdamW moments and
    // step count restored; prompts and sampling seeds a function of the step).
    const part = path.join(dir, 'part');
    await grpo({ config: cfgFile, model, out: part, steps: '1' });
    const r = (await grpo({ resume: part, steps: '2' })) as GrpoSummary;
    expect(r.resumedFrom).toBe(path.join(part, 'checkpoint-1'));
    expect(r.step).toBe(2);
    const resumed = readJsonl<Record<string, unknown>>(path.join(part, 'metrics.jsonl'));
    expect(resumed.map((x) => `${x.type}@${x.step}`)).toEqual(['eval@0', 'step@1', 'eval@1', 'step@2', 'eval@2']);
    const timing = ['tokens_per_s', 'rollout_tokens_per_s', 'train_tokens_per_s', 'rollout_s', 'update_s', 'seconds'];
    const strip = (m: Record<string, unknown>) => Object.fromEntries(Object.entries(m).filter(([k]) => !timing.includes(k)));
    expect(strip(resumed[3])).toEqual(strip(rows[2]));
    expect(readJsonl<GroupRecord>(path.join(part, 'rollouts.jsonl'))).toEqual(groups);
    expect(readFileSync(path.join(part, 'checkpoint-2', 'model.safetensors'))).toEqual(readFileSync(path.join(full, 'checkpoint-2', 'model.safetensors')));
    await expect(grpo({ resume: part })).rejects.toThrow(/already did 2 of 2 steps/);
  }, 600_000);

  it('rollouts with an f16 KV cache (what a GPU decodes with): the first update is on-policy to within its rounding', async () => {
    const gpu = await testGpu();
    const was = gpu.kvF16;
    gpu.kvF16 = true;
    try {
      const out = path.join(dir, 'kv16');
      const s = (await grpo({ config: config({ steps: 1 }), model, out })) as GrpoSummary;
      expect(s.step).toBe(1);
      // The old log-probs come from the f16 cache, the new ones from the f32 training forward: the
      // ratio of the first mini-batch is 1 up to f16's rounding of the keys and values (3.4e-4 at
      // most when measured; the f32 cache's stay within 1e-3 in the test above).
      const groups = readJsonl<GroupRecord>(path.join(out, 'rollouts.jsonl'));
      const ratios = groups[0].responses.flatMap((r) => r.ratios!);
      expect(ratios.length).toBeGreaterThan(0);
      for (const x of ratios) expect(Math.abs(x - 1)).toBeLessThan(3e-3);
    } finally {
      gpu.kvF16 = was;
    }
  });

  it('with LoRA: adapters on the frozen start model move with the reward; checkpoints carry adapter/, and a resume repeats the straight run', async () => {
    // A start model that answers some prompts right and others wrong (70 SFT steps on the four
    // items), so groups have unequal rewards and the advantages a gradient.
    const sft = (await runSftCommand(
      {
        config: 'synth-micro',
        out: path.join(dir, 'lora-start'),
        steps: '70',
        quiet: true,
        set: [
          'data.source=file',
          `data.file.path=${data}`,
          `model.init=${model}`,
          'lr=1e-2',
          'batchSize=4',
          'eval.items=0',
          'maxLength=128',
          'checkpoint.every=0',
        ],
      },
      { gpu: await testGpu(), handleSignals: false, log: () => undefined },
    )) as SftSummary;
    const start = sft.checkpoint;
    const cfgFile = config({
      lora: { rank: 2, alpha: 4, targets: 'q_proj,v_proj,down_proj' },
      lr: 1e-2,
      promptsPerStep: 4,
      groupSize: 4,
      maxNewTokens: 24,
      microBatch: 8,
      rolloutBatch: 16,
      eval: { items: 0, every: 0 },
    });
    const full = path.join(dir, 'lora-full');
    const s = (await grpo({ config: cfgFile, model: start, out: full })) as GrpoSummary;
    expect(s.step).toBe(2);
    const steps = readJsonl<Record<string, number>>(path.join(full, 'metrics.jsonl')).filter((r) => (r.type as unknown) === 'step');
    expect(Math.max(...steps.map((r) => r.adv_std))).toBeGreaterThan(0);
    const ck = path.join(full, 'checkpoint-2');
    for (const f of ['model.safetensors', 'adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'optimizer.safetensors']) {
      expect(existsSync(path.join(ck, f)), f).toBe(true);
    }
    expect(JSON.parse(readFileSync(path.join(ck, 'adapter/adapter_config.json'), 'utf8'))).toMatchObject({
      r: 2,
      lora_alpha: 4,
      base_model_name_or_path: start,
    });
    // The adapted projections moved; every other weight is the start model's, bit for bit.
    const startW = readSafetensors(new Uint8Array(readFileSync(path.join(start, 'model.safetensors'))), 'start');
    const w = readSafetensors(new Uint8Array(readFileSync(path.join(ck, 'model.safetensors'))), 'ck');
    const moved = (n: string) => w.get(n)!.data.some((x, i) => x !== startW.get(n)!.data[i]);
    for (const n of ['q_proj', 'v_proj'].map((t) => `model.layers.0.self_attn.${t}.weight`)) expect(moved(n), n).toBe(true);
    for (const [n] of startW) if (!/(q_proj|v_proj|down_proj)\.weight$/.test(n)) expect(moved(n), n).toBe(false);

    const part = path.join(dir, 'lora-part');
    await grpo({ config: cfgFile, model: start, out: part, steps: '1' });
    const r = (await grpo({ resume: part, steps: '2' })) as GrpoSummary;
    expect([r.step, r.resumedFrom]).toEqual([2, path.join(part, 'checkpoint-1')]);
    for (const f of ['model.safetensors', 'adapter/adapter_model.safetensors']) {
      expect(readFileSync(path.join(part, 'checkpoint-2', f)), f).toEqual(readFileSync(path.join(ck, f)));
    }
  }, 600_000);

  it('refuses bad configs, data and folders with errors that name the problem, before any GPU work', async () => {
    const out = path.join(dir, 'bad');
    const run = (o: GrpoCliOptions) => grpo({ model, out, ...o });
    await expect(run({ config: config({ groupSize: 0 }) })).rejects.toThrow(/groupSize must be >= 1/);
    await expect(run({ config: config({ klCof: 1 }) })).rejects.toThrow(/unknown key "klCof"/);
    await expect(run({ config: config({ lossAgg: 'sum' }) })).rejects.toThrow(/lossAgg must be one of/);
    await expect(run({ config: config({ clipC: 0.5 }) })).rejects.toThrow(/clipC/);
    await expect(run({ config: config({ extends: 'nope' }) })).rejects.toThrow(/"extends" must name a preset/);
    await expect(run({ config: 'no-such-preset' })).rejects.toThrow(/neither a preset/);
    await expect(run({ config: config({ data: { source: 'file', file: { path: path.join(dir, 'missing.jsonl') } } }) })).rejects.toThrow(/data file not found/);
    await expect(run({ config: config({ maxPromptTokens: 5 }) })).rejects.toThrow(/no usable items/);
    await expect(run({ config: config({ maxNewTokens: 200 }) })).rejects.toThrow(/context of 128/);
    await expect(run({ config: config({ eval: { maxNewTokens: 100 } }) })).rejects.toThrow(/eval.maxNewTokens 100 exceeds/);
    await expect(run({ config: config(), set: ['updatesPerStep=9'] })).rejects.toThrow(/updatesPerStep 9 exceeds the 4 responses/);
    await expect(grpo({ config: config(), out })).rejects.toThrow(/no start model/);
    await expect(run({ config: config(), model: path.join(dir, 'nowhere') })).rejects.toThrow(/no config.json/);
    await expect(grpo({ resume: path.join(dir, 'nowhere') })).rejects.toThrow(InputError);
    await expect(grpo({ resume: model })).rejects.toThrow(/not a run checkpoint/);
    const e = await run({ config: config({ groupSize: 0 }) }).catch((x) => x);
    expect(e).toBeInstanceOf(InputError);
    expect(existsSync(out)).toBe(false);
    // A folder that already holds a run is not overwritten.
    await expect(grpo({ config: config(), model, out: path.join(dir, 'full') })).rejects.toThrow(/already holds a run/);
  });

  it('presets and config files resolve to valid settings; --set and --print-config', async () => {
    expect(GRPO_PRESETS.paper.config).toMatchObject({
      groupSize: 8,
      promptsPerStep: 256,
      updatesPerStep: 2,
      clipLow: 0.2,
      clipHigh: 0.2,
      klCoef: 0.01,
      lossAgg: 'token-mean',
      lr: 1e-6,
      weightDecay: 0.01,
      gradClip: 1,
      temperature: 1,
      topP: 1,
      maxNewTokens: 4096,
      maxPromptTokens: 2048,
      epochs: 5,
      steps: 0,
    });
    expect(GRPO_PRESETS['synth-micro-dapo'].config).toMatchObject({ clipHigh: 0.28, dropEqualGroups: true, klCoef: 0 });
    expect(GRPO_PRESETS['synth-micro-dr-grpo'].config.normalizeStd).toBe(false);
    const c = grpoConfigFrom({ extends: 'synth-micro', groupSize: 4, data: { synth: { level: 2 } } }, 'test.json');
    expect(c.groupSize).toBe(4);
    expect(c.data.synth.level).toBe(2);
    expect(c.data.synth.n).toBe(GRPO_DEFAULTS.data.synth.n);
    expect(applyGrpoOverrides(c, ['lossAgg=seq-mean-token-mean', 'eval.every=3']) as GrpoConfig).toMatchObject({
      lossAgg: 'seq-mean-token-mean',
      eval: { every: 3 },
    });
    expect(() => applyGrpoOverrides(c, ['groupSize'])).toThrow(/key.path=value/);
    expect(totalSteps({ steps: 0, epochs: 5, promptsPerStep: 256 }, 16500)).toBe(323);
    expect(() => grpoConfigFrom({ promptsPerStep: 1, groupSize: 2, updatesPerStep: 3 }, 'f.json')).toThrow(/updatesPerStep/);
    expect(() => grpoConfigFrom({ steps: 0, epochs: 0 }, 'f.json')).toThrow(/nothing to train/);
    expect(() => grpoConfigFrom({ data: { source: 'dataset' } }, 'f.json')).toThrow(/data.dataset.name is empty/);
    expect(() => grpoConfigFrom([], 'f.json')).toThrow(/JSON object/);
    const printed = (await runGrpoCommand({ config: 'synth-micro', model: 'some/dir', printConfig: true, set: ['klCoef=0'] })) as GrpoConfig;
    expect(printed.model).toBe(path.resolve('some/dir'));
    expect(printed.klCoef).toBe(0);
  });

  it('registers `grpo` with its options on a commander program', () => {
    const p = new Command();
    registerGrpo(p);
    const cmd = p.commands.find((c) => c.name() === 'grpo')!;
    expect(cmd.options.map((o) => o.long)).toEqual(expect.arrayContaining(['--config', '--model', '--out', '--resume', '--steps', '--set', '--print-config']));
  });
});
