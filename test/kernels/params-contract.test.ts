// The contract between every shader's uniform struct and the layout its launcher packs
// (src/engine/uniforms.ts). CommandStream writes the fields in the launcher's declared order, 4
// bytes each; a shader that declares them in another order, with another type, or with one more
// or one less reads the wrong numbers without any error. Pure CPU: the WGSL is read as text.
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { UniformLayout, uniformLayout, type UniformType } from '../../src/engine/uniforms';

const SHADER_DIR = new URL('../../shaders/', import.meta.url);
const shaders = new Map(
  readdirSync(SHADER_DIR)
    .filter((f) => f.endsWith('.wgsl'))
    .sort()
    .map((f) => [f.slice(0, -'.wgsl'.length), readFileSync(new URL(f, SHADER_DIR), 'utf8')]),
);

// Every kernel module, so a layout declared in any of them is found (and one declared nowhere is missed).
const modules = import.meta.glob<Record<string, unknown>>('../../src/engine/kernels/*.ts', { eager: true });
const declared = Object.values(modules).flatMap((m) => Object.values(m).filter((v): v is UniformLayout => v instanceof UniformLayout));

/** WGSL without its comments; block comments nest in WGSL. */
function stripComments(src: string): string {
  let out = '';
  let depth = 0;
  for (let i = 0; i < src.length; i++) {
    if (src.startsWith('/*', i)) {
      depth++;
      i++;
      continue;
    }
    if (depth > 0 && src.startsWith('*/', i)) {
      depth--;
      i++;
      continue;
    }
    if (depth > 0) continue;
    if (src.startsWith('//', i)) {
      const end = src.indexOf('\n', i);
      if (end < 0) break;
      i = end - 1;
      continue;
    }
    out += src[i];
  }
  return out;
}

interface UniformBinding {
  variable: string;
  struct: string;
  group: number | null;
  binding: number | null;
}
type Field = [name: string, type: string];

/** The `var<uniform>` declarations of a shader and the fields of every struct it declares. */
function parseShader(src: string): { uniforms: UniformBinding[]; structs: Map<string, Field[]> } {
  const code = stripComments(src);
  const uniforms: UniformBinding[] = [];
  for (const m of code.matchAll(/((?:@\w+\s*(?:\([^)]*\))?\s*)*)var\s*<\s*uniform\s*>\s*(\w+)\s*:\s*(\w+)\s*;/g)) {
    const attr = (name: string) => {
      const a = m[1].match(new RegExp(`@${name}\\s*\\(\\s*(\\d+)\\s*\\)`));
      return a ? Number(a[1]) : null;
    };
    uniforms.push({ variable: m[2], struct: m[3], group: attr('group'), binding: attr('binding') });
  }
  const structs = new Map<string, Field[]>();
  for (const m of code.matchAll(/\bstruct\s+(\w+)\s*\{([^}]*)\}/g)) {
    const members = m[2]
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    // A member attribute (@align, @size) moves fields off the packed 4-byte grid: keep it in the type so it cannot match.
    structs.set(
      m[1],
      members.map((s): Field => {
        const f = s.match(/^(.*?)(\w+)\s*:\s*(.+)$/s);
        if (!f) return [s, '?'];
        return [f[2], (f[1].trim() ? f[1].trim() + ' ' : '') + f[3].replace(/\s+/g, '')];
      }),
    );
  }
  return { uniforms, structs };
}

const SCALARS: readonly string[] = ['u32', 'i32', 'f32'] satisfies UniformType[];

/** Every way the shaders and the declared layouts disagree; empty when the contract holds. */
function contractProblems(sources: Map<string, string>, layouts: readonly UniformLayout[]): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, UniformLayout[]>();
  for (const l of layouts) {
    const key = `${l.shader}/${l.struct}`;
    byKey.set(key, [...(byKey.get(key) ?? []), l]);
  }
  const bound = new Set<string>();
  for (const [shader, src] of sources) {
    const { uniforms, structs } = parseShader(src);
    for (const u of uniforms) {
      const where = `shaders/${shader}.wgsl var<uniform> ${u.variable}: ${u.struct}`;
      bound.add(`${shader}/${u.struct}`);
      if (u.group !== 0 || u.binding !== 0) problems.push(`${where}: must be @group(0) @binding(0), is @group(${u.group}) @binding(${u.binding})`);
      const fields = structs.get(u.struct);
      if (!fields) {
        problems.push(`${where}: struct ${u.struct} not found`);
        continue;
      }
      for (const [name, type] of fields) {
        if (!SCALARS.includes(type)) problems.push(`${where}: field ${name} is ${type}; the uniform packer handles only ${SCALARS.join(', ')}`);
      }
      const ls = byKey.get(`${shader}/${u.struct}`) ?? [];
      if (ls.length === 0) {
        problems.push(`${where}: no launcher declares uniformLayout('${shader}', '${u.struct}', ...)`);
        continue;
      }
      if (ls.length > 1) problems.push(`${where}: declared ${ls.length} times`);
      const want = fields.map(([n, t]) => `${n}: ${t}`).join(', ');
      const have = ls[0].fields.map(([n, t]) => `${n}: ${t}`).join(', ');
      if (want !== have) problems.push(`${where}: the shader declares { ${want} } but the launcher packs { ${have} }`);
    }
  }
  for (const [key, ls] of byKey) {
    if (!bound.has(key)) problems.push(`uniformLayout('${ls[0].shader}', '${ls[0].struct}'): no shader binds that struct as var<uniform>`);
  }
  return problems;
}

describe('uniform contract between shaders/ and their launchers', () => {
  it('finds the shaders and their uniform structs', () => {
    expect(shaders.size).toBeGreaterThanOrEqual(11);
    // Each shader has at least one uniform block (optimizer.wgsl has three, one per entry point family).
    for (const [name, src] of shaders) expect(parseShader(src).uniforms.length, name).toBeGreaterThan(0);
    expect(parseShader(shaders.get('optimizer')!).uniforms.map((u) => u.struct)).toEqual(['SumsqParams', 'FinalizeParams', 'AdamParams']);
  });

  it("every var<uniform> of every shader matches its launcher's declared layout, field by field", () => {
    expect(contractProblems(shaders, declared)).toEqual([]);
  });

  describe('catches a broken contract', () => {
    const norm = new Map([
      [
        'norm',
        `
      struct Params {
        rows: u32,
        dim: u32, /* a /* nested */ comment */
        eps: f32, // eps: u32,
        accumulate: u32,
      }
      @group(0) @binding(0) var<uniform> p: Params;
    `,
      ],
    ]);
    const ok = uniformLayout('norm', 'Params', { rows: 'u32', dim: 'u32', eps: 'f32', accumulate: 'u32' });
    const shaderWith = (edit: (s: string) => string) => new Map([['norm', edit(norm.get('norm')!)]]);

    it('accepts a matching pair, comments and all', () => {
      expect(contractProblems(norm, [ok])).toEqual([]);
    });

    it('on the launcher side: a field added, removed, reordered or retyped', () => {
      const cases = [
        uniformLayout('norm', 'Params', { rows: 'u32', dim: 'u32', eps: 'f32', accumulate: 'u32', extra: 'u32' }),
        uniformLayout('norm', 'Params', { rows: 'u32', dim: 'u32', eps: 'f32' }),
        uniformLayout('norm', 'Params', { dim: 'u32', rows: 'u32', eps: 'f32', accumulate: 'u32' }),
        uniformLayout('norm', 'Params', { rows: 'u32', dim: 'u32', eps: 'u32', accumulate: 'u32' }),
        uniformLayout('norm', 'Params', { rows: 'u32', dim: 'u32', epsilon: 'f32', accumulate: 'u32' }),
      ];
      for (const l of cases) expect(contractProblems(norm, [l])).toEqual([expect.stringMatching(/shader declares .* but the launcher packs/)]);
    });

    it('on the shader side: a field added, removed, reordered or retyped', () => {
      const edits = [
        (s: string) => s.replace('accumulate: u32,', 'accumulate: u32,\n pad: u32,'),
        (s: string) => s.replace('accumulate: u32,', ''),
        (s: string) => s.replace('rows: u32,', '').replace('accumulate: u32,', 'accumulate: u32, rows: u32,'),
        (s: string) => s.replace('eps: f32,', 'eps: i32,'),
        (s: string) => s.replace('dim: u32,', '@align(16) dim: u32,'),
      ];
      for (const edit of edits) expect(contractProblems(shaderWith(edit), [ok]).length).toBeGreaterThan(0);
      expect(
        contractProblems(
          shaderWith((s) => s.replace('eps: f32,', 'eps: vec2<f32>,')),
          [ok],
        ),
      ).toContain('shaders/norm.wgsl var<uniform> p: Params: field eps is vec2<f32>; the uniform packer handles only u32, i32, f32');
    });

    it('a uniform binding nobody declares, a layout nobody binds, a declaration twice, a binding off slot 0', () => {
      expect(contractProblems(norm, [])).toEqual(["shaders/norm.wgsl var<uniform> p: Params: no launcher declares uniformLayout('norm', 'Params', ...)"]);
      expect(contractProblems(norm, [ok, uniformLayout('norm', 'Other', { n: 'u32' })])).toEqual([
        "uniformLayout('norm', 'Other'): no shader binds that struct as var<uniform>",
      ]);
      expect(contractProblems(norm, [ok, ok])).toEqual(['shaders/norm.wgsl var<uniform> p: Params: declared 2 times']);
      expect(
        contractProblems(
          shaderWith((s) => s.replace('@binding(0)', '@binding(1)')),
          [ok],
        ),
      ).toEqual(['shaders/norm.wgsl var<uniform> p: Params: must be @group(0) @binding(0), is @group(0) @binding(1)']);
    });
  });

  it('a layout fills its fields by name, in declared order, padding as 0', () => {
    const l = uniformLayout('t', 'Params', { n: 'u32', scale: 'f32', off: 'i32', _pad: 'u32' });
    expect([...l.values({ off: -2, scale: 0.5, n: 7 })]).toEqual([
      ['u32', 7],
      ['f32', 0.5],
      ['i32', -2],
      ['u32', 0],
    ]);
    // The type checker holds the names (checked by tsc, not at run time):
    // @ts-expect-error a field left out
    l.values({ n: 1, scale: 1 });
    // @ts-expect-error a field the struct does not have
    l.values({ n: 1, scale: 1, off: 0, extra: 1 });
    // @ts-expect-error padding is not passed
    l.values({ n: 1, scale: 1, off: 0, _pad: 1 });
  });
});
