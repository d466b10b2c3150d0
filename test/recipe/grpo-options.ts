// GrpoOptions for the tests that build a GrpoTrainer by hand: the recipe's clip (0.2) and
// token-mean loss, a small model's optimizer, each test overriding what it is about.
import type { GrpoLossOptions, GrpoOptions } from '../../src/recipe/grpo';

export function grpoTestOptions(o: Partial<Omit<GrpoOptions, 'loss'>> & { loss?: Partial<GrpoLossOptions> } = {}): GrpoOptions {
  const { loss, ...rest } = o;
  return {
    groupSize: 8,
    promptsPerStep: 2,
    updatesPerStep: 2,
    microBatch: 16,
    rolloutBatch: 16,
    maxNewTokens: 10,
    temperature: 1,
    topP: 1,
    advantage: {},
    optim: { lr: 2e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, gradClip: 1 },
    seed: 1,
    padMultiple: 8,
    ...rest,
    loss: { clipLow: 0.2, clipHigh: 0.2, clipC: 3, klCoef: 0.01, aggregation: 'token-mean', ...loss },
  };
}
