import { selectBusy, selectPretrainedBusy, useJobs } from '../stores/jobs';
import { usePretrained, type Backend } from '../stores/pretrained';
import { ModelPicker } from './ModelPicker';

/**
 * Which model answers on this page: a lab model (the engine worker, chosen from saved models and
 * checkpoints) or the pretrained model loaded on the Models page (the transformers.js worker).
 */
export function BackendPicker({ testId = 'backend' }: { testId?: string }) {
  const backend = usePretrained((s) => s.backend);
  const setBackend = usePretrained((s) => s.setBackend);
  const loaded = usePretrained((s) => s.loaded);
  const ready = usePretrained((s) => s.ready);
  const refresh = usePretrained((s) => s.refresh);
  const busy = useBackendBusy();
  const pick = (b: Backend) => {
    setBackend(b);
    // The pretrained worker starts only when someone asks for it (its bundle is large).
    if (b === 'pretrained' && !ready) void refresh();
  };
  return (
    <div className="backend-picker">
      <div className="segmented" role="radiogroup" aria-label="which model answers" data-testid={testId}>
        {(['lab', 'pretrained'] as const).map((b) => (
          <label key={b} className={backend === b ? 'on' : undefined}>
            <input type="radio" name={testId} value={b} checked={backend === b} disabled={busy} data-testid={`${testId}-${b}`} onChange={() => pick(b)} />
            {b === 'lab' ? 'Lab model' : 'Pretrained model'}
          </label>
        ))}
      </div>
      {backend === 'lab' ? (
        <ModelPicker disabled={busy} />
      ) : loaded ? (
        <span data-testid="pretrained-current">
          <b>{loaded.id}</b>{' '}
          <span className="muted small">
            {loaded.kind === 'text' ? 'text only' : loaded.kind === 'caption' ? 'captions' : 'images and text'} · {loaded.dtype ?? 'default dtype'} on{' '}
            {loaded.device}
          </span>
        </span>
      ) : (
        <span className="muted" data-testid="pretrained-current">
          No pretrained model loaded: <a href="#models">load one on the Models page</a>.
        </span>
      )}
    </div>
  );
}

/** True while the chosen backend's worker has a job: that page's action buttons wait. */
export function useBackendBusy(): boolean {
  const backend = usePretrained((s) => s.backend);
  return useJobs((s) => (backend === 'lab' ? selectBusy(s) : selectPretrainedBusy(s)));
}
