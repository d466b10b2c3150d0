import { formatBytes, formatCount, kernelPath } from '../lib/format';
import { adapterName, useSession } from '../stores/session';
import { modelLabel, useModels } from '../stores/models';
import { selectBusy, useJobs } from '../stores/jobs';

/** The status area: adapter, its features and limits, the current model's memory need, storage. */
export function Header() {
  const info = useSession((s) => s.info);
  const storage = useSession((s) => s.storage);
  const models = useModels((s) => s.models);
  const current = useModels((s) => s.current);
  const engineBusy = useJobs((s) => s.engineBusy);
  const busy = useJobs(selectBusy);
  const model = models.find((m) => m.path === current);
  const limits = info ? Object.entries(info.limits).sort(([a], [b]) => a.localeCompare(b)) : [];
  return (
    <header className="topbar">
      <div className="brand">
        <span className="logo" aria-hidden>
          ◆
        </span>
        <div>
          <div className="brand-name">Thinker Lab</div>
          <div className="brand-sub">reasoning VLMs, trained in your browser</div>
        </div>
      </div>
      <div className="status">
        {info && (
          <details className="gpu" data-testid="gpu-info">
            <summary>
              <span className={`dot ${busy ? 'busy' : 'idle'}`} title={busy ? `busy: ${engineBusy ?? 'working'}` : 'idle'} />{' '}
              <span data-testid="adapter-name">{adapterName(info)}</span>
            </summary>
            <div className="gpu-details" data-testid="gpu-details">
              <h3>GPU details</h3>
              <p>
                <b>Features:</b> {info.features.length ? info.features.join(', ') : 'none beyond the core'}
              </p>
              <p data-testid="kernel-path">
                <b>Kernels:</b> {kernelPath(info)}
              </p>
              <table className="table compact">
                <tbody>
                  {limits.map(([k, v]) => (
                    <tr key={k}>
                      <td className="mono">{k}</td>
                      <td>{v.toLocaleString()}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        )}
        {model && (
          <div className="stat" data-testid="model-memory" title={`${model.path}: ${formatCount(model.params)} parameters`}>
            <span className="stat-k">model</span>
            <span className="stat-v two-line">
              <span className="stat-main">{modelLabel(model)}</span>
              <span className="stat-sub">
                {formatCount(model.params)} params · GPU memory {formatBytes(model.inferBytes)} to run, {formatBytes(model.trainBytes)} to train
              </span>
            </span>
          </div>
        )}
        {storage && (
          <div className="stat fixed" data-testid="storage" title="this site's share of the browser's storage">
            <span className="stat-k">storage</span>
            <span className="stat-v">
              {formatBytes(storage.usage)}
              {storage.quota ? ` of ${formatBytes(storage.quota)}` : ''}
            </span>
            {storage.quota > 0 && (
              <span className="meter">
                <span style={{ width: `${Math.min(100, (100 * storage.usage) / storage.quota)}%` }} />
              </span>
            )}
          </div>
        )}
      </div>
    </header>
  );
}
