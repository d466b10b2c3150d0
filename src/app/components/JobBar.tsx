import { useJobs, type Job, type Lane } from '../stores/jobs';
import { ProgressBar } from './ProgressBar';

/** The current jobs, wherever the user is (one per worker): progress and a Cancel/Stop button. */
export function JobBar() {
  const job = useJobs((s) => s.job);
  const pretrained = useJobs((s) => s.pretrainedJob);
  return (
    <>
      {job && <OneJob job={job} lane="engine" testId="job" />}
      {pretrained && <OneJob job={pretrained} lane="pretrained" testId="pretrained-job" />}
    </>
  );
}

function OneJob({ job, lane, testId }: { job: Job; lane: Lane; testId: string }) {
  const cancel = useJobs((s) => s.cancel);
  const p = job.progress;
  const label = p ? `${job.label} — ${p.phase}` : job.label;
  return (
    <div className="jobbar" data-testid={testId}>
      <ProgressBar
        label={label}
        done={p?.done ?? 0}
        total={p?.total ?? 0}
        secondsLeft={p?.secondsLeft}
        testId={lane === 'engine' ? 'progress-bar' : 'pretrained-progress'}
      />
      {job.cancelLabel && (
        <button className="btn danger" data-testid={`${testId}-cancel`} onClick={() => void cancel(lane)} disabled={job.cancelling}>
          {job.cancelling ? `${job.cancelLabel === 'Stop' ? 'Stopping' : 'Cancelling'}…` : job.cancelLabel}
        </button>
      )}
    </div>
  );
}
