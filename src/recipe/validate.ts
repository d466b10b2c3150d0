// Checking run configs before any GPU work: unknown keys, wrong types and out-of-range values are
// reported with the config's name and the key's path.
import { InputError } from '../engine/errors';

export type FieldSpec =
  | { type: 'number'; min?: number; max?: number; integer?: boolean }
  | { type: 'string'; oneOf?: readonly string[] }
  | { type: 'boolean' }
  | { type: 'object'; fields: Record<string, FieldSpec>; optional?: boolean }
  /** An object whose keys another check reads (the synth generator's options). */
  | { type: 'record' }
  | { type: 'any' };

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
    try { value = JSON.parse(raw); } catch { value = raw; }
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
export function configFrom<T>(input: string | unknown, o: {
  presets: Record<string, { config: T }>; defaults: T; spec: Record<string, FieldSpec>; check: (c: T, where: string) => T; where: string;
}): T {
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
