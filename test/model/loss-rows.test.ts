// The LM head on the loss rows only (textForward's logits: 'loss', what Trainer and GRPO use): the
// recipe's sequences are mostly prompt, whose positions carry no target, so the head, its softmax
// and their backward run on the positions that do, compacted, and the final norm's gradient is
// scattered back. It must give what the head over every row gives: the same log-prob and entropy
// at every position (0 where no loss is taken), the same gradient of every parameter, on both
// kernel paths, with an untied head, a tied one, and a frozen one (LoRA). The float64 check of
// these gradients is model.test.ts's finite-difference test, whose batch masks the image rows.
import { afterAll, describe, expect, it } from 'vitest';
import { Model } from '../../src/model/model';
import { Activations } from '../../src/model/activations';
import { IGNORE, nextTokenTargets, uploadBatch, type TokenBatch } from '../../src/model/batch';
import { logprobs, textBackward, textForward, zeroGrads } from '../../src/model/forward';
import { CommandStream } from '../../src/engine/stream';
import { download, upload } from '../../src/engine/tensor';
import { DEFAULT_LORA } from '../../src/model/lora';
import { KERNEL_PATHS, compare, testGpu, useKernelPath } from '../helpers/gpu';
import { randomWeights, tinyVlm, vlmBatch } from './fixtures';
import type { ModelConfig } from '../../src/model/config';

/** Three sequences of 12 tokens whose targets start at `from[b]` (a prompt before it), the last with padding after its end. */
function promptBatch(cfg: ModelConfig, from: number[], end = 12): TokenBatch {
  const B = from.length,
    T = 12;
  const { ids, nImages, patches } = vlmBatch(cfg, B, T, 5);
  const flat = Uint32Array.from(ids.flat());
  const mask = new Uint8Array(B * T).map((_, i) => {
    const t = i % T;
    const last = Math.floor(i / T) === B - 1;
    return t > from[Math.floor(i / T)] && !(last && t >= end) && flat[i] !== cfg.imageTokenId ? 1 : 0;
  });
  return { B, T, ids: flat, targets: nextTokenTargets(flat, B, T, mask), nImages, patches };
}

/** One micro-batch's log-probs, entropies and every trainable gradient, with the head on all rows or on the loss rows. */
async function run(m: Model, b: TokenBatch, head: 'all' | 'loss') {
  const gpu = m.gpu;
  const acts = new Activations(gpu, m.cfg, { B: b.B, T: b.T, nImages: b.nImages ?? 0, training: true }, m.lora);
  const s = new CommandStream(gpu, 'loss-rows');
  const count = uploadBatch(m, acts, b);
  const coef = new Float32Array(acts.N).map((_, i) => (b.targets![i] >= 0 ? -(1 + (i % 3)) / Math.max(1, count) : 0));
  upload(gpu, acts.get('coef'), coef);
  zeroGrads(s, m);
  textForward(s, m, acts, { logits: head });
  logprobs(s, m, acts);
  textBackward(s, m, acts);
  await s.sync();
  const out = { logp: await download(gpu, acts.get('logp')), entropy: await download(gpu, acts.get('entropy')), grads: new Map<string, Float32Array>() };
  for (const p of m.trainable) out.grads.set(p.name, await download(gpu, m.g(p.name)));
  acts.release();
  s.destroy();
  return out;
}

const HEADS = [
  { head: 'untied', tie: false, lora: false },
  { head: 'tied', tie: true, lora: false },
  { head: 'frozen (LoRA)', tie: false, lora: true },
];

describe.each(KERNEL_PATHS)('the head on the loss rows only ($path)', (k) => {
  useKernelPath(k.rowKernels);
  const models: Model[] = [];
  afterAll(() => {
    for (const m of models) m.release();
  });

  it.each(HEADS)("gives the full head's log-probs, entropies and gradients: $head head", async ({ tie, lora }) => {
    const cfg = tinyVlm({ tieWordEmbeddings: tie });
    const m = new Model(await testGpu(), cfg);
    models.push(m);
    m.loadWeights(randomWeights(cfg, 9));
    if (lora) m.addLora({ ...DEFAULT_LORA, rank: 4 }, 3);
    m.enableTraining();
    const b = promptBatch(cfg, [6, 8, 7], 10);
    const loss = b.targets!.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
    expect(loss).toBe(5 + 3 + 2); // the head runs on 10 of 36 rows
    const all = await run(m, b, 'all');
    const rows = await run(m, b, 'loss');
    for (let i = 0; i < b.B * b.T; i++) {
      if (b.targets![i] === IGNORE) {
        expect(rows.logp[i], `logp at ${i}`).toBe(0);
        expect(rows.entropy[i], `entropy at ${i}`).toBe(0);
      } else expect(rows.logp[i], `logp at ${i}`).toBeLessThan(0);
    }
    expect(compare(rows.logp, all.logp, 1e-6, 1e-6).ok).toBe(true);
    expect(compare(rows.entropy, all.entropy, 1e-6, 1e-6).ok).toBe(true);
    expect([...rows.grads.keys()]).toEqual([...all.grads.keys()]);
    for (const [name, g] of all.grads) {
      const c = compare(rows.grads.get(name)!, g, 1e-6, 1e-5);
      expect(c.ok, `${name}: ${c.msg}`).toBe(true);
    }
    // Not a vacuous match: the gradients are there.
    const norm = (x: Float32Array) => Math.hypot(...x);
    // (B starts at zero under LoRA, so it is the adapter that has a gradient at the first step.)
    const probe = lora ? [...rows.grads.keys()].find((n) => n.endsWith('lora_B.weight'))! : m.headName;
    expect(norm(rows.grads.get(probe)!)).toBeGreaterThan(1e-3);
  });

  it('a training arena holds logits for the loss rows only, and grows for a batch with more', async () => {
    const cfg = tinyVlm({ maxPositionEmbeddings: 64 });
    const gpu = await testGpu();
    const m = new Model(gpu, cfg);
    models.push(m);
    m.loadWeights(randomWeights(cfg, 9));
    m.enableTraining();
    const B = 8,
      T = 32;
    const ids = Uint32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % 38);
    const batch = (answer: number): TokenBatch => {
      const mask = new Uint8Array(B * T).map((_, i) => (i % T >= T - answer ? 1 : 0));
      return { B, T, ids, targets: nextTokenTargets(ids, B, T, mask) };
    };
    const acts = new Activations(gpu, cfg, { B, T, nImages: 0, training: true });
    const s = new CommandStream(gpu, 'loss-rows');
    expect(() => acts.get('logits')).toThrow(/no logits yet/);
    const V = cfg.text.vocabSize;
    const logpOf = async (b: TokenBatch) => {
      uploadBatch(m, acts, b);
      textForward(s, m, acts, { logits: 'loss' });
      logprobs(s, m, acts);
      await s.sync();
      return download(gpu, acts.get('logp'));
    };
    const small = await logpOf(batch(4)); // 8 x 4 = 32 loss rows of 256
    expect(acts.get('logits').size).toBe(64 * V);
    // The gradient is written over the logits: no second [rows, V] buffer.
    expect(acts.arena.has('dlogits')).toBe(false);
    expect(() => acts.get('dlogits')).toThrow(/no tensor named dlogits/);
    // 8 x 12 = 96 rows: the buffers grow, after the work that used the old ones (here recorded,
    // not yet submitted) is submitted.
    uploadBatch(m, acts, batch(4));
    textForward(s, m, acts, { logits: 'loss' });
    const larger = await logpOf(batch(12));
    expect(acts.get('logits').size).toBe(128 * V);
    const all = await run(m, batch(12), 'all');
    expect(compare(larger, all.logp, 1e-6, 1e-6).ok).toBe(true);
    expect(compare(small, (await run(m, batch(4), 'all')).logp, 1e-6, 1e-6).ok).toBe(true);
    acts.release();
    s.destroy();
  });

  it('a batch with no target at all gives zero log-probs and zero gradients', async () => {
    const cfg = tinyVlm();
    const m = new Model(await testGpu(), cfg);
    models.push(m);
    m.loadWeights(randomWeights(cfg, 9));
    m.enableTraining();
    const b = promptBatch(cfg, [12, 12, 12]);
    expect(b.targets!.every((t) => t === IGNORE)).toBe(true);
    const rows = await run(m, b, 'loss');
    expect(rows.logp.every((x) => x === 0)).toBe(true);
    for (const [name, g] of rows.grads)
      expect(
        g.every((x) => x === 0),
        name,
      ).toBe(true);
  });
});
