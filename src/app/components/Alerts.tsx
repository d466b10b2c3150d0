import { useJobs } from '../stores/jobs';

/** Errors and notices from the engine, readable and dismissable; never an uncaught rejection. */
export function Alerts() {
  const alerts = useJobs((s) => s.alerts);
  const dismiss = useJobs((s) => s.dismiss);
  if (!alerts.length) return null;
  return (
    <div className="alerts">
      {alerts.map((a) => (
        <div key={a.id} className={`alert ${a.level}`} role="alert" data-testid="alert">
          <span className="alert-message">{a.message}</span>
          <button className="alert-close" aria-label="Dismiss" onClick={() => dismiss(a.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
