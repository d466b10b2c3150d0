// Fuzzing dataset rows (recipe JSONL, a CSV or JSONL through a column mapping) and the grader's
// input lines. A bad row stops a strict load with an InputError naming its file and line, and a
// lenient load drops exactly that row with the same place and keeps the rest; a bad grader line is
// an InputError naming its line, and a batch keeps one output line per input line.
import { describe, it } from 'vitest';
import { MemoryWorkspace } from '../../src/io/workspace';
import { loadRecipeJsonl } from '../../src/data/loaders/recipe';
import { loadGeneric } from '../../src/data/loaders/generic';
import { parseCsv } from '../../src/data/csv';
import { gradeLine, runGrade } from '../../src/cli/commands/grade';
import { pngFile } from '../data/helpers';
import { Fuzz, fuzzRng, type FuzzRng } from './harness';

const good = (r: FuzzRng, i: number) => {
  const options = { A: `yes ${i}`, B: `no ${i}`, C: 'maybe' };
  const label = r.pick(['A', 'B', 'C'] as const);
  return { question: `Question ${i}: is it ${r.int(100)}?`, options, answer_label: label, answer: options[label], images: r.next() < 0.3 ? ['img/a.png'] : [] };
};

/** Rows no loader may take: what is wrong, and the line as written. */
function badRow(r: FuzzRng, i: number): [string, string] {
  const g = good(r, i);
  const row = (o: Record<string, unknown>) => JSON.stringify({ ...g, ...o });
  const cases: [string, () => string][] = [
    ['invalid JSON', () => JSON.stringify(g).slice(0, r.range(1, 20))],
    ['not an object', () => JSON.stringify(r.pick([5, 'row', [g], true, null]))],
    ['question missing', () => row({ question: undefined })],
    ['question not text', () => row({ question: r.pick([5, null, [], { q: 1 }]) })],
    ['question empty', () => row({ question: '   ' })],
    ['options not options', () => row({ options: r.pick([5, 'A. yes', {}, [5], { A: [1] }, '{"A": ', null]) })],
    ['option empty', () => row({ options: { ...g.options, B: '' } })],
    ['label not text', () => row({ answer_label: r.pick([5, null, ['A']]) })],
    ['label not an option', () => row({ answer_label: r.pick(['Z', 'a', '', 'AB']) })],
    ['answer differs', () => row({ answer: 'something else' })],
    ['images not a list', () => row({ images: r.pick(['img/a.png', 5, { a: 1 }, [5]]) })],
    ['image missing', () => row({ images: ['img/none.png'] })],
  ];
  const [what, make] = r.pick(cases);
  return [what, make()];
}

describe('fuzz: recipe JSONL rows', () => {
  it('strict loads stop at the bad line, lenient ones drop exactly it', async () => {
    const f = new Fuzz('recipe JSONL');
    const r = fuzzRng(606);
    const png = pngFile(2, 2, new Uint8Array(16).fill(9));
    for (let i = 0; i < 200; i++) {
      const n = r.range(1, 6);
      const lines = Array.from({ length: n }, (_, k) => JSON.stringify(good(r, k)));
      const at = r.int(n + 1);
      const [what, bad] = badRow(r, at);
      lines.splice(at, 0, bad);
      const src = new MemoryWorkspace('ds', { 'items.jsonl': `${lines.join('\n')}\n`, 'img/a.png': png });
      const where = `items.jsonl:${at + 1}`;
      await f.check({
        name: `${what} at line ${at + 1}: ${bad.slice(0, 60)}`,
        run: () => loadRecipeJsonl(src, 'items.jsonl', { onBad: 'stop' }),
        names: [`${where}:`],
        bad: true,
      });
      await f.check({
        name: `lenient, ${what} at line ${at + 1}`,
        bad: false,
        names: [where],
        run: async () => {
          const res = await loadRecipeJsonl(src, 'items.jsonl', { onBad: 'skip' });
          const dropped = res.report.dropped.map((d) => d.where);
          if (res.items.length !== n || dropped.join() !== where)
            throw new Error(`kept ${res.items.length} of ${n} good rows, dropped ${dropped.join(', ')} instead of ${where}`);
        },
      });
    }
    f.report(200);
  });
});

describe('fuzz: CSV and JSONL through a column mapping', () => {
  it('bad records name the file and line; random CSV text parses or names where a quote never closes', async () => {
    const f = new Fuzz('generic loader');
    const r = fuzzRng(707);
    const columns = { question: 'q', options: 'opts', answerLabel: 'label' };
    const csvRow = (q: string, opts: string, label: string) => [q, opts, label].map((c) => `"${c.replace(/"/g, '""')}"`).join(',');
    const goodCsv = (k: number) => csvRow(`Is ${k} odd?`, JSON.stringify({ A: 'yes', B: 'no' }), k % 2 ? 'A' : 'B');
    for (let i = 0; i < 150; i++) {
      const n = r.range(1, 5);
      const rows = Array.from({ length: n }, (_, k) => goodCsv(k));
      const at = r.int(n + 1);
      const [what, bad] = r.pick<[string, string]>([
        ['too few columns', '"Is it?","{}"'],
        ['too many columns', `${goodCsv(1)},"extra"`],
        ['empty options', csvRow('Is it?', '{}', 'A')],
        ['options not parsable', csvRow('Is it?', 'A yes B no', 'A')],
        ['label not an option', csvRow('Is it?', JSON.stringify({ A: 'yes', B: 'no' }), 'Q')],
        ['empty question', csvRow('', JSON.stringify({ A: 'yes', B: 'no' }), 'A')],
      ]);
      rows.splice(at, 0, bad);
      const src = new MemoryWorkspace('ds', { 'd.csv': ['q,opts,label', ...rows].join('\n') + '\n' });
      await f.check({
        name: `csv ${what} at record ${at + 1}`,
        bad: true,
        names: [`d.csv:${at + 2}`],
        run: () => loadGeneric(src, { file: 'd.csv', columns, datasetName: 'fz', onBad: 'stop' }),
      });
      // A quote left open runs to the end of the file (any later quote would close it).
      const unclosed = new MemoryWorkspace('ds', {
        'd.csv': ['q,opts,label', ...Array.from({ length: at }, (_, k) => goodCsv(k)), '"never closed,x,y\nmore'].join('\n'),
      });
      await f.check({
        name: `csv quote opened at line ${at + 2}`,
        bad: true,
        names: [`ds/d.csv:${at + 2}`],
        run: () => loadGeneric(unclosed, { file: 'd.csv', columns, datasetName: 'fz', onBad: 'stop' }),
      });
      const jsonl = new MemoryWorkspace('ds', {
        'd.jsonl': [...Array.from({ length: n }, (_, k) => JSON.stringify({ q: `Is ${k}?`, opts: { A: 'y', B: 'n' }, label: 'A' })), '{"q": "Is'].join('\n'),
      });
      await f.check({
        name: 'jsonl with a torn last line',
        bad: true,
        names: [`d.jsonl:${n + 1}`],
        run: () => loadGeneric(jsonl, { file: 'd.jsonl', columns, datasetName: 'fz', onBad: 'stop' }),
      });
      const soup = Array.from({ length: r.int(60) }, () => r.pick(['a', ',', '"', '\n', '\r', '""', ' ', '\t'])).join('');
      await f.check({ name: `csv soup ${JSON.stringify(soup).slice(0, 40)}`, bad: false, names: ['soup.csv:'], run: () => parseCsv(soup, 'soup.csv') });
    }
    f.report(450);
  });
});

describe('fuzz: grader lines', () => {
  it('bad lines name their line number, good odd ones are graded, a batch stays aligned', async () => {
    const f = new Fuzz('grader lines');
    const r = fuzzRng(808);
    const line = (o: Record<string, unknown>) =>
      JSON.stringify({ response: '<think>x</think><answer>A</answer>', options: { A: 'Yes', B: 'No' }, answer_label: 'A', answer: 'Yes', ...o });
    const bads: (() => string)[] = [
      () => line({}).slice(0, r.range(1, 30)),
      () => JSON.stringify(r.pick([5, 'x', [1], null, true])),
      () => line({ response: r.pick([5, null, [], { a: 1 }]) }),
      () => line({ response: undefined }),
      () => line({ options: r.pick([5, {}, 'Yes/No', [5], null]) }),
      () => line({ answer_label: r.pick(['C', 5, null, '', 'a']) }),
      () => line({ answer: r.pick([5, [], { x: 1 }]) }),
    ];
    const odd = () =>
      line({
        response: r.pick([
          '',
          '<answer></answer>',
          '<think><think></think>',
          'A'.repeat(r.int(5000)),
          '\u0000\uffff<answer>B</answer>',
          '<answer>A</answer>'.repeat(50),
          '🙂 B',
        ]),
      });
    for (let i = 0; i < 150; i++) {
      const n = r.range(1, 999);
      const bad = r.pick(bads)();
      await f.check({ name: `line ${n}: ${bad.slice(0, 60)}`, run: () => gradeLine(bad, n), names: [`stdin:${n}:`], bad: true });
      const ok = odd();
      await f.check({ name: `odd line ${ok.slice(0, 60)}`, run: () => gradeLine(ok, n), names: [`stdin:${n}`], bad: false });
      const batch = Array.from({ length: r.range(1, 6) }, () => (r.next() < 0.5 ? r.pick(bads)() : odd()));
      await f.check({
        name: `batch of ${batch.length}`,
        bad: false,
        names: ['stdin'],
        run: async () => {
          const out: string[] = [];
          const { graded, bad: nBad } = await runGrade(
            ['', ...batch],
            (s) => out.push(s),
            () => undefined,
          );
          const errors = out.filter((o) => 'error' in JSON.parse(o)).length;
          if (out.length !== batch.length || graded + nBad !== batch.length || errors !== nBad)
            throw new Error(`${out.length} outputs for ${batch.length} lines (${nBad} bad, ${errors} error rows)`);
        },
      });
    }
    f.report(150);
  });
});
