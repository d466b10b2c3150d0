// Time left for a progress bar. The engine sends an estimate when it has one; run steps and other
// counts that come without one are timed here from the rate since the phase began.
import type { Progress } from '../../lab/api';

export interface Timed extends Progress {
  /** Seconds left: the engine's estimate, or ours from the rate so far; undefined until known. */
  secondsLeft?: number;
}

/**
 * Feeds on successive Progress reports. A new phase (or a count that went backwards) restarts the
 * clock, so the rate of "reading files" does not predict "copying images".
 */
export class EtaTracker {
  private phase = '';
  private t0 = 0;
  private done0 = 0;
  private last = 0;

  update(p: Progress, now: number): Timed {
    if (p.phase !== this.phase || p.done < this.last) {
      this.phase = p.phase;
      this.t0 = now;
      this.done0 = p.done;
    }
    this.last = p.done;
    if (p.etaSeconds !== undefined && Number.isFinite(p.etaSeconds)) return { ...p, secondsLeft: Math.max(0, p.etaSeconds) };
    if (p.total > 0 && p.done >= p.total) return { ...p, secondsLeft: 0 };
    const moved = p.done - this.done0;
    const secs = (now - this.t0) / 1000;
    if (moved <= 0 || secs <= 0 || p.total <= 0) return { ...p };
    return { ...p, secondsLeft: (secs / moved) * (p.total - p.done) };
  }
}

/** Share done in [0, 1]; 0 for an unknown total. */
export function fractionDone(p: Pick<Progress, 'done' | 'total'>): number {
  if (!(p.total > 0)) return 0;
  return Math.min(1, Math.max(0, p.done / p.total));
}
