// Run configs' field tables (each setting's type, range, default, label and help, declared once) and
// what is derived from them: the defaults, and the spec that configs are checked against before any
// GPU work; unknown keys, wrong types and out-of-range values are reported with the config's name and
// the key's path.
import { InputError } from '../engine/errors';

export type FieldSpec =
  | { type: 'number'; min?: number; max?: number; integer?: boolean }
  | { type: 'string'; oneOf?: readonly string[] }
  | { type: 'boolean' }
  | { type: 'object'; fields: Record<string, FieldSpec>; optional?: boolean }
  /** An object whose keys another check reads (the synth generator's options). */
  | { type: 'record' }
  | { type: 'any' };

/** What the Train page's form says of a setting: a short label and a sentence or two of help. */
export interface FormText {
  label: string;
  help: string;
}

export type NumberField = FormText & { type: 'number'; default: number; min?: number; max?: number; integer?: boolean };
export type StringField<V extends string = string> = FormText & { type: 'string'; default: V; oneOf?: readonly V[] };
export type BooleanField = FormText & { type: 'boolean'; default: boolean };
/**
 * An object whose keys another check reads (the synth generator's options): `keys` documents the
 * ones the form shows, each with its own spec (the generator's default applies where unset).
 */
export type RecordField = FormText & { type: 'record'; default: Record<string, unknown>; keys?: Record<string, FormText & { spec: FieldSpec }> };
export interface ObjectField<T> {
  type: 'object';
  fields: FieldTable<T>;
}

/** The table entry a value of type V needs: a leaf for numbers, strings, booleans and records, else a nested table. */
export type FieldFor<V> = [V] extends [boolean]
  ? BooleanField
  : [V] extends [number]
    ? NumberField
    : [V] extends [string]
      ? StringField<V>
      : string extends keyof V
        ? RecordField
        : ObjectField<V>;

/**
 * A run config's field table, the one place a setting is declared: for every key of the config
 * type T its type and range (what `checkConfig` enforces), its default, and its label and help
 * for the form. Typed by T, so a key of T without an entry, or an entry that is no key of T, or a
 * default of the wrong type, is a compile error. `defaultsOf` and `specOf` derive the rest.
 */
export type FieldTable<T> = { [K in keyof T]-?: FieldFor<T[K]> };

/** A table entry that is no nested table. */
export type LeafField = NumberField | StringField | BooleanField | RecordField;
/** Any field table, as the functions below walk it. */
type AnyField = LeafField | { type: 'object'; fields: AnyTable };
export type AnyTable = Record<string, AnyField>;

/** Table entries' types and ranges: `lr: { ...num(0, 1), default: 1e-3, label, help }`. */
export const num = (min?: number, max?: number) => ({ type: 'number' as const, min, max, integer: false });
export const int = (min?: number, max?: number) => ({ type: 'number' as const, min, max, integer: true });
/** A string of any value. */
export const text = { type: 'string' as const };
/** A string of one of `choices`. */
export const oneOf = <S extends string>(choices: readonly S[]) => ({ type: 'string' as const, oneOf: choices });
export const bool = { type: 'boolean' as const };

/** The config every default of `table` makes (fresh objects: no two calls share one). */
export function defaultsOf<T>(table: FieldTable<T>): T {
  const walk = (t: AnyTable): Record<string, unknown> =>
    Object.fromEntries(Object.entries(t).map(([k, f]) => [k, f.type === 'object' ? walk(f.fields) : structuredClone(f.default)]));
  return walk(table as AnyTable) as T;
}

/** The validation spec of `table` (types and ranges; no defaults or docs), for `checkConfig`. */
export function specOf<T>(table: FieldTable<T>): Record<string, FieldSpec> {
  const walk = (t: AnyTable): Record<string, FieldSpec> =>
    Object.fromEntries(
      Object.entries(t).map(([k, f]): [string, FieldSpec] => [k, f.type === 'object' ? { type: 'object', fields: walk(f.fields) } : leafSpec(f)]),
    );
  return walk(table as AnyTable);
}

function leafSpec(f: LeafField): FieldSpec {
  switch (f.type) {
    case 'number':
      return { type: 'number', min: f.min, max: f.max, integer: f.integer };
    case 'string':
      return { type: 'string', oneOf: f.oneOf };
    case 'boolean':
      return { type: 'boolean' };
    case 'record':
      return { type: 'record' };
  }
}

/**
 * The entry at a dotted path: a leaf's label, help and spec, or a documented key of a record
 * (`inRecord`: its spec is its own, not the config's). Undefined for nested tables and unknown paths.
 */
export function fieldAt(table: AnyTable, path: string): (FormText & { spec: FieldSpec; inRecord: boolean }) | undefined {
  const keys = path.split('.');
  let t: AnyTable = table;
  for (let i = 0; i < keys.length; i++) {
    const f = own(t, keys[i]) ? t[keys[i]] : undefined;
    if (!f) return undefined;
    const last = i === keys.length - 1;
    if (f.type === 'object') {
      if (last) return undefined;
      t = f.fields;
      continue;
    }
    if (f.type === 'record' && i === keys.length - 2) {
      const k = keys[i + 1];
      const d = f.keys && own(f.keys, k) ? f.keys[k] : undefined;
      return d && { label: d.label, help: d.help, spec: d.spec, inRecord: true };
    }
    if (!last) return undefined;
    return { label: f.label, help: f.help, spec: leafSpec(f), inRecord: false };
  }
  return undefined;
}

/** Every leaf of a table (records included, their documented keys not) with its dotted path. */
export function tableLeaves(table: AnyTable, prefix = ''): [string, LeafField][] {
  return Object.entries(table).flatMap(([k, f]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return f.type === 'object' ? tableLeaves(f.fields, p) : [[p, f] as [string, LeafField]];
  });
}

/**
 * Names that reach Object.prototype: as a --set path segment, `__proto__` would replace the
 * patch's prototype (its value silently dropped) and `constructor` would resolve to Object.
 */
const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
// An inherited name ("toString", "constructor") is no field of a spec.
const own = (o: object, k: string) => Object.hasOwn(o, k);

/**
 * Merge `input` over `defaults` field by field, checking every key of `input` against `spec`.
 * Returns a new object; `where` names the file or preset in errors.
 */
export function checkConfig<T>(input: unknown, defaults: T, spec: Record<string, FieldSpec>, where: string, path = ''): T {
  if (input === undefined) return structuredClone(defaults);
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InputError(where, `${path || 'config'} must be an object`);
  }
  const out = structuredClone(defaults) as Record<string, unknown>;
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
    const key = path ? `${path}.${k}` : k;
    const f = own(spec, k) ? spec[k] : undefined;
    if (!f) throw new InputError(where, `unknown key "${key}"; known keys: ${Object.keys(spec).join(', ')}`);
    out[k] = checkField(v, (defaults as Record<string, unknown>)[k], f, where, key);
  }
  return out as T;
}

function checkField(v: unknown, def: unknown, f: FieldSpec, where: string, key: string): unknown {
  switch (f.type) {
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(where, `${key} must be a number, got ${JSON.stringify(v)}`);
      if (f.integer && !Number.isInteger(v)) throw new InputError(where, `${key} must be an integer, got ${v}`);
      if (f.min !== undefined && v < f.min) throw new InputError(where, `${key} must be >= ${f.min}, got ${v}`);
      if (f.max !== undefined && v > f.max) throw new InputError(where, `${key} must be <= ${f.max}, got ${v}`);
      return v;
    }
    case 'string':
      if (typeof v !== 'string') throw new InputError(where, `${key} must be a string, got ${JSON.stringify(v)}`);
      if (f.oneOf && !f.oneOf.includes(v)) throw new InputError(where, `${key} must be one of ${f.oneOf.join(', ')}, got "${v}"`);
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') throw new InputError(where, `${key} must be true or false, got ${JSON.stringify(v)}`);
      return v;
    case 'object':
      if (v === null && f.optional) return null;
      return checkConfig(v, def ?? {}, f.fields, where, key);
    case 'record': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InputError(where, `${key} must be an object, got ${JSON.stringify(v)}`);
      const bad = Object.keys(v).find((k) => PROTO_KEYS.has(k));
      if (bad !== undefined) throw new InputError(where, `${key}.${bad} is not a config key`);
      return v;
    }
    case 'any':
      return v;
  }
}

/**
 * Apply `key.path=value` overrides (the CLI's --set, the app's form): the value is JSON when it
 * parses as JSON, else a plain string. Each field is checked as it is set; the checks across
 * fields (`crossCheck`) run once all are set, so the order of the overrides does not matter.
 */
export function applySets<T>(cfg: T, sets: string[], spec: Record<string, FieldSpec>, crossCheck: (c: T, where: string) => T, where: string): T {
  let out = cfg;
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new InputError(where, `expected key.path=value, got "${s}"`);
    const keys = s.slice(0, eq).trim().split('.');
    const bad = keys.find((k) => PROTO_KEYS.has(k));
    if (bad !== undefined) throw new InputError(`${where} ${s}`, `"${bad}" is not a config key`);
    const raw = s.slice(eq + 1);
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    const patch: Record<string, unknown> = {};
    let at = patch;
    keys.forEach((k, i) => {
      if (i === keys.length - 1) at[k] = value;
      else at = (at[k] = {}) as Record<string, unknown>;
    });
    out = checkConfig(patch, out, spec, `${where} ${s}`);
  }
  return sets.length ? crossCheck(out, where) : out;
}

/**
 * A config from a preset name or a parsed JSON object (SFT and GRPO alike). An object may name a
 * preset in "extends" (default: `defaults`); its other keys override it, checked against `spec`,
 * then `check` tests what depends on several fields. `where` names the file in errors.
 */
export function configFrom<T>(
  input: string | unknown,
  o: {
    presets: Record<string, { config: T }>;
    defaults: T;
    spec: Record<string, FieldSpec>;
    check: (c: T, where: string) => T;
    where: string;
  },
): T {
  const names = Object.keys(o.presets).join(', ');
  if (typeof input === 'string') {
    const p = o.presets[input];
    if (!p) throw new InputError('--config', `"${input}" is neither a preset (${names}) nor a .json file`);
    return o.check(structuredClone(p.config), o.where);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new InputError(o.where, 'the config must be a JSON object');
  const { extends: base, ...rest } = input as Record<string, unknown>;
  let start = o.defaults;
  if (base !== undefined) {
    if (typeof base !== 'string' || !o.presets[base]) throw new InputError(o.where, `"extends" must name a preset (${names}), got ${JSON.stringify(base)}`);
    start = o.presets[base].config;
  }
  return o.check(checkConfig(rest, start, o.spec, o.where), o.where);
}
