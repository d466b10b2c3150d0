// A frozen base stored in f16 (Model frozenF16): every Linear weight (isF16Weight) at 2 bytes, read
// by matmul.wgsl's loadB and widened to f32, all arithmetic f32. It must compute exactly what an f32
// model does whose weights were rounded to f16 on the host (the same values, the same kernels), in
// the forward and in the LoRA adapters' gradients, while holding the base in about half the memory;
// and it refuses to be trained in full.
import { describe, expect, it } from 'vitest';
import { testGpu } from '../helpers/gpu';
import { Model, type WeightMap } from '../../src/model/model';
import { Trainer } from '../../src/model/trainer';
import { Activations } from '../../src/model/activations';
import { nextTokenTargets, uploadBatch, type TokenBatch } from '../../src/model/batch';
import { textForward } from '../../src/model/forward';
import { CommandStream } from '../../src/engine/stream';
import { download, packHalves, unpackHalves } from '../../src/engine/tensor';
import { isF16Weight } from '../../src/model/config';
import { memoryEstimate } from '../../src/model/memory';
import { LORA_TARGETS, initLora } from '../../src/model/lora';
import { randomWeights, tinyVlm, vlmBatch } from './fixtures';

const cfg = tinyVlm();
const weights = randomWeights(cfg, 7);
const rounded: WeightMap = new Map(
  [...weights].map(([k, t]) => [k, isF16Weight(k) ? { shape: t.shape, data: unpackHalves(packHalves(t.data), t.data.length) } : t]),
);
const spec = { rank: 4, alpha: 8, targets: LORA_TARGETS };
const adapters = (() => {
  const w = initLora(cfg, spec, 3);
  for (const [k, t] of w) if (k.endsWith('lora_B.weight')) t.data.forEach((_, i) => (t.data[i] = Math.sin(i + k.length) * 0.1));
  return w;
})();
const { ids, nImages, patches } = vlmBatch(cfg, 2, 11, 3);
const batch: TokenBatch = (() => {
  const flat = Uint32Array.from(ids.flat());
  const mask = new Uint8Array(flat.length).map((_, i) => (flat[i] === cfg.imageTokenId ? 0 : 1));
  return { B: 2, T: 11, ids: flat, targets: nextTokenTargets(flat, 2, 11, mask), nImages, patches };
})();

async function build(f16: boolean) {
  const gpu = await testGpu();
  const m = new Model(gpu, cfg, undefined, { frozenF16: f16 });
  m.loadWeights(f16 ? weights : rounded);
  m.addLora(spec, adapters);
  const acts = new Activations(gpu, cfg, { B: 2, T: 11, nImages, training: false }, m.lora);
  const s = new CommandStream(gpu, 'f16');
  uploadBatch(m, acts, batch);
  textForward(s, m, acts);
  await s.sync();
  const logits = await download(gpu, acts.get('logits'));
  acts.release();
  s.destroy();
  const t = new Trainer(m);
  await t.computeGrads([batch]);
  const grads = new Map<string, Float32Array>();
  for (const p of m.trainable) grads.set(p.name, await download(gpu, m.g(p.name)));
  const exported = await m.exportWeights();
  const bytes = m.params.bytes;
  t.release();
  m.release();
  return { logits, grads, exported, bytes };
}

describe('a frozen f16 base', () => {
  it('computes what an f32 model with f16-rounded weights computes: logits and adapter gradients, in less memory', async () => {
    const half = await build(true);
    const full = await build(false);
    expect(half.logits).toEqual(full.logits);
    for (const [k, g] of full.grads) expect(half.grads.get(k), k).toEqual(g);
    // The weights come back widened: the rounded values, exactly.
    for (const [k, t] of rounded) expect(half.exported.get(k)!.data, k).toEqual(t.data);
    // Every Linear weight at 2 bytes instead of 4 (up to per-tensor alignment).
    const linear = [...weights].filter(([k]) => isF16Weight(k)).reduce((n, [, t]) => n + t.data.length, 0);
    expect(full.bytes - half.bytes).toBeGreaterThan(linear * 2 * 0.8);
    expect(memoryEstimate(cfg, spec, { f16: true }).weightBytes).toBe(memoryEstimate(cfg, spec).weightBytes - 2 * linear);
  });

  it('refuses full training: its weights are frozen', async () => {
    const gpu = await testGpu();
    const m = new Model(gpu, cfg, undefined, { frozenF16: true });
    expect(() => new Trainer(m)).toThrow(/stored in f16 and frozen: train it with LoRA/);
    m.release();
  });
});
