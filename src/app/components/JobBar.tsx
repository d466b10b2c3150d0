import { useJobs } from '../stores/jobs';
import { ProgressBar } from './ProgressBar';

/** The current job, wherever the user is: its progress and its Cancel/Stop button. */
export function JobBar() {
  const job = useJobs((s) => s.job);
  const cancel = useJobs((s) => s.cancel);
  if (!job) return null;
  const p = job.progress;
  const label = p ? `${job.label} — ${p.phase}` : job.label;
  return (
    <div className="jobbar" data-testid="job">
      <ProgressBar label={label} done={p?.done ?? 0} total={p?.total ?? 0} secondsLeft={p?.secondsLeft} />
      {job.cancelLabel && (
        <button className="btn danger" data-testid="job-cancel" onClick={() => void cancel()} disabled={job.cancelling}>
          {job.cancelling ? `${job.cancelLabel === 'Stop' ? 'Stopping' : 'Cancelling'}…` : job.cancelLabel}
        </button>
      )}
    </div>
  );
}
