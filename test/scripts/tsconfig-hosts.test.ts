// The host boundary is the TypeScript projects (tsconfig.<host>.json): a probe file placed in each
// project's folders must see exactly its host's globals. The probe is compiled in memory with the
// project's own options, so this checks the configs as they are, not a copy of them.
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../..');

function options(project: string): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    path.join(root, project),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error(`cannot read ${project}`);
  return { ...parsed.options, composite: false, incremental: false, noEmit: true, emitDeclarationOnly: false, declaration: false };
}

function fileNames(project: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(root, project), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  return parsed!.fileNames.map((f) => path.relative(root, f).split(path.sep).join('/'));
}

const USES = {
  process: 'export const a = process.pid;',
  Buffer: 'export const b = Buffer.from([1]);',
  require: "export const c = require('node:fs');",
  __dirname: 'export const d = __dirname;',
  document: 'export const e = document.title;',
  window: 'export const f = window.innerWidth;',
  fetch: "export const g = fetch('x');",
  URL: "export const h = new URL('https://x/').host;",
  TextEncoder: "export const i = new TextEncoder().encode('x');",
  performance: 'export const j = performance.now();',
  AbortSignal: 'export const k = AbortSignal.timeout(1);',
  structuredClone: 'export const l = structuredClone({ a: 1 });',
  'navigator.gpu': 'export const m = navigator.gpu;',
} as const;
type Use = keyof typeof USES;

/** The uses among USES that do not compile in a file at `file` (relative to the root) of `project`. */
function refused(project: string, file: string): Use[] {
  const opts = options(project);
  const probe = path.join(root, file);
  const host = ts.createCompilerHost(opts);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  const names = Object.keys(USES) as Use[];
  // One statement a line, so each diagnostic names its use by the line it is on.
  const text = names.map((n) => USES[n]).join('\n') + '\n';
  host.readFile = (f) => (path.resolve(f) === probe ? text : readFile(f));
  host.fileExists = (f) => path.resolve(f) === probe || fileExists(f);
  host.getSourceFile = (f, lang, ...rest) => (path.resolve(f) === probe ? ts.createSourceFile(f, text, lang, true) : getSourceFile(f, lang, ...rest));
  const program = ts.createProgram({ rootNames: [probe, path.join(root, 'src/types.d.ts')], options: opts, host });
  const sf = program.getSourceFile(probe)!;
  const lines = new Set<number>();
  for (const d of [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)]) {
    if (d.start !== undefined) lines.add(sf.getLineAndCharacterOfPosition(d.start).line);
  }
  return names.filter((_, i) => lines.has(i));
}

describe('tsconfig projects: the host boundary', () => {
  it('core code cannot name Node or the DOM, but has the web platform both hosts share', () => {
    expect(refused('tsconfig.core.json', 'src/engine/__host_probe__.ts')).toEqual(['process', 'Buffer', 'require', '__dirname', 'document', 'window']);
  }, 120_000);

  it('app code has the DOM and no Node', () => {
    expect(refused('tsconfig.app.json', 'src/app/__host_probe__.ts')).toEqual(['process', 'Buffer', 'require', '__dirname']);
  }, 120_000);

  it('Node code has Node and no DOM', () => {
    expect(refused('tsconfig.node.json', 'src/cli/__host_probe__.ts')).toEqual(['document', 'window']);
  }, 120_000);

  it('each source file is in exactly one project, and Node-only modules are outside core and app', () => {
    const projects = ['tsconfig.core.json', 'tsconfig.app.json', 'tsconfig.node.json', 'tsconfig.test.json'];
    const owner = new Map<string, string[]>();
    for (const p of projects) {
      for (const f of fileNames(p)) if (f !== 'src/types.d.ts') owner.set(f, [...(owner.get(f) ?? []), p]);
    }
    const sources = ts.sys
      .readDirectory(root, ['.ts', '.tsx'], ['node_modules', 'dist', 'dist-web', '.cache'], ['src/**/*', 'workers/**/*', 'test/**/*', 'e2e/**/*', 'scripts/*'])
      .map((f) => path.relative(root, f).split(path.sep).join('/'))
      .filter((f) => f !== 'src/types.d.ts');
    expect(sources.length).toBeGreaterThan(100);
    expect(sources.filter((f) => (owner.get(f) ?? []).length !== 1)).toEqual([]);
    const nodeOnly = sources.filter((f) => /-node\.ts$/.test(f) || f.startsWith('src/node/') || f.startsWith('src/cli/'));
    expect(nodeOnly.length).toBeGreaterThan(3);
    for (const f of nodeOnly) expect(owner.get(f)).toEqual(['tsconfig.node.json']);
    // Every lazily loaded Node module has the view core code compiles against.
    for (const f of sources.filter((s) => /^src\/.*-node\.ts$/.test(s))) {
      const imported = sources.some((s) => !s.endsWith('-node.ts') && ts.sys.readFile(path.join(root, s))!.includes(`import('./${path.basename(f, '.ts')}')`));
      if (imported) expect(owner.get(f.replace(/\.ts$/, '.core.ts'))).toEqual(['tsconfig.core.json']);
    }
  });
});
