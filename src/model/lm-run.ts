// A plain next-token training run, shared by `thinker train`, the engine worker and the tests, so
// the browser and Node run the very same loop (and must agree on its losses).
import type { Gpu } from '../engine/gpu';
import type { ModelConfig } from './config';
import { Model, initWeights } from './model';
import { Trainer, DEFAULT_OPTIM, type OptimConfig, type StepResult } from './trainer';
import { cosineWithWarmup } from './schedule';
import { sampleWindows } from './lm-data';
import { seededRandom } from '../util/random';

export interface LmRunOptions {
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  warmup: number;
  seed: number;
  optim?: Partial<OptimConfig>;
  signal?: AbortSignal;
}

export interface LmStep extends StepResult {
  step: number;
  lr: number;
  seconds: number;
}

/** Train `model` (or a fresh seeded one of `cfg`) on windows of `stream`; calls onStep after each step. */
export async function runLmTraining(
  gpu: Gpu,
  modelOrCfg: Model | ModelConfig,
  stream: Uint32Array,
  o: LmRunOptions,
  onStep?: (s: LmStep) => void | Promise<void>,
): Promise<{ model: Model; steps: LmStep[] }> {
  let model: Model;
  if (modelOrCfg instanceof Model) model = modelOrCfg;
  else {
    model = new Model(gpu, modelOrCfg);
    model.loadWeights(initWeights(modelOrCfg, o.seed));
  }
  const trainer = new Trainer(model, { ...DEFAULT_OPTIM, lr: o.lr, ...o.optim });
  const random = seededRandom(o.seed + 1);
  const out: LmStep[] = [];
  try {
    for (let step = 0; step < o.steps; step++) {
      if (o.signal?.aborted) break;
      const lr = cosineWithWarmup(step, o.steps, o.lr, o.warmup, 0.1);
      const t0 = performance.now();
      const r = await trainer.trainStep([sampleWindows(stream, o.batch, o.seq, random)], lr);
      const rec = { ...r, step: step + 1, lr, seconds: (performance.now() - t0) / 1000 };
      out.push(rec);
      await onStep?.(rec);
    }
  } finally {
    trainer.release();
  }
  return { model, steps: out };
}
