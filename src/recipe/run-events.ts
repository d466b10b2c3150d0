// What a run reports while it runs and what it leaves in run.json: the shapes shared by the run
// drivers (src/recipe/sft-run.ts, grpo-run.ts), the CLI that prints them and the engine worker that
// forwards them to the UI (src/lab/api.ts re-exports them).
import type { SftConfig } from './sft-config';
import type { GrpoConfig } from './grpo-config';
import type { SftStepMetrics } from './sft';
import type { GrpoStepMetrics, GroupRecord } from './grpo';
import type { Progress } from '../util/progress';

export type { Progress };

export type RunKind = 'sft' | 'grpo';

/**
 * running: a job holds the GPU for it now. paused/stopped: ended by the user with a checkpoint.
 * interrupted: the tab closed or the device was lost mid-run (resume continues from the last
 * checkpoint; one cut off before its first checkpoint can only restart). failed: an error ended it
 * (`error` says which). running-elsewhere: another tab holds the run (it runs there); only listRuns
 * says it, run.json never does.
 */
export type RunStatus = 'running' | 'paused' | 'stopped' | 'completed' | 'interrupted' | 'failed' | 'running-elsewhere';

/** run.json of a run folder, and what listRuns reports. */
export interface RunInfo {
  name: string;
  kind: RunKind;
  status: RunStatus;
  /** Steps done, and planned. */
  step: number;
  totalSteps: number;
  /** Steps of the checkpoints on disk, ascending; resume continues from the last. */
  checkpoints: number[];
  config: SftConfig | GrpoConfig;
  createdAt: string;
  updatedAt: string;
  error?: string;
}

export type RunEvent =
  | { type: 'progress'; progress: Progress }
  | { type: 'log'; line: string }
  | { type: 'sft-step'; metrics: SftStepMetrics; totalSteps: number }
  /** A GRPO step's metrics and its groups (prompt, G responses, rewards, advantages, per-token ratios, KL, clipping). */
  | { type: 'grpo-step'; metrics: GrpoStepMetrics; groups: GroupRecord[]; totalSteps: number }
  | {
      type: 'eval';
      step: number;
      items: number;
      formatRate: number;
      accuracy: number;
      rewardMean: number;
      /** Greedy answers that ended within the budget, and their mean length in tokens. */
      finishedRate: number;
      meanResponseTokens: number;
      evalLoss?: number;
      /** How long the evaluation took (the run's time estimate counts the ones still to come). */
      seconds?: number;
    }
  | { type: 'checkpoint'; step: number; reason: 'periodic' | 'final' | 'interrupted' }
  | { type: 'end'; run: RunInfo };
