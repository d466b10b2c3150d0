import { useEffect, useState, type ReactNode } from 'react';
import type { FieldSpec } from '../../recipe/validate';
import { getPath, specAt, type FieldDoc, type FieldGroup } from '../lib/config-form';
import { TemplatePicker } from './TemplatePicker';

/** A labelled control with its explanation under it. */
export function Labeled({ label, help, children, htmlFor, wide }: { label: string; help?: ReactNode; children: ReactNode; htmlFor?: string; wide?: boolean }) {
  return (
    <div className={wide ? 'field wide' : 'field'}>
      <label className="field-label" htmlFor={htmlFor}>
        {label}
      </label>
      <div className="field-control">{children}</div>
      {help && <div className="field-help">{help}</div>}
    </div>
  );
}

/**
 * A number typed as text: drafts like "1e-" or "0." stay in the box while typed, and only values
 * that parse reach the config. Empty means "unset" where `optional`.
 */
export function NumberInput({
  value,
  onChange,
  id,
  disabled,
  optional,
  integer,
  min,
  max,
  placeholder,
  label,
}: {
  value: number | undefined;
  onChange: (v: number | undefined) => void;
  id?: string;
  disabled?: boolean;
  optional?: boolean;
  integer?: boolean;
  min?: number;
  max?: number;
  placeholder?: string;
  /** The accessible name when no <label for> names the input. */
  label?: string;
}) {
  const [text, setText] = useState(value === undefined ? '' : String(value));
  // biome-ignore lint/correctness/useExhaustiveDependencies: only an outside change of the value rewrites the draft, not typing.
  useEffect(() => {
    if (value === undefined ? text !== '' : Number(text) !== value) setText(value === undefined ? '' : String(value));
  }, [value]);
  const parsed = text.trim() === '' ? undefined : Number(text);
  const bad =
    (parsed === undefined && !optional) ||
    (parsed !== undefined &&
      (!Number.isFinite(parsed) || (integer && !Number.isInteger(parsed)) || (min !== undefined && parsed < min) || (max !== undefined && parsed > max)));
  return (
    <input
      id={id}
      className={`input num${bad ? ' invalid' : ''}`}
      type="text"
      inputMode="decimal"
      value={text}
      disabled={disabled}
      placeholder={placeholder}
      aria-invalid={bad || undefined}
      aria-label={label}
      onChange={(e) => {
        setText(e.target.value);
        const t = e.target.value.trim();
        if (t === '') {
          if (optional) onChange(undefined);
          return;
        }
        const v = Number(t);
        if (Number.isFinite(v)) onChange(v);
      }}
    />
  );
}

export function ConfigField({
  doc,
  spec,
  config,
  onChange,
  disabled,
}: {
  doc: FieldDoc;
  spec: Record<string, FieldSpec>;
  config: unknown;
  onChange: (path: string, v: unknown) => void;
  disabled?: boolean;
}) {
  const f = doc.spec ?? specAt(spec, doc.path);
  const id = `f-${doc.path.replace(/\./g, '-')}`;
  const value = getPath(config, doc.path);
  let control: ReactNode;
  if (doc.control === 'templates') {
    control = (
      <TemplatePicker
        kind={String(getPath(config, 'data.synth.kind') ?? 'text')}
        value={Array.isArray(value) ? (value as string[]) : undefined}
        onChange={(v) => onChange(doc.path, v)}
        disabled={disabled}
        testId={id}
      />
    );
  } else if (!f) control = <span className="muted">unknown setting</span>;
  else if (f.type === 'boolean') {
    control = <input id={id} type="checkbox" checked={value === true} disabled={disabled} onChange={(e) => onChange(doc.path, e.target.checked)} />;
  } else if (f.type === 'number') {
    control = (
      <NumberInput
        id={id}
        value={typeof value === 'number' ? value : undefined}
        disabled={disabled}
        optional={!!doc.spec}
        integer={f.integer}
        min={f.min}
        max={f.max}
        placeholder={doc.spec ? '0' : undefined}
        onChange={(v) => onChange(doc.path, v)}
      />
    );
  } else if (f.type === 'string' && f.oneOf) {
    control = (
      <select id={id} className="input" value={String(value ?? '')} disabled={disabled} onChange={(e) => onChange(doc.path, e.target.value)}>
        {f.oneOf.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    );
  } else {
    control = (
      <input id={id} className="input" type="text" value={String(value ?? '')} disabled={disabled} onChange={(e) => onChange(doc.path, e.target.value)} />
    );
  }
  return (
    <Labeled label={doc.label} help={doc.help} htmlFor={doc.control ? undefined : id} wide={doc.control === 'templates'}>
      {control}
    </Labeled>
  );
}

/** A settings form from field groups; advanced groups start collapsed. */
export function ConfigGroups({
  groups,
  spec,
  config,
  onChange,
  disabled,
  testId,
}: {
  groups: FieldGroup[];
  spec: Record<string, FieldSpec>;
  config: unknown;
  onChange: (path: string, v: unknown) => void;
  disabled?: boolean;
  testId: string;
}) {
  return (
    <div className="config-groups" data-testid={testId}>
      {groups.map((g) => {
        const fields = g.fields.filter((d) => !d.when || d.when(config));
        if (!fields.length) return null;
        const body = (
          <>
            {g.intro && <p className="group-intro">{g.intro}</p>}
            <div className="fields">
              {fields.map((d) => (
                <ConfigField key={d.path} doc={d} spec={spec} config={config} onChange={onChange} disabled={disabled} />
              ))}
            </div>
          </>
        );
        return g.advanced ? (
          <details key={g.title} className="group">
            <summary className="group-title">{g.title}</summary>
            {body}
          </details>
        ) : (
          <fieldset key={g.title} className="group">
            <legend className="group-title">{g.title}</legend>
            {body}
          </fieldset>
        );
      })}
    </div>
  );
}
