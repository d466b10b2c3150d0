// Fuzzing SFT and GRPO run configs: every key of SFT_SPEC and GRPO_SPEC gets values of the wrong
// type, out of its range, or outside its choices, in a config file and through --set; unknown and
// prototype keys and malformed --set lines too. Each must be an InputError naming the file (or the
// --set line) and the key. Then bad configs go through the sft and grpo commands aimed at a folder
// holding a good run with --force: refused before anything is cleared, the folder unchanged.
import { describe, it, expect, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Gpu } from '../../src/engine/gpu';
import type { FieldSpec } from '../../src/recipe/validate';
import { SFT_DEFAULTS, SFT_SPEC, applyOverrides, sftConfigFrom } from '../../src/recipe/sft-config';
import { GRPO_DEFAULTS, GRPO_SPEC, applyGrpoOverrides, grpoConfigFrom } from '../../src/recipe/grpo-config';
import { runSftCommand } from '../../src/cli/commands/sft';
import { runGrpoCommand } from '../../src/cli/commands/grpo';
import { Fuzz, fuzzRng, type FuzzRng } from './harness';

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every path of a spec with its field, objects included. */
function paths(spec: Record<string, FieldSpec>, prefix = ''): [string, FieldSpec][] {
  return Object.entries(spec).flatMap(([k, f]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return f.type === 'object' ? [[p, f] as [string, FieldSpec], ...paths(f.fields, p)] : [[p, f] as [string, FieldSpec]];
  });
}

/** Values `f` must refuse. */
function badValues(f: FieldSpec, r: FuzzRng): unknown[] {
  switch (f.type) {
    case 'number': {
      const out: unknown[] = [r.pick(['x', '1e3', '']), r.pick([true, false]), r.pick([[], [1]]), { v: 1 }, null];
      if (f.min !== undefined) out.push(f.integer ? f.min - 1 - r.int(5) : f.min - 1e-3 - r.next());
      if (f.max !== undefined) out.push(f.integer ? f.max + 1 + r.int(5) : f.max + 1e-3 + r.next());
      if (f.integer) out.push((f.min ?? 0) + 0.5);
      return out;
    }
    case 'string':
      return [
        5,
        true,
        null,
        [],
        { s: 'x' },
        ...(f.oneOf ? [`${r.pick(f.oneOf)}-nope`, f.oneOf[0].toUpperCase() === f.oneOf[0] ? 'nope' : f.oneOf[0].toUpperCase()] : []),
      ];
    case 'boolean':
      return ['yes', 1, 0, null, 'true'];
    case 'record':
      return [5, 'x', [], null, true, [{ a: 1 }]];
    case 'object':
      return [5, 'x', [], true];
    case 'any':
      return [];
  }
}

/** `{a: {b: v}}` from "a.b". */
const nested = (p: string, v: unknown): Record<string, unknown> => p.split('.').reduceRight<unknown>((acc, k) => ({ [k]: acc }), v) as Record<string, unknown>;

const KINDS = [
  { kind: 'sft', spec: SFT_SPEC, fromFile: (o: unknown) => sftConfigFrom(o, 'run.json'), set: (s: string[]) => applyOverrides(SFT_DEFAULTS, s) },
  { kind: 'grpo', spec: GRPO_SPEC, fromFile: (o: unknown) => grpoConfigFrom(o, 'run.json'), set: (s: string[]) => applyGrpoOverrides(GRPO_DEFAULTS, s) },
];

describe.each(KINDS)('fuzz: $kind config keys', ({ kind, spec, fromFile, set }) => {
  it('every key refuses values of the wrong type, range or choice, in a file and through --set', async () => {
    const f = new Fuzz(`${kind} config`);
    const r = fuzzRng(kind === 'sft' ? 909 : 919);
    const all = paths(spec);
    let keysTried = 0;
    for (const [p, field] of all) {
      const values = badValues(field, r);
      if (values.length) keysTried++;
      for (const v of values) {
        const shown = JSON.stringify(v);
        const key = new RegExp(escapeRe(p));
        await f.check({ name: `run.json ${p}: ${shown}`, run: () => fromFile(nested(p, v)), names: [new RegExp(`^run\\.json.*${escapeRe(p)}`)], bad: true });
        await f.check({ name: `--set ${p}=${shown}`, run: () => set([`${p}=${shown}`]), names: [new RegExp(`^--set ${escapeRe(p)}=`), key], bad: true });
      }
    }
    // The --set form must name the key itself, not just echo the line: checked on the typed ones.
    expect(keysTried).toBe(all.filter(([, fl]) => fl.type !== 'any').length);
    const objects = all.filter(([, fl]) => fl.type === 'object').map(([p]) => p);
    for (let i = 0; i < 60; i++) {
      const at = r.pick(['', ...objects]);
      const name = r.pick(['nope', `x${r.int(1000)}`, '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '']);
      const p = at ? `${at}.${name}` : name;
      await f.check({ name: `--set ${p}=1`, run: () => set([`${p}=1`]), names: [`--set ${p}=1`, `"${p}=1"`], bad: true });
      if (name !== '')
        await f.check({
          name: `run.json ${p}`,
          run: () => fromFile(JSON.parse(at ? JSON.stringify(nested(at, JSON.parse(`{${JSON.stringify(name)}: 1}`))) : `{${JSON.stringify(name)}: 1}`)),
          names: [/^run\.json/],
          bad: true,
        });
      const line = r.pick(['lr', '=1', '.=1', 'eval..every=1', ' =2', 'eval.every', 'seed=']);
      await f.check({ name: `--set ${JSON.stringify(line)}`, run: () => set([line]), names: [`--set`], bad: true });
    }
    for (const v of [5, 'x', [], null, true, [{}]])
      await f.check({ name: `config ${JSON.stringify(v)}`, run: () => fromFile(v), names: [/run\.json|--config/], bad: true });
    expect(({} as Record<string, unknown>).nope).toBeUndefined();
    f.report(400);
  });
});

describe('fuzz: bad configs aimed at a good run with --force', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'thinker-fuzz-configs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const noGpu = new Proxy(
    {},
    {
      get: (_t, k) => {
        throw new Error(`the GPU was touched (${String(k)})`);
      },
    },
  ) as Gpu;

  it('are refused before the old run is cleared; the folder stays byte for byte', async () => {
    const f = new Fuzz('commands');
    const r = fuzzRng(929);
    const run = path.join(dir, 'good-run');
    mkdirSync(path.join(run, 'checkpoint-3'), { recursive: true });
    const files: Record<string, string> = {
      'run.json': '{"name":"good-run","kind":"sft","status":"completed"}',
      'metrics.jsonl': '{"step":3,"loss":0.5}\n',
      'checkpoint-3/config.json': '{}',
      'checkpoint-3/.complete': '{}',
      'notes.txt': 'keep me',
    };
    for (const [k, v] of Object.entries(files)) writeFileSync(path.join(run, k), v);
    const sftPaths = paths(SFT_SPEC).filter(([, fl]) => fl.type !== 'object');
    const grpoPaths = paths(GRPO_SPEC).filter(([, fl]) => fl.type !== 'object');
    for (let i = 0; i < 60; i++) {
      const grpo = r.next() < 0.5;
      const [p, field] = r.pick(grpo ? grpoPaths : sftPaths);
      const v = r.pick(badValues(field, r));
      const file = path.join(dir, `bad-${i}.json`);
      const text = r.next() < 0.15 ? JSON.stringify(nested(p, v)).slice(0, -1) : JSON.stringify(nested(p, v));
      writeFileSync(file, text);
      const o = { config: file, out: run, force: true, quiet: true };
      await f.check({
        name: `${grpo ? 'grpo' : 'sft'} --config {${p}: ${JSON.stringify(v)}}`,
        bad: true,
        names: [file],
        run: () =>
          grpo
            ? runGrpoCommand({ ...o, model: path.join(dir, 'model') }, { gpu: noGpu, handleSignals: false })
            : runSftCommand(o, { gpu: noGpu, handleSignals: false }),
      });
      await f.check({
        name: `${grpo ? 'grpo' : 'sft'} --set ${p}=${JSON.stringify(v)}`,
        bad: true,
        names: [p],
        run: () =>
          grpo
            ? runGrpoCommand(
                { config: 'synth-micro', model: path.join(dir, 'model'), out: run, force: true, set: [`${p}=${JSON.stringify(v)}`] },
                { gpu: noGpu, handleSignals: false },
              )
            : runSftCommand({ config: 'synth-micro', out: run, force: true, set: [`${p}=${JSON.stringify(v)}`] }, { gpu: noGpu, handleSignals: false }),
      });
    }
    for (const [k, v] of Object.entries(files)) expect(readFileSync(path.join(run, k), 'utf8'), k).toBe(v);
    expect(readdirSync(run).sort()).toEqual(['checkpoint-3', 'metrics.jsonl', 'notes.txt', 'run.json']);
    f.report(120);
  });
});
