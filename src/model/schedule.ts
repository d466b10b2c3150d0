// Learning-rate schedules as pure functions of the step, so a resumed run continues exactly.

/** Linear warmup over `warmup` steps, then cosine decay to minRatio*lr at `total` steps (transformers' get_cosine_schedule_with_warmup with a floor). */
export function cosineWithWarmup(step: number, total: number, lr: number, warmup: number, minRatio = 0): number {
  if (warmup > 0 && step < warmup) return (lr * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup);
  const progress = Math.min(1, (step - warmup) / span);
  return lr * (minRatio + (1 - minRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}
