// Progress of anything that takes more than a second, and its reporting with time left.

/** Anything that takes more than a second reports this; the UI shows a bar with counts and time left. */
export interface Progress {
  /** What is happening, for the label: "generating synth items", "sampling 16 per question", ... */
  phase: string;
  done: number;
  total: number;
  /** Seconds left at the current rate, when known. */
  etaSeconds?: number;
}

/**
 * Progress reports at most every `everyMs` (and always the last), with the time left at the rate so
 * far. The clock restarts when `clock(p)` changes (by default the phase); a count that runs on
 * across phases (an evaluation's benchmarks) keeps one clock.
 */
export function progressReporter(onProgress: ((p: Progress) => void) | undefined, everyMs = 100, clock: (p: Progress) => string = (p) => p.phase) {
  let t0 = performance.now();
  let last = -Infinity;
  let phase = '';
  return (p: Progress) => {
    if (!onProgress) return;
    const now = performance.now();
    const c = clock(p);
    if (c !== phase) {
      phase = c;
      t0 = now;
    }
    if (p.done < p.total && now - last < everyMs) return;
    last = now;
    const secs = (now - t0) / 1000;
    const out: Progress = { ...p };
    if (p.done > 0 && p.done < p.total && secs > 0) out.etaSeconds = (secs / p.done) * (p.total - p.done);
    else if (p.done >= p.total) out.etaSeconds = 0;
    onProgress(out);
  };
}
