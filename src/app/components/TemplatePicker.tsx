import { templatesOfKind } from '../lib/run-config';

/**
 * The synth question templates of a kind, as checkboxes folded under a summary. Nothing ticked
 * means every template of the kind; `onChange` gets undefined then.
 */
export function TemplatePicker({
  kind,
  value,
  onChange,
  disabled,
  testId,
}: {
  kind: string;
  value: readonly string[] | undefined;
  onChange: (names: string[] | undefined) => void;
  disabled?: boolean;
  testId?: string;
}) {
  const templates = templatesOfKind(kind);
  const chosen = (value ?? []).filter((n) => templates.some((t) => t.name === n));
  const toggle = (name: string, on: boolean) => {
    const next = on ? [...chosen, name] : chosen.filter((n) => n !== name);
    onChange(next.length ? next : undefined);
  };
  return (
    <details className="templates" data-testid={testId}>
      <summary>
        {chosen.length
          ? `${chosen.length} of ${templates.length} templates: ${chosen.join(', ')}`
          : `all ${templates.length} ${kind === 'mixed' ? '' : `${kind} `}templates`}
      </summary>
      <div className="template-list">
        {templates.map((t) => (
          <label key={t.name} className="check" title={t.about}>
            <input
              type="checkbox"
              disabled={disabled}
              checked={chosen.includes(t.name)}
              data-testid={testId ? `${testId}-${t.name}` : undefined}
              onChange={(e) => toggle(t.name, e.target.checked)}
            />
            <span>
              <code>{t.name}</code> <span className="muted">{t.about}</span>
            </span>
          </label>
        ))}
      </div>
    </details>
  );
}
