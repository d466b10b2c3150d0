import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { itemHash, itemProblem, lettered, makeItem, sha256Hex } from '../../src/task/schema';
import { goldLetter, parseOptions } from '../../src/data/loaders/common';
import { Collector } from '../../src/data/report';

describe('item schema', () => {
  it('hash = first 16 hex of sha256(question + answer), via Web Crypto, UTF-8', async () => {
    for (const [q, a] of [
      ['Is this a CT or an MRI?', 'MRI'],
      ['', ''],
      ['Ünïcode — 肺?', 'Yes'],
      ['q'.repeat(5000), 'x'],
    ]) {
      expect(await itemHash(q, a)).toBe(
        createHash('sha256')
          .update(q + a, 'utf8')
          .digest('hex')
          .slice(0, 16),
      );
    }
    expect(await sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('makeItem takes the answer from the options and hashes it', async () => {
    const it = await makeItem({ images: [], question: 'Q?', options: lettered(['x', 'y', 'z']), answer_label: 'C', dataset_name: 'd', dataset_index: 3 });
    expect(it.options).toEqual({ A: 'x', B: 'y', C: 'z' });
    expect(it.answer).toBe('z');
    expect(it.hash).toBe(await itemHash('Q?', 'z'));
    expect((await makeItem({ ...it, hash: 'given' })).hash).toBe('given');
  });

  it('itemProblem names what makes an item ungradable', () => {
    const ok = { question: 'Q', options: { A: 'a', B: 'b' }, answer_label: 'B', answer: 'b' };
    expect(itemProblem(ok)).toBe(null);
    expect(itemProblem({ ...ok, question: ' ' })).toBe('empty question');
    expect(itemProblem({ ...ok, options: {} })).toBe('no options');
    expect(itemProblem({ ...ok, options: { A: 'a', B: '' } })).toBe('option B is empty');
    expect(itemProblem({ ...ok, answer_label: 'E' })).toBe('gold letter "E" is not among the options A, B');
    expect(itemProblem({ ...ok, answer: 'a' })).toBe('answer text "a" differs from option B "b"');
  });

  it('the collector keeps in = out + dropped, and stop mode stops on input problems only', async () => {
    const c = new Collector('d', 's', 'src', { onBad: 'stop' });
    c.record(3);
    c.exclude('open question');
    c.drop({ where: 'f:1', kind: 'not-convertible', reason: 'no rule' });
    c.add(await makeItem({ images: [], question: 'Q', options: { A: 'a' }, answer_label: 'A', dataset_name: 'd', dataset_index: 0 }), 'f:2');
    const r = c.finish().report;
    expect([r.records, r.in, r.out, r.dropped.length, r.excluded]).toEqual([3, 2, 1, 1, { 'open question': 1 }]);
    const c2 = new Collector('d', 's', 'src', { onBad: 'stop' });
    expect(() => c2.drop({ where: 'f:9', kind: 'bad-input', reason: 'broken' })).toThrow('f:9: broken');
  });
});

describe('option and gold parsing', () => {
  it('options in the shapes datasets use', () => {
    expect(parseOptions({ A: 'x', B: 'y' })).toEqual({ A: 'x', B: 'y' });
    expect(parseOptions('{"A": "x", "B": "y"}')).toEqual({ A: 'x', B: 'y' });
    expect(parseOptions(['x', 'y', 'z'])).toEqual({ A: 'x', B: 'y', C: 'z' });
    expect(
      parseOptions([
        { letter: 'A', content: 'x' },
        { letter: 'B', content: 'y' },
      ]),
    ).toEqual({ A: 'x', B: 'y' });
    expect(parseOptions({ A: 'x', B: null, C: 3 })).toEqual({ A: 'x', C: '3' });
    expect(parseOptions('A: x, B: y')).toBe(null);
    expect(parseOptions('{broken')).toBe(null);
    expect(parseOptions([{ foo: 1 }])).toBe(null);
    expect(parseOptions(42)).toBe(null);
  });

  it('gold letters from a letter, "(B)", "B: text" or the option text', () => {
    const o = { A: 'CT', B: 'MRI', C: 'A' };
    expect(goldLetter('B', o)).toBe('B');
    expect(goldLetter(' b ', o)).toBe('B');
    expect(goldLetter('(B)', o)).toBe('B');
    expect(goldLetter('B:MRI', o)).toBe('B');
    expect(goldLetter('B: mri', o)).toBe('B');
    expect(goldLetter('B: CT', o)).toBe(null);
    expect(goldLetter(['B'], o)).toBe('B');
    expect(goldLetter(['A', 'B'], o)).toBe(null);
    expect(goldLetter('mri', o)).toBe('B');
    expect(goldLetter('E', o)).toBe(null);
    expect(goldLetter(null, o)).toBe(null);
  });
});
