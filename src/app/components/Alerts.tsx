import type { PageId } from '../lib/route';
import { useJobs } from '../stores/jobs';

/**
 * Errors and notices of the page shown, readable and dismissable; never an uncaught rejection.
 * They sit in the page's flow, above its content, so they never cover a control; those of other
 * pages wait there, counted on the page's link (AlertCount).
 */
export function Alerts({ page }: { page: PageId }) {
  const alerts = useJobs((s) => s.alerts).filter((a) => a.page === page);
  const dismiss = useJobs((s) => s.dismiss);
  if (!alerts.length) return null;
  return (
    <div className="alerts" data-testid="alerts">
      {alerts.map((a) => (
        <div key={a.id} className={`alert ${a.level}`} role={a.level === 'error' ? 'alert' : 'status'} data-testid="alert">
          <span className="alert-message">{a.message}</span>
          <button className="alert-close" aria-label="Dismiss" data-testid="alert-dismiss" onClick={() => dismiss(a.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

/** How many alerts wait on a page that is not shown. */
export function AlertCount({ page }: { page: PageId }) {
  const n = useJobs((s) => s.alerts.filter((a) => a.page === page).length);
  if (!n) return null;
  return (
    <span className="nav-alerts" data-testid={`nav-alerts-${page}`} role="img" aria-label={`${n} alert${n === 1 ? '' : 's'}`}>
      {n}
    </span>
  );
}
