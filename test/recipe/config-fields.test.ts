// The run configs' field tables (SFT_FIELDS, GRPO_FIELDS): one entry per setting, from which the
// defaults, the validation spec (config files and --set) and the form's labels are derived. Every
// entry documented, every default valid, and a new entry flowing through to all of them.
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors';
import { GRPO_DEFAULTS, GRPO_FIELDS, GRPO_SPEC, applyGrpoOverrides, grpoConfigFrom } from '../../src/recipe/grpo-config';
import { SFT_DEFAULTS, SFT_FIELDS, SFT_SPEC, applyOverrides, sftConfigFrom } from '../../src/recipe/sft-config';
import {
  applySets,
  checkConfig,
  configFrom,
  defaultsOf,
  fieldAt,
  int,
  num,
  oneOf,
  bool,
  specOf,
  tableLeaves,
  text,
  type AnyTable,
  type FieldSpec,
  type FieldTable,
} from '../../src/recipe/validate';

const refused = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return (e as Error).message;
  }
  throw new Error('expected an InputError');
};

/** Leaf paths of a spec. */
const specLeaves = (spec: Record<string, FieldSpec>, prefix = ''): string[] =>
  Object.entries(spec).flatMap(([k, f]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return f.type === 'object' ? specLeaves(f.fields, p) : [p];
  });

const CONFIGS = [
  { kind: 'sft', table: SFT_FIELDS as AnyTable, defaults: SFT_DEFAULTS, spec: SFT_SPEC, set: (s: string[]) => applyOverrides(SFT_DEFAULTS, s) },
  { kind: 'grpo', table: GRPO_FIELDS as AnyTable, defaults: GRPO_DEFAULTS, spec: GRPO_SPEC, set: (s: string[]) => applyGrpoOverrides(GRPO_DEFAULTS, s) },
];

describe.each(CONFIGS)('the $kind field table', ({ kind, table, defaults, spec, set }) => {
  it('documents every entry with a label and a help text', () => {
    const leaves = tableLeaves(table);
    expect(leaves.length).toBeGreaterThan(30);
    for (const [p, f] of leaves) {
      expect(f.label.trim(), `${p} has no label`).not.toBe('');
      expect(f.help.length, `${p} needs a help text`).toBeGreaterThan(15);
      expect(f.help, `${p}: ${f.help}`).toMatch(/[.)]$/);
      for (const [k, d] of Object.entries(f.type === 'record' ? (f.keys ?? {}) : {})) {
        expect(d.label.trim(), `${p}.${k} has no label`).not.toBe('');
        expect(d.help.length, `${p}.${k} needs a help text`).toBeGreaterThan(15);
      }
    }
  });

  it('derives the defaults and the spec key for key, and every default passes its own check', () => {
    const paths = tableLeaves(table).map(([p]) => p);
    expect(specLeaves(spec)).toEqual(paths);
    const flat = (o: unknown, prefix = ''): string[] =>
      Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => {
        const p = prefix ? `${prefix}.${k}` : k;
        return v !== null && typeof v === 'object' && !Array.isArray(v) && !p.endsWith('.options') ? flat(v, p) : [p];
      });
    expect(flat(defaults)).toEqual(paths);
    for (const [p, f] of tableLeaves(table)) {
      const value = p.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], defaults);
      expect(value, p).toEqual(f.default);
      // The default, set on its own, passes the key's check (--set takes JSON).
      expect(() => set([`${p}=${JSON.stringify(f.default)}`]), p).not.toThrow();
      expect(fieldAt(table, p)?.spec, p).toEqual(specAtPath(spec, p));
    }
    // The whole default config too, the checks across fields included.
    expect(kind === 'sft' ? sftConfigFrom(structuredClone(defaults), 'defaults') : grpoConfigFrom(structuredClone(defaults), 'defaults')).toEqual(defaults);
  });

  it("refuses a value outside an entry's range through --set, naming the key", () => {
    for (const [p, f] of tableLeaves(table)) {
      if (f.type !== 'number' || f.max === undefined) continue;
      const msg = refused(() => set([`${p}=${f.max! * 2 + 1}`]));
      expect(msg).toContain(`--set ${p}=`);
      expect(msg).toContain(`${p} must be <= ${f.max}`);
    }
  });
});

function specAtPath(spec: Record<string, FieldSpec>, path: string): FieldSpec | undefined {
  let f: FieldSpec | undefined = { type: 'object', fields: spec };
  for (const k of path.split('.')) f = f?.type === 'object' ? f.fields[k] : undefined;
  return f;
}

describe('field tables', () => {
  it('give every config its own default objects', () => {
    expect(defaultsOf(SFT_FIELDS)).toEqual(SFT_DEFAULTS);
    expect(defaultsOf(SFT_FIELDS)).not.toBe(SFT_DEFAULTS);
    // SFT and GRPO share the synth table; a change to one's options must not reach the other's.
    expect(SFT_DEFAULTS.data.synth.options).not.toBe(GRPO_DEFAULTS.data.synth.options);
    expect(defaultsOf(GRPO_FIELDS).eval).not.toBe(GRPO_DEFAULTS.eval);
  });

  it('find documented keys of a record, and nothing that is not a leaf', () => {
    expect(fieldAt(SFT_FIELDS as AnyTable, 'data.synth.options.noisyFraction')).toMatchObject({
      label: 'Wrong traces',
      inRecord: true,
      spec: { type: 'number', min: 0, max: 1 },
    });
    expect(fieldAt(SFT_FIELDS as AnyTable, 'data.synth.options')).toMatchObject({ inRecord: false, spec: { type: 'record' } });
    expect(fieldAt(SFT_FIELDS as AnyTable, 'lr')).toMatchObject({ label: 'Learning rate', inRecord: false, spec: { type: 'number', min: 0, max: 1 } });
    for (const p of ['data', 'data.synth', 'nope', 'lr.x', 'data.synth.options.nope', 'data.synth.options.templates.x', 'constructor', 'eval.toString']) {
      expect(fieldAt(SFT_FIELDS as AnyTable, p), p).toBeUndefined();
    }
  });
});

// A config that gains settings: one table entry each (and the interface line) reaches the
// defaults, config files, --set and the form's text.
interface Toy {
  steps: number;
  mode: 'fast' | 'exact';
  name: string;
  opt: { beta: number; on: boolean };
}
const TOY: FieldTable<Toy> = {
  steps: { ...int(1, 100), default: 10, label: 'Steps', help: 'Steps to run, 1 to 100.' },
  mode: { ...oneOf(['fast', 'exact']), default: 'exact', label: 'Mode', help: 'fast skips the checks; exact keeps them.' },
  name: { ...text, default: 'toy', label: 'Name', help: 'What the run is called.' },
  opt: {
    type: 'object',
    fields: {
      beta: { ...num(0, 1), default: 0.5, label: 'Beta', help: 'A fraction between 0 and 1.' },
      on: { ...bool, default: true, label: 'On', help: 'Whether the option applies.' },
    },
  },
};

// Checked by the typecheck (tsc includes test/), not at run time: a table must hold exactly the
// interface's keys, with defaults of their types.
// @ts-expect-error `opt` has no entry
const MISSING_ENTRY: FieldTable<Toy> = { steps: TOY.steps, mode: TOY.mode, name: TOY.name };
// @ts-expect-error `extra` is no key of Toy
const EXTRA_ENTRY: FieldTable<Toy> = { ...TOY, extra: { ...int(0), default: 0, label: 'Extra', help: 'Not a key of the config.' } };
// @ts-expect-error a string default for a number
const WRONG_DEFAULT: FieldTable<Toy> = { ...TOY, steps: { ...int(1, 100), default: '10', label: 'Steps', help: 'Steps to run.' } };
// @ts-expect-error a choice outside the key's type
const WRONG_CHOICE: FieldTable<Toy> = { ...TOY, mode: { ...oneOf(['fast', 'slow']), default: 'fast', label: 'Mode', help: 'Not a mode.' } };
// Referenced so they count as used: their whole job is the four @ts-expect-error lines above.
void [MISSING_ENTRY, EXTRA_ENTRY, WRONG_DEFAULT, WRONG_CHOICE];

describe('a new table entry', () => {
  const defaults = defaultsOf(TOY);
  const spec = specOf(TOY);
  const set = (sets: string[]) => applySets(defaults, sets, spec, (c) => c, '--set');

  it('flows into the defaults and the spec', () => {
    expect(defaults).toEqual({ steps: 10, mode: 'exact', name: 'toy', opt: { beta: 0.5, on: true } });
    expect(spec).toEqual({
      steps: { type: 'number', min: 1, max: 100, integer: true },
      mode: { type: 'string', oneOf: ['fast', 'exact'] },
      name: { type: 'string', oneOf: undefined },
      opt: { type: 'object', fields: { beta: { type: 'number', min: 0, max: 1, integer: false }, on: { type: 'boolean' } } },
    });
  });

  it('is set and checked through --set and config files', () => {
    expect(set(['steps=50', 'opt.beta=0.25', 'mode=fast'])).toEqual({ steps: 50, mode: 'fast', name: 'toy', opt: { beta: 0.25, on: true } });
    expect(defaults.steps).toBe(10);
    expect(refused(() => set(['steps=500']))).toMatch(/--set steps=500.*steps must be <= 100, got 500/);
    expect(refused(() => set(['steps=0']))).toMatch(/steps must be >= 1, got 0/);
    expect(refused(() => set(['steps=2.5']))).toMatch(/steps must be an integer/);
    expect(refused(() => set(['opt.beta=2']))).toMatch(/--set opt\.beta=2.*opt\.beta must be <= 1, got 2/);
    expect(refused(() => set(['mode=slow']))).toMatch(/mode must be one of fast, exact, got "slow"/);
    expect(refused(() => set(['opt.on=yes']))).toMatch(/opt\.on must be true or false/);
    expect(refused(() => set(['opt.gamma=1']))).toMatch(/unknown key "opt\.gamma"; known keys: beta, on/);
    const presets = { base: { config: checkConfig({ steps: 20 }, defaults, spec, 'preset') } };
    expect(configFrom({ extends: 'base', opt: { on: false } }, { presets, defaults, spec, check: (c) => c, where: 'toy.json' })).toEqual({
      steps: 20,
      mode: 'exact',
      name: 'toy',
      opt: { beta: 0.5, on: false },
    });
    expect(refused(() => configFrom({ steps: 101 }, { presets, defaults, spec, check: (c) => c, where: 'toy.json' }))).toMatch(
      /toy\.json.*steps must be <= 100/,
    );
  });
});
