// Errors the engine raises. Every failure a user can cause or meet (no adapter, a lost device,
// a kernel that failed validation, a bad file) becomes one of these with a message that names
// what went wrong and where, instead of a crash deep in a dispatch.

export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineError';
  }
}

/** WebGPU is missing or no adapter could be had. */
export class NoWebGPUError extends EngineError {
  constructor(message: string) {
    super(message);
    this.name = 'NoWebGPUError';
  }
}

/** The GPU device was lost (driver reset, tab in background too long, out of memory...). */
export class DeviceLostError extends EngineError {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(`GPU device lost (${reason}): ${message || 'no message from the driver'}. ` + 'Reload the model from its last checkpoint to continue.');
    this.name = 'DeviceLostError';
  }
}

/** A GPU validation / out-of-memory / internal error caught by an error scope around a submission. */
export class GpuCommandError extends EngineError {
  constructor(
    readonly kind: 'validation' | 'out-of-memory' | 'internal',
    readonly where: string,
    message: string,
  ) {
    super(`GPU ${kind} error in ${where}: ${message}`);
    this.name = 'GpuCommandError';
  }
}

/**
 * A training step produced a NaN or infinite loss or gradient norm: the weights are lost from that
 * step on, so the run stops there and the last checkpoint saved before it is the one to go back to.
 */
export class DivergedError extends EngineError {
  constructor(
    readonly step: number,
    readonly what: 'loss' | 'gradient norm',
    readonly value: number,
    readonly lastCheckpoint: string | null = null,
  ) {
    super(
      `training diverged at step ${step}: the ${what} is ${value} (lower the learning rate, or keep gradClip on); ` +
        (lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint}` : 'no checkpoint was saved before it'),
    );
    this.name = 'DivergedError';
  }

  /** The same error, naming the run's last checkpoint (the loops do not know their files). */
  withCheckpoint(where: string | null): DivergedError {
    return new DivergedError(this.step, this.what, this.value, where);
  }

  /** The error for a step's loss and gradient norm, or null when both are finite. */
  static check(step: number, loss: number, gradNorm: number): DivergedError | null {
    if (!Number.isFinite(loss)) return new DivergedError(step, 'loss', loss);
    if (!Number.isFinite(gradNorm)) return new DivergedError(step, 'gradient norm', gradNorm);
    return null;
  }
}

/** Bad input from a file, a config or a user action; `where` names the file or field. */
export class InputError extends Error {
  constructor(
    readonly where: string,
    problem: string,
  ) {
    super(`${where}: ${problem}`);
    this.name = 'InputError';
  }
}

/** What a cancelled job (ctx.cancel) rejects with. */
export function cancelled(job: string): EngineError {
  return new EngineError(`${job} was cancelled`);
}
