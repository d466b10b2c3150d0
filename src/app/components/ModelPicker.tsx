import { useModels, modelLabel } from '../stores/models';

/** The current model (shared by the Data, Evaluate and Ask pages), chosen from saved models and checkpoints. */
export function ModelPicker({ disabled, testId = 'model-picker' }: { disabled?: boolean; testId?: string }) {
  const models = useModels((s) => s.models);
  const current = useModels((s) => s.current);
  const setCurrent = useModels((s) => s.setCurrent);
  if (!models.length) {
    return (
      <span className="muted" data-testid={testId}>
        No model yet: train one on the Train page, or import one on the Models page.
      </span>
    );
  }
  const saved = models.filter((m) => !m.run);
  const ckpts = models.filter((m) => m.run);
  return (
    <select
      className="input"
      aria-label="Model"
      data-testid={testId}
      value={current ?? ''}
      disabled={disabled}
      onChange={(e) => setCurrent(e.target.value || null)}
    >
      {saved.length > 0 && (
        <optgroup label="Saved models">
          {saved.map((m) => (
            <option key={m.path} value={m.path}>
              {modelLabel(m)}
            </option>
          ))}
        </optgroup>
      )}
      {ckpts.length > 0 && (
        <optgroup label="Run checkpoints">
          {ckpts.map((m) => (
            <option key={m.path} value={m.path}>
              {modelLabel(m)}
            </option>
          ))}
        </optgroup>
      )}
    </select>
  );
}
