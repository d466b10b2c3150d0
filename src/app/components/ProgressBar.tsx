import { formatDuration } from '../lib/format';
import { fractionDone } from '../lib/progress';

export interface ProgressBarProps {
  label: string;
  done: number;
  total: number;
  /** Seconds left; omitted while unknown. */
  secondsLeft?: number;
  testId?: string;
}

/** A labelled bar with counts and time left; an unknown total shows a moving stripe instead. */
export function ProgressBar({ label, done, total, secondsLeft, testId = 'progress-bar' }: ProgressBarProps) {
  const known = total > 0;
  const pct = Math.round(fractionDone({ done, total }) * 100);
  return (
    <div className="progress" data-testid={testId}>
      <div className="progress-text">
        <span className="progress-label">{label}</span>
        <span className="progress-counts" data-testid={`${testId}-counts`}>
          {known ? `${done.toLocaleString()} / ${total.toLocaleString()}` : 'working…'}
          {known && done < total ? (secondsLeft !== undefined ? ` · ${formatDuration(secondsLeft)} left` : ' · estimating time left') : ''}
        </span>
      </div>
      <div
        className={`progress-track${known ? '' : ' indeterminate'}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={known ? total : undefined}
        aria-valuenow={known ? done : undefined}
      >
        <div className="progress-fill" style={known ? { width: `${pct}%` } : undefined} />
      </div>
    </div>
  );
}
