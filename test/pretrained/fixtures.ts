// Lab model folders for the pretrained-backend tests: a byte-level BPE tokenizer with the lab's
// special tokens, seeded weights, saved as the lab saves checkpoints, and exported for
// transformers.js by the project's own exporter. Nothing comes from the internet.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { paramSpecs, type ModelConfig } from '../../src/model/config';
import { initWeights, type WeightMap } from '../../src/model/model';
import { trainByteLevelBpe, LAB_SPECIAL_TOKENS } from '../../src/io/bpe-trainer';
import { saveCheckpoint } from '../../src/node/checkpoint';
import { exportOnnxFolder } from '../../src/io/onnx-export';
import { nodeDirSink, nodeDirSource } from '../../src/io/workspace';
import { CHAT } from '../../src/io/chat';
import type { TextTokenizer } from '../../src/io/tokenizer';
import { rng } from '../helpers/gpu';

const CORPUS = [
  'Is there a fracture of the left femur? Yes. No. The chest x-ray shows no pneumothorax.',
  'Question: Is the liver enlarged? Options: A. Yes B. No. Answer the question.',
  'You will solve a problem/request. You should provide your thoughts within tags before providing the answer.',
  'Write your final answer within tags. The image is a CT scan of the abdomen with contrast.',
  'Is this an MRI? Is there evidence of a mass? Are the lungs clear? The heart size is normal.',
];

/** tokenizer.json + tokenizer_config.json as the lab trains them (SFT, train). */
export function labTokenizer(vocabSize = 360) {
  const bpe = trainByteLevelBpe(CORPUS.join('\n'), {
    vocabSize,
    specialTokens: [...LAB_SPECIAL_TOKENS],
    eosToken: CHAT.end,
    padToken: '<|endoftext|>',
  });
  return { bpe, files: { 'tokenizer.json': JSON.stringify(bpe.tokenizerJson), 'tokenizer_config.json': JSON.stringify(bpe.tokenizerConfig) } };
}

export function smallTextConfig(vocabSize: number, over: Partial<ModelConfig['text']> = {}): ModelConfig {
  return {
    text: {
      architecture: 'llama',
      vocabSize,
      hiddenSize: 32,
      intermediateSize: 48,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 2,
      headDim: 8,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      maxPositionEmbeddings: 256,
      tieWordEmbeddings: true,
      qkvBias: false,
      oBias: false,
      mlpBias: false,
      ...over,
    },
  };
}

/** Weights with spread-out logits (so greedy choices are not near-ties) and perturbed norms and biases. */
export function spreadWeights(cfg: ModelConfig, seed: number, std = 0.35): WeightMap {
  const w = initWeights(cfg, seed, std);
  const r = rng(seed + 7);
  for (const [name, t] of w) {
    if (name.endsWith('norm.weight')) for (let i = 0; i < t.data.length; i++) t.data[i] = 1 + 0.2 * r.uniform();
    else if (name.endsWith('.bias')) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.2 * r.uniform();
  }
  return w;
}

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `thinker-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A lab model folder and its transformers.js export under `root`. */
export async function labModelAndExport(root: string, cfg: ModelConfig, weights: WeightMap, tokFiles: Record<string, string>) {
  const lab = path.join(root, 'lab-model');
  const exported = path.join(root, 'exported');
  await saveCheckpoint(lab, cfg, weights, tokFiles);
  const report = await exportOnnxFolder(nodeDirSource(lab), nodeDirSink(exported));
  return { lab, exported, report };
}

/**
 * A teacher that always answers "A": every block is zero (the residual stream is the token's
 * embedding), each chain token's embedding is its own axis, and lm_head maps each axis to the next
 * token of "\n<think>{x|y}</think><answer>A</answer><|im_end|>" with logit 20 (after the final
 * norm scales a unit axis to 4). After <think> it is a coin toss between x and y.
 */
export function letterTeacher(tok: TextTokenizer): { cfg: ModelConfig; weights: WeightMap } {
  const id = (s: string) => {
    const ids = tok.encode(s, { addSpecialTokens: false });
    if (ids.length !== 1) throw new Error(`"${s}" is ${ids.length} tokens`);
    return ids[0];
  };
  const chain = ['\n', '<think>', 'x', 'y', '</think>', '<answer>', 'A', '</answer>', '<|im_end|>'].map(id);
  const [nl, think, x, y, thinkEnd, answer, letterA, answerEnd, end] = chain;
  const d = 16;
  const cfg = smallTextConfig(tok.vocabSize, {
    hiddenSize: d,
    intermediateSize: 16,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 8,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 1024,
  });
  const weights: WeightMap = new Map();
  for (const p of paramSpecs(cfg)) {
    const data = new Float32Array(p.shape.reduce((a, b) => a * b, 1));
    if (p.name.endsWith('norm.weight')) data.fill(1);
    weights.set(p.name, { shape: [...p.shape], data });
  }
  const embed = weights.get('model.embed_tokens.weight')!.data;
  const head = weights.get('lm_head.weight')!.data;
  // Axis 0 is every other token; each chain token but the last has its own axis.
  const axis = new Map(chain.slice(0, -1).map((t, i) => [t, i + 1]));
  for (let t = 0; t < cfg.text.vocabSize; t++) embed[t * d + (axis.get(t) ?? 0)] = 1;
  const next: [number, number][] = [
    [nl, think],
    [think, x],
    [think, y],
    [x, thinkEnd],
    [y, thinkEnd],
    [thinkEnd, answer],
    [answer, letterA],
    [letterA, answerEnd],
    [answerEnd, end],
  ];
  for (const [from, to] of next) head[to * d + axis.get(from)!] = 5;
  head[end * d + 0] = 5;
  return { cfg, weights };
}
