// Activation checkpointing: keeping only each text block's input and running the block again in
// the backward must give exactly the gradients of keeping everything (the kernels are
// deterministic), with one set of saved block tensors instead of one per layer. Checked on the
// whole-model fixture (vision, GQA, biases, untied head) in full and with LoRA adapters, over two
// optimizer steps so the recomputation also meets updated weights.
import { describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { nextTokenTargets, type TokenBatch } from '../../src/model/batch';
import { download } from '../../src/engine/tensor';
import { DEFAULT_LORA } from '../../src/model/lora';
import { testGpu } from '../helpers/gpu';
import { randomWeights, tinyVlm, vlmBatch } from './fixtures';

const cfg = tinyVlm({ numLayers: 3 });

function batch(seed: number): TokenBatch {
  const { ids, nImages, patches } = vlmBatch(cfg, 2, 11, seed);
  const flat = Uint32Array.from(ids.flat());
  const mask = flat.map((id) => (id === cfg.imageTokenId ? 0 : 1)) as unknown as Uint8Array;
  return { B: 2, T: 11, ids: flat, targets: nextTokenTargets(flat, 2, 11, Uint8Array.from(mask)), nImages, patches };
}

async function train(checkpoint: boolean, lora: boolean) {
  const gpu = await testGpu();
  const m = new Model(gpu, cfg);
  m.loadWeights(randomWeights(cfg, 7));
  if (lora) m.addLora({ ...DEFAULT_LORA, rank: 4 }, 3);
  const t = new Trainer(m, { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 0 }, checkpoint);
  const losses: number[] = [];
  for (const seed of [3, 4]) losses.push((await t.trainStep([batch(seed)])).loss);
  const grads = new Map<string, Float32Array>();
  for (const p of m.trainable) grads.set(p.name, await download(gpu, m.g(p.name)));
  const bytes = t.activations(batch(3)).arena.bytes;
  t.release();
  m.release();
  return { losses, grads, bytes };
}

describe('activation checkpointing', () => {
  for (const lora of [false, true]) {
    it(`gives bit-for-bit the gradients of keeping every activation${lora ? ' (LoRA)' : ''}, in less memory`, async () => {
      const full = await train(false, lora);
      const ck = await train(true, lora);
      expect(ck.losses).toEqual(full.losses);
      expect([...ck.grads.keys()]).toEqual([...full.grads.keys()]);
      for (const [name, g] of full.grads) expect(ck.grads.get(name), name).toEqual(g);
      expect(ck.bytes).toBeLessThan(full.bytes);
    });
  }
});
