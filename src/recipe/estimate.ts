// How long a run will take, measured rather than guessed: the run's own driver runs its first steps
// on a scratch (memory) workspace with the same items, tokenizer, model and adapter, and the time of
// those steps and of one held-out evaluation is scaled to the whole run. A person deciding whether
// to press Start on a CPU-class adapter needs "about 3 minutes", not a FLOP count; the Train page
// shows it before Start, and the run view re-estimates from the real steps as they come
// (`remainingSeconds`).
import { MemoryWorkspace } from '../io/workspace';
import { InputError } from '../engine/errors';
import type { RunEvent } from './run-events';
import { runSftJob } from './sft-run';
import type { RunJob } from './job';
import { runGrpoJob } from './grpo-run';
import { sftPlan } from './sft';
import { totalSteps as grpoTotalSteps, type GrpoConfig } from './grpo-config';
import type { SftConfig } from './sft-config';
import { evalCount } from './timing';

export { evalCount, remainingSeconds } from './timing';

export interface RunEstimate {
  kind: 'sft' | 'grpo';
  /** Steps the run will take, and seconds per step as measured (after the first, which compiles kernels). */
  totalSteps: number;
  secondsPerStep: number;
  /** Held-out evaluations the run will do, and seconds each. */
  evals: number;
  secondsPerEval: number;
  /** Loading items, training the tokenizer, encoding, building the model. */
  setupSeconds: number;
  totalSeconds: number;
  /** Steps measured for secondsPerStep. */
  measuredSteps: number;
  /** What the estimate itself took. */
  measureSeconds: number;
}

export type EstimateJob = Pick<RunJob, 'open' | 'gpu' | 'generateSynth' | 'signal' | 'configWhere'> &
  ({ kind: 'sft'; config: SftConfig } | { kind: 'grpo'; config: GrpoConfig });

const SFT_MEASURED_STEPS = 3;

/** Run the first steps of `job` on a scratch workspace and scale them to the whole run. */
export async function estimateRun(job: EstimateJob): Promise<RunEstimate> {
  const t0 = performance.now();
  let firstStepAt = 0;
  const stepSeconds: number[] = [];
  const evalSeconds: number[] = [];
  const onEvent = (e: RunEvent) => {
    if (e.type === 'sft-step' || e.type === 'grpo-step') {
      if (!firstStepAt) firstStepAt = performance.now() - e.metrics.seconds * 1000;
      stepSeconds.push(e.metrics.seconds);
    } else if (e.type === 'eval' && e.seconds !== undefined) {
      evalSeconds.push(e.seconds);
    }
  };
  const common = {
    run: new MemoryWorkspace('estimate'),
    name: 'estimate',
    open: job.open,
    gpu: job.gpu,
    signal: job.signal,
    generateSynth: job.generateSynth,
    configWhere: job.configWhere,
    quiet: true,
    onEvent,
  };
  let total: number;
  let evals: number;
  if (job.kind === 'sft') {
    const c = job.config;
    // The same items and model; a few steps, one evaluation at their end, no checkpoint to speak of.
    const probe: SftConfig = {
      ...c,
      maxSteps: SFT_MEASURED_STEPS,
      eval: { ...c.eval, atStart: false, every: 0 },
      checkpoint: { ...c.checkpoint, every: 0, keep: 1, optimizer: false },
    };
    const s = await runSftJob({ ...common, config: probe });
    total = sftPlan(s.data.examples, c).totalSteps;
    evals = evalCount(c.eval, total);
  } else {
    const c = job.config;
    const probe: GrpoConfig = {
      ...c,
      steps: 1,
      eval: { ...c.eval, atStart: false, every: 0 },
      checkpoint: { ...c.checkpoint, every: 0, keep: 1, optimizer: false },
      logRollouts: false,
    };
    const s = await runGrpoJob({ ...common, config: probe });
    total = grpoTotalSteps(c, s.items);
    evals = evalCount(c.eval, total);
  }
  if (stepSeconds.length === 0) throw new InputError('estimate', 'the run stopped before its first step, so there is nothing to measure');
  const measured = stepSeconds.length > 1 ? stepSeconds.slice(1) : stepSeconds;
  const secondsPerStep = measured.reduce((a, b) => a + b, 0) / measured.length;
  const secondsPerEval = evalSeconds.length ? evalSeconds.reduce((a, b) => a + b, 0) / evalSeconds.length : 0;
  const setupSeconds = Math.max(0, (firstStepAt - t0) / 1000);
  return {
    kind: job.kind,
    totalSteps: total,
    secondsPerStep,
    evals,
    secondsPerEval,
    setupSeconds,
    totalSeconds: setupSeconds + total * secondsPerStep + evals * secondsPerEval,
    measuredSteps: measured.length,
    measureSeconds: (performance.now() - t0) / 1000,
  };
}
