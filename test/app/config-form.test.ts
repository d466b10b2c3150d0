import { describe, expect, it } from 'vitest';
import { GRPO_DEFAULTS, GRPO_FIELDS, GRPO_SPEC } from '../../src/recipe/grpo-config';
import { SFT_DEFAULTS, SFT_FIELDS, SFT_SPEC } from '../../src/recipe/sft-config';
import { fieldAt, int, num, tableLeaves, type AnyTable, type FieldSpec, type FieldTable } from '../../src/recipe/validate';
import {
  formGroups,
  getPath,
  GRPO_GROUPS,
  GRPO_NOT_IN_FORM,
  leafPaths,
  setPath,
  SFT_GROUPS,
  SFT_NOT_IN_FORM,
  specAt,
  type FieldGroup,
} from '../../src/app/lib/config-form';

function checkForm(groups: FieldGroup[], spec: Record<string, FieldSpec>, defaults: unknown, notInForm: Record<string, string>) {
  const paths = groups.flatMap((g) => g.fields.map((f) => f.path));
  expect(new Set(paths).size, 'a setting appears twice').toBe(paths.length);
  for (const g of groups) {
    for (const f of g.fields) {
      const s = f.spec ?? specAt(spec, f.path);
      expect(s, `${f.path} is not a config key`).toBeDefined();
      expect(s!.type).not.toBe('object');
      if (!f.spec) expect(getPath(defaults, f.path), `${f.path} has no default`).not.toBeUndefined();
      expect(f.help.length, `${f.path} needs an explanation`).toBeGreaterThan(15);
      // One or two sentences, as the page promises.
      const sentences = f.help.split(/[.!?](?:\s|$)/).filter((x) => x.trim()).length;
      expect(sentences, `${f.path}: ${f.help}`).toBeLessThanOrEqual(3);
    }
  }
  // Every setting has a field, or a stated reason to be set elsewhere.
  for (const leaf of leafPaths(spec)) {
    const covered = paths.includes(leaf) || Object.keys(notInForm).some((k) => leaf === k || leaf.startsWith(`${k}.`));
    expect(covered, `${leaf} is neither in the form nor in NOT_IN_FORM`).toBe(true);
  }
  for (const k of Object.keys(notInForm)) expect(specAt(spec, k), `NOT_IN_FORM names ${k}, which is not a key`).toBeDefined();
}

describe('settings forms', () => {
  it('cover every SFT setting, each with an explanation', () => checkForm(SFT_GROUPS, SFT_SPEC, SFT_DEFAULTS, SFT_NOT_IN_FORM));
  it('cover every GRPO setting, each with an explanation', () => checkForm(GRPO_GROUPS, GRPO_SPEC, GRPO_DEFAULTS, GRPO_NOT_IN_FORM));

  it('explain the GRPO knobs the issue names, outside the advanced group', () => {
    const main = GRPO_GROUPS.filter((g) => !g.advanced).flatMap((g) => g.fields.map((f) => f.path));
    for (const k of [
      'groupSize',
      'clipLow',
      'clipHigh',
      'klCoef',
      'temperature',
      'normalizeStd',
      'lossAgg',
      'dropEqualGroups',
      'lr',
      'steps',
      'checkpoint.every',
    ]) {
      expect(main).toContain(k);
    }
  });
});

describe('config paths', () => {
  it('set a value without touching the original', () => {
    const a = { x: { y: 1, z: 2 }, w: 3 };
    const b = setPath(a, 'x.y', 5);
    expect(b).toEqual({ x: { y: 5, z: 2 }, w: 3 });
    expect(a.x.y).toBe(1);
    expect(b.x).not.toBe(a.x);
    expect(setPath({}, 'p.q.r', true)).toEqual({ p: { q: { r: true } } });
    expect(setPath({ o: { k: 1, j: 2 } }, 'o.k', undefined)).toEqual({ o: { j: 2 } });
    expect(getPath(b, 'x.z')).toBe(2);
    expect(getPath(b, 'x.z.q')).toBeUndefined();
  });

  it('find specs by path', () => {
    expect(specAt(GRPO_SPEC, 'eval.items')).toMatchObject({ type: 'number', integer: true });
    expect(specAt(GRPO_SPEC, 'lossAgg')).toMatchObject({ type: 'string', oneOf: ['token-mean', 'seq-mean-token-mean'] });
    expect(specAt(GRPO_SPEC, 'eval.nope')).toBeUndefined();
    expect(specAt(GRPO_SPEC, 'lr.x')).toBeUndefined();
  });
});

describe('settings forms, from the field tables', () => {
  const FORMS = [
    { kind: 'sft', groups: SFT_GROUPS, table: SFT_FIELDS as AnyTable, notInForm: SFT_NOT_IN_FORM },
    { kind: 'grpo', groups: GRPO_GROUPS, table: GRPO_FIELDS as AnyTable, notInForm: GRPO_NOT_IN_FORM },
  ];

  it.each(FORMS)("$kind: show each field with its table entry's label and help, and exactly the table's keys", ({ groups, table, notInForm }) => {
    const fields = groups.flatMap((g) => g.fields);
    for (const f of fields) {
      const entry = fieldAt(table, f.path);
      expect(entry, `${f.path} is not in the field table`).toBeDefined();
      expect([f.label, f.help]).toEqual([entry!.label, entry!.help]);
      // A synth option carries its own spec; a config key's comes from the config spec.
      expect(f.spec).toEqual(entry!.inRecord ? entry!.spec : undefined);
    }
    const labels = fields.map((f) => f.label);
    expect(new Set(labels).size, `a label appears twice: ${labels.join(', ')}`).toBe(labels.length);
    // The table's keys are the form's fields plus the keys set elsewhere, each once.
    const shown = new Set(fields.map((f) => f.path));
    const elsewhere = (p: string) => Object.keys(notInForm).some((k) => p === k || p.startsWith(`${k}.`));
    for (const [p] of tableLeaves(table)) expect(shown.has(p) !== elsewhere(p), `${p}: in the form ${shown.has(p)}, set elsewhere ${elsewhere(p)}`).toBe(true);
  });

  it('lay out a new table entry with its label and help, and refuse a path the table lacks', () => {
    interface Toy {
      steps: number;
      opt: { beta: number };
      extra: Record<string, unknown>;
    }
    const toy: FieldTable<Toy> = {
      steps: { ...int(1, 100), default: 10, label: 'Steps', help: 'Steps to run, 1 to 100.' },
      opt: { type: 'object', fields: { beta: { ...num(0, 1), default: 0.5, label: 'Beta', help: 'A fraction between 0 and 1.' } } },
      extra: {
        type: 'record',
        default: {},
        label: 'Extra',
        help: 'Options read elsewhere.',
        keys: { size: { spec: int(8, 64), label: 'Size', help: 'A size, 8 to 64.' } },
      },
    };
    const always = () => true;
    const [g] = formGroups(toy as AnyTable, [{ title: 'Toy', intro: 'A toy.', fields: ['steps', { path: 'opt.beta', when: always }, 'extra.size'] }]);
    expect(g).toEqual({
      title: 'Toy',
      intro: 'A toy.',
      fields: [
        { path: 'steps', label: 'Steps', help: 'Steps to run, 1 to 100.' },
        { path: 'opt.beta', label: 'Beta', help: 'A fraction between 0 and 1.', when: always },
        { path: 'extra.size', label: 'Size', help: 'A size, 8 to 64.', spec: { type: 'number', min: 8, max: 64, integer: true } },
      ],
    });
    for (const p of ['nope', 'opt', 'opt.gamma', 'extra.other']) {
      expect(() => formGroups(toy as AnyTable, [{ title: 'Toy', fields: [p] }]), p).toThrow(new RegExp(`form field ${p.replace('.', '\\.')} is not in`));
    }
  });
});

describe('the LoRA fields', () => {
  const field = (groups: FieldGroup[], path: string) => groups.flatMap((g) => g.fields).find((f) => f.path === path)!;
  it('SFT shows the rank once a start model is picked, and alpha and targets once a rank is set', () => {
    const rank = field(SFT_GROUPS, 'model.lora.rank');
    const alpha = field(SFT_GROUPS, 'model.lora.alpha');
    const scratch = SFT_DEFAULTS;
    const started = setPath(SFT_DEFAULTS, 'model.init', 'models/base');
    expect([rank.when!(scratch), alpha.when!(scratch)]).toEqual([false, false]);
    expect([rank.when!(started), alpha.when!(started)]).toEqual([true, false]);
    const adapted = setPath(started, 'model.lora.rank', 8);
    expect([rank.when!(adapted), alpha.when!(adapted), field(SFT_GROUPS, 'model.lora.targets').when!(adapted)]).toEqual([true, true, true]);
    expect([field(SFT_GROUPS, 'model.lora.base').when!(started), field(SFT_GROUPS, 'model.lora.base').when!(adapted)]).toEqual([false, true]);
    expect(SFT_DEFAULTS.model.lora).toEqual({ rank: 0, alpha: 16, targets: 'all', base: 'f32' });
  });

  it('GRPO always shows the rank (its start model is always picked), alpha and targets once a rank is set', () => {
    expect(field(GRPO_GROUPS, 'lora.rank').when).toBeUndefined();
    const alpha = field(GRPO_GROUPS, 'lora.alpha');
    expect(alpha.when!(GRPO_DEFAULTS)).toBe(false);
    expect(alpha.when!(setPath(GRPO_DEFAULTS, 'lora.rank', 4))).toBe(true);
  });
});
