// The synthetic curriculum: schema, reproducibility, disjoint splits, the teacher's traces (clean,
// wrong, sloppy), gold answers of text items against an independent solver, letter balance, and
// difficulty that grows with the level.

import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/engine/errors';
import { itemHash, itemProblem, LETTERS, type QAItem } from '../../src/task/schema';
import {
  caseNumber,
  generateSynth,
  generateSynthCases,
  splitOf,
  SYNTH_TEMPLATES,
  synthCorpus,
  traceConclusion,
  type SynthCase,
  type SynthOptions,
} from '../../src/data/synth';
import { promptText } from '../../src/task/prompt';

const plain = (it: QAItem) => ({ ...it, images: it.images.map((i) => i.name) });
const sentences = (t: string) => t.split(/(?<=\.)\s+/).filter((s) => s.length > 0);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function imageBytes(items: QAItem[]): Promise<string[]> {
  const out: string[] = [];
  for (const it of items) for (const im of it.images) out.push(Buffer.from(await im.load()).toString('base64'));
  return out;
}

describe('synth: items', () => {
  it('every item passes the schema check, with the recipe hash, its dataset name and split', async () => {
    for (const level of [1, 2, 3] as const) {
      const cases = await generateSynthCases({ n: 120, kind: 'mixed', level, seed: 11, split: 'train' });
      for (const [i, c] of cases.entries()) {
        const it = c.item;
        expect(itemProblem(it)).toBe(null);
        expect(it.hash).toBe(await itemHash(it.question, it.answer));
        expect(it.dataset_name).toBe(c.kind === 'image' ? 'synth_image' : 'synth_text');
        expect(it.images.length).toBe(c.kind === 'image' ? 1 : 0);
        expect(c.kind).toBe(i % 2 === 0 ? 'image' : 'text');
        expect(it.split).toBe('train');
        expect(it.dataset_index).toBe(i);
        expect(it.question.startsWith(`Case ${caseNumber('train', level, i)}. `)).toBe(true);
        const n = Object.keys(it.options).length;
        expect(n).toBeGreaterThanOrEqual(2);
        expect(n).toBeLessThanOrEqual(5);
        expect(Object.keys(it.options)).toEqual(LETTERS.slice(0, n).split(''));
        expect(new Set(Object.values(it.options)).size).toBe(n);
      }
    }
  });

  it('the same options give byte-identical items and images; another seed gives others', async () => {
    const o: SynthOptions = { n: 40, kind: 'mixed', level: 2, seed: 123456789012, split: 'test', noisyFraction: 0.3, sloppyFraction: 0.2 };
    const a = await generateSynth(o);
    const b = await generateSynth(o);
    expect(JSON.stringify(a.map(plain))).toBe(JSON.stringify(b.map(plain)));
    expect(await imageBytes(a)).toEqual(await imageBytes(b));
    // Loading an image twice renders the same bytes.
    expect(Buffer.from(await a[0].images[0].load()).equals(Buffer.from(await a[0].images[0].load()))).toBe(true);
    const c = await generateSynth({ ...o, seed: 123456789012 + 2 ** 32 });
    expect(c.map((x) => x.hash)).not.toEqual(a.map((x) => x.hash));
  });

  it('an item depends on its index, not on n: offset continues a set', async () => {
    const o: SynthOptions = { n: 20, kind: 'mixed', level: 3, seed: 4, split: 'train' };
    const all = await generateSynth(o);
    const tail = await generateSynth({ ...o, n: 10, offset: 10 });
    expect(JSON.stringify(tail.map(plain))).toBe(JSON.stringify(all.slice(10).map(plain)));
    expect(await imageBytes(tail)).toEqual(await imageBytes(all.slice(10)));
  });

  it('train and test share no hash and no text content, for any pair of seeds', async () => {
    const train: SynthCase[] = [];
    const test: SynthCase[] = [];
    for (const level of [1, 2, 3] as const) {
      train.push(...(await generateSynthCases({ n: 300, kind: 'mixed', level, seed: 1, split: 'train' })));
      test.push(...(await generateSynthCases({ n: 150, kind: 'mixed', level, seed: 1, split: 'test' })));
      test.push(...(await generateSynthCases({ n: 150, kind: 'mixed', level, seed: 2, split: 'test' })));
    }
    const trainHashes = new Set(train.map((c) => c.item.hash));
    expect(trainHashes.size).toBe(train.length);
    expect(test.filter((c) => trainHashes.has(c.item.hash))).toEqual([]);
    // Text content (the question without its case number) is held out as a whole.
    const body = (c: SynthCase) => c.item.question.replace(/^Case \d+\. /, '');
    const trainText = new Set(train.filter((c) => c.kind === 'text').map(body));
    const testText = test.filter((c) => c.kind === 'text');
    expect(testText.length).toBe(450);
    expect(testText.filter((c) => trainText.has(body(c)))).toEqual([]);
    for (const c of testText) expect(splitOf(c.key!)).toBe('test');
    for (const c of train.filter((x) => x.kind === 'text')) expect(splitOf(c.key!)).toBe('train');
  });

  it('gold letters are balanced: no letter above 50% over 300 items, in every kind and level', async () => {
    for (const kind of ['image', 'text', 'mixed'] as const) {
      for (const level of [1, 2, 3] as const) {
        const items = await generateSynth({ n: 300, kind, level, seed: 77, split: 'train' });
        const counts = new Map<string, number>();
        for (const it of items) counts.set(it.answer_label, (counts.get(it.answer_label) ?? 0) + 1);
        const top = Math.max(...counts.values());
        expect(top / items.length, `${kind} level ${level}: ${JSON.stringify([...counts])}`).toBeLessThanOrEqual(0.5);
        // Each letter's share is close to what a uniform gold position over its item's options gives.
        for (const [L, c] of counts) {
          const expected = items.reduce((a, it) => a + (L in it.options ? 1 / Object.keys(it.options).length : 0), 0);
          expect(Math.abs(c - expected), `${kind} level ${level} letter ${L}`).toBeLessThan(4 * Math.sqrt(expected) + 2);
        }
      }
    }
  });
});

describe('synth: teacher traces', () => {
  it('clean traces conclude with the gold letter; sloppy ones too, with fewer steps', async () => {
    for (const level of [1, 2, 3] as const) {
      const o: SynthOptions = { n: 150, kind: 'mixed', level, seed: 5, split: 'train' };
      const clean = await generateSynthCases(o);
      const sloppy = await generateSynthCases({ ...o, sloppyFraction: 1 });
      for (const [i, c] of clean.entries()) {
        expect(c.trace.mode).toBe('clean');
        expect(traceConclusion(c.item.reasoning)).toBe(c.item.answer_label);
        expect(c.trace.letter).toBe(c.item.answer_label);
        const s = sloppy[i];
        expect(s.item.hash).toBe(c.item.hash);
        expect(s.trace.mode).toBe('sloppy');
        expect(traceConclusion(s.item.reasoning)).toBe(c.item.answer_label);
        const [nc, ns] = [sentences(c.item.reasoning!).length, sentences(s.item.reasoning!).length];
        expect(ns).toBeLessThan(nc);
        expect(ns).toBeLessThanOrEqual(2);
      }
    }
  });

  it('a teacher with a blind spot (noisyAnswers) is wrong only on items of those answers, on the given share of them', async () => {
    const o: SynthOptions = { n: 120, kind: 'text', level: 1, seed: 4, split: 'train', templates: ['triage'], fixedOptionOrder: true };
    const clean = await generateSynthCases(o);
    const noisy = await generateSynthCases({ ...o, noisyFraction: 0.75, noisyAnswers: ['Yellow'], sloppyFraction: 0.1 });
    const yellow = clean.filter((c) => c.item.answer === 'Yellow').length;
    expect(yellow).toBeGreaterThan(20);
    expect(yellow).toBeLessThan(60);
    const wrong = noisy.filter((c) => c.trace.mode === 'wrong');
    expect(wrong.length).toBe(Math.round(0.75 * yellow));
    expect(new Set(wrong.map((c) => c.item.answer))).toEqual(new Set(['Yellow']));
    expect(noisy.filter((c) => c.trace.mode === 'sloppy').length).toBe(Math.round(0.1 * 120));
    for (const [i, c] of noisy.entries()) {
      expect(c.item.hash).toBe(clean[i].item.hash);
      expect(traceConclusion(c.item.reasoning) === c.item.answer_label).toBe(c.trace.mode !== 'wrong');
    }
    // Without the blind spot the same fraction spreads over every answer.
    const spread = (await generateSynthCases({ ...o, noisyFraction: 0.75 })).filter((c) => c.trace.mode === 'wrong');
    expect(spread.length).toBe(90);
    expect(new Set(spread.map((c) => c.item.answer)).size).toBe(3);
    // A misspelt answer is caught instead of silently making a clean teacher.
    const err = await generateSynthCases({ ...o, noisyFraction: 0.5, noisyAnswers: ['yellow'] }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/synth options\.noisyAnswers: no item's correct answer is one of \["yellow"\] \(answers here: .*"Yellow"/);
  });

  it('an unfaithful teacher (noisyKind "conclusion") writes the true steps and another option\'s letter on the same items', async () => {
    const o: SynthOptions = { n: 200, kind: 'image', level: 1, seed: 4, split: 'train', templates: ['chest_presence'], fixedOptionOrder: true };
    const blind = { noisyFraction: 0.6, noisyAnswers: ['Yes'], noisyQuestions: ['left lung'] };
    const clean = await generateSynthCases(o);
    const misread = await generateSynthCases({ ...o, ...blind });
    const unfaithful = await generateSynthCases({ ...o, ...blind, noisyKind: 'conclusion' });
    const spot = clean.filter((c) => c.item.answer === 'Yes' && c.item.question.includes('left lung')).length;
    expect(unfaithful.filter((c) => c.trace.mode === 'unfaithful').length).toBe(Math.round(0.6 * spot));
    expect(unfaithful.filter((c) => c.trace.mode === 'wrong').length).toBe(0);
    const stepsOf = (reasoning: string | undefined) => (reasoning ?? '').replace(/\s*So the answer is [A-Z]\.$/, '');
    for (const [i, c] of unfaithful.entries()) {
      // Same positions as the misreading teacher's; only the kind of error differs.
      expect(c.trace.mode === 'unfaithful').toBe(misread[i].trace.mode === 'wrong');
      expect(c.item.hash).toBe(clean[i].item.hash);
      // Every step is the clean trace's; only an unfaithful one concludes elsewhere.
      expect(stepsOf(c.item.reasoning)).toBe(stepsOf(clean[i].item.reasoning));
      expect(traceConclusion(c.item.reasoning) === c.item.answer_label).toBe(c.trace.mode !== 'unfaithful');
      if (c.trace.mode === 'unfaithful') {
        expect(c.item.reasoning).toMatch(/It has [1-9]\d* nodules?\./);
        expect(stepsOf(misread[i].item.reasoning)).not.toBe(stepsOf(c.item.reasoning));
      }
    }
    const err = await generateSynthCases({ ...o, ...blind, noisyKind: 'lies' } as unknown as SynthOptions).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/synth options\.noisyKind: must be one of misreading, conclusion, got "lies"/);
  });

  it('a blind spot narrowed by question (noisyQuestions) is wrong only on the matching items of those answers', async () => {
    const o: SynthOptions = { n: 200, kind: 'image', level: 1, seed: 4, split: 'train', templates: ['chest_presence'], fixedOptionOrder: true };
    const clean = await generateSynthCases(o);
    const noisy = await generateSynthCases({ ...o, noisyFraction: 0.6, noisyAnswers: ['Yes'], noisyQuestions: ['left lung'] });
    const spot = clean.filter((c) => c.item.answer === 'Yes' && c.item.question.includes('left lung')).length;
    // About a quarter of the scans: Yes on half, the left lung asked about on half.
    expect(spot).toBeGreaterThan(30);
    expect(spot).toBeLessThan(70);
    const wrong = noisy.filter((c) => c.trace.mode === 'wrong');
    expect(wrong.length).toBe(Math.round(0.6 * spot));
    for (const c of wrong) {
      expect(c.item.answer).toBe('Yes');
      expect(c.item.question).toContain('left lung');
      // A missed nodule: the wrong trace concludes No.
      expect(c.item.options[traceConclusion(c.item.reasoning)!]).toBe('No');
    }
    for (const [i, c] of noisy.entries()) expect(c.item.hash).toBe(clean[i].item.hash);
    // Questions alone narrow the spot to those questions, whatever their answer.
    const byQuestion = (await generateSynthCases({ ...o, noisyFraction: 1, noisyQuestions: ['right lung'] })).filter((c) => c.trace.mode === 'wrong');
    expect(byQuestion.length).toBe(clean.filter((c) => c.item.question.includes('right lung')).length);
    expect(new Set(byQuestion.map((c) => c.item.answer))).toEqual(new Set(['Yes', 'No']));
    const err = await generateSynthCases({ ...o, noisyFraction: 0.5, noisyAnswers: ['Yes'], noisyQuestions: ['liver'] }).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /synth options\.noisyQuestions: no item's question contains one of \["liver"\] with a correct answer in \["Yes"\] \(questions here: .*lung/,
    );
  });

  it('a noisy teacher writes exactly the given fraction of wrong traces, each self-consistent and ending at another option', async () => {
    for (const [level, frac, n] of [
      [1, 0.3, 200],
      [2, 0.25, 200],
      [3, 1, 150],
      [3, 0.1, 33],
    ] as const) {
      const o: SynthOptions = { n, kind: 'mixed', level, seed: 9, split: 'train' };
      const clean = await generateSynthCases(o);
      const noisy = await generateSynthCases({ ...o, noisyFraction: frac, sloppyFraction: frac < 0.5 ? 0.2 : 0 });
      const wrong = noisy.filter((c) => c.trace.mode === 'wrong');
      expect(wrong.length).toBe(Math.round(frac * n));
      expect(noisy.filter((c) => c.trace.mode === 'sloppy').length).toBe(frac < 0.5 ? Math.round(0.2 * n) : 0);
      for (const [i, c] of noisy.entries()) {
        // The item itself (gold letter, question, options) does not depend on its trace.
        expect(c.item.hash).toBe(clean[i].item.hash);
        expect(c.item.answer_label).toBe(clean[i].item.answer_label);
        const letter = traceConclusion(c.item.reasoning);
        expect(letter).toBe(c.trace.letter);
        if (c.trace.mode === 'wrong') {
          expect(letter).not.toBe(c.item.answer_label);
          expect(c.item.options[letter!]).toBe(c.trace.answer);
          // The error is in the reasoning, not only in the last letter.
          const steps = (t: string) => sentences(t).slice(0, -1).join(' ');
          expect(steps(c.item.reasoning!)).not.toBe(steps(clean[i].item.reasoning!));
        } else {
          expect(letter).toBe(c.item.answer_label);
        }
      }
    }
  });

  it('wrong traces can be written for every template at every level and image size', async () => {
    for (const size of [16, 24, 32, 48]) {
      for (const level of [1, 2, 3] as const) {
        const cases = await generateSynthCases({ n: 60, kind: 'mixed', level, seed: size, split: 'test', imageSize: size, noisyFraction: 1 });
        for (const c of cases) expect(traceConclusion(c.item.reasoning)).not.toBe(c.item.answer_label);
      }
    }
  });
});

/** Independent solver for the text templates: parses the question and applies the rule. */
function solveText(q: string): string {
  let m = /weighs (\d+) kg\. The dose is (\d+) mg\/kg\. What is the total dose\?$/.exec(q);
  if (m) return `${Number(m[1]) * Number(m[2])} mg`;
  m = /weighs (\d+) kg\. The daily dose is (\d+) mg\/kg, given in (\d+) equal doses\. How much is each dose\?$/.exec(q);
  if (m) return `${(Number(m[1]) * Number(m[2])) / Number(m[3])} mg`;
  const cls = (v: string, lo: string, hi: string) => (Number(v) < Number(lo) ? 'Low' : Number(v) > Number(hi) ? 'High' : 'Normal');
  m = /^Case \d+\. .+ is ([\d.]+) \S+ \(normal ([\d.]+)-([\d.]+)\)\. Is it low, normal or high\?$/.exec(q);
  if (m) return cls(m[1], m[2], m[3]);
  m = /^Case \d+\. (.+?) ([\d.]+) \S+ \(normal ([\d.]+)-([\d.]+)\); (.+?) ([\d.]+) \S+ \(normal ([\d.]+)-([\d.]+)\)\. Which is abnormal\?$/.exec(q);
  if (m) {
    const a = cls(m[2], m[3], m[4]) !== 'Normal';
    const b = cls(m[6], m[7], m[8]) !== 'Normal';
    // The question capitalises the first name; acronyms (TSH) stay as they are.
    const first = /^[A-Z][a-z]/.test(m[1]) ? m[1].charAt(0).toLowerCase() + m[1].slice(1) : m[1];
    return a && b ? 'Both' : a ? `Only ${first}` : b ? `Only ${m[5]}` : 'Neither';
  }
  if (/Triage category\?$/.test(q)) {
    const num = (re: RegExp) => {
      const x = re.exec(q);
      return x ? Number(x[1]) : null;
    };
    const spo2 = num(/SpO2 (\d+)%/),
      sbp = num(/systolic BP (\d+) mmHg/),
      hr = num(/heart rate (\d+)\/min/),
      t = num(/temperature ([\d.]+) C/);
    if ((spo2 !== null && spo2 < 90) || (sbp !== null && sbp < 90)) return 'Red';
    if ((hr !== null && hr > 110) || (t !== null && t >= 39)) return 'Yellow';
    return 'Green';
  }
  throw new Error(`unparsed text question: ${q}`);
}

describe('synth: text items', () => {
  it('gold answers agree with an independent solver of the question text', async () => {
    const seen = new Set<string>();
    for (const level of [1, 2, 3] as const) {
      for (const split of ['train', 'test'] as const) {
        const cases = await generateSynthCases({ n: 200, kind: 'text', level, seed: 31, split });
        for (const c of cases) {
          seen.add(`${c.template}/${level}`);
          expect(c.item.answer, c.item.question).toBe(solveText(c.item.question));
        }
      }
    }
    expect(seen.size).toBe(9);
  });

  it('numeric options do not give the gold away by its rank', async () => {
    const items = (await generateSynthCases({ n: 300, kind: 'text', level: 2, seed: 8, split: 'train', templates: ['dose_weight'] })).map((c) => c.item);
    const ranks = items.map((it) =>
      Object.values(it.options)
        .map((v) => parseFloat(v))
        .sort((a, b) => a - b)
        .indexOf(parseFloat(it.answer)),
    );
    for (let r = 0; r < 4; r++) expect(ranks.filter((x) => x === r).length).toBeGreaterThan(40);
  });
});

describe('synth: levels', () => {
  it('higher levels have more options, more objects, closer values and more facts', async () => {
    const stats = [];
    for (const level of [1, 2, 3] as const) {
      const img = await generateSynthCases({ n: 300, kind: 'image', level, seed: 3, split: 'train' });
      const txt = await generateSynthCases({ n: 300, kind: 'text', level, seed: 3, split: 'train' });
      const of = (cs: SynthCase[], t: string, f: (c: SynthCase) => number) => mean(cs.filter((c) => c.template === t).map(f));
      stats.push({
        options: mean([...img, ...txt].map((c) => Object.keys(c.item.options).length)),
        objects: mean(img.map((c) => c.stats.objects!)),
        sizeRatio: of(img, 'chest_compare_size', (c) => c.stats.closeness!),
        fluidGap: of(img, 'fluid_compare', (c) => c.stats.closeness!),
        labDistance: of(txt, 'lab_range', (c) => c.stats.closeness!),
        triageFacts: of(txt, 'triage', (c) => c.stats.facts!),
        noise: mean(img.map((c) => c.scene!.noise)),
      });
    }
    for (const k of ['options', 'objects', 'triageFacts', 'noise'] as const) {
      expect(stats[0][k], k).toBeLessThan(stats[1][k]);
      expect(stats[1][k], k).toBeLessThan(stats[2][k]);
    }
    for (const k of ['sizeRatio', 'fluidGap', 'labDistance'] as const) {
      expect(stats[0][k], k).toBeGreaterThan(stats[1][k]);
      expect(stats[1][k], k).toBeGreaterThan(stats[2][k]);
    }
  });
});

describe('synth: options and corpus', () => {
  const base: SynthOptions = { n: 5, kind: 'image', level: 1, seed: 1, split: 'train' };
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ ...base, extra: 1 }, /synth options\.extra: unknown option/],
    [{ ...base, n: 0 }, /synth options\.n: must be an integer from 1/],
    [{ ...base, level: 4 }, /synth options\.level: must be 1, 2 or 3/],
    [{ ...base, kind: 'video' }, /synth options\.kind: must be one of image, text, mixed/],
    [{ ...base, seed: 1.5 }, /synth options\.seed: must be an integer/],
    [{ ...base, split: 'val' }, /synth options\.split: must be one of train, test/],
    [{ ...base, imageSize: 200 }, /synth options\.imageSize: must be an integer from 16 to 128, got 200/],
    [{ ...base, noisyFraction: 1.5 }, /synth options\.noisyFraction: must be a number from 0 to 1/],
    [{ ...base, noisyFraction: 0.6, sloppyFraction: 0.6 }, /must not exceed 1/],
    [{ ...base, templates: ['nope'] }, /unknown template "nope"/],
    [{ ...base, noisyAnswers: [] }, /synth options\.noisyAnswers: must be a non-empty list of option texts/],
    [{ ...base, noisyAnswers: 'Yellow' }, /synth options\.noisyAnswers: must be a non-empty list/],
    [{ ...base, noisyQuestions: [''] }, /synth options\.noisyQuestions: must be a non-empty list of phrases/],
    [{ ...base, templates: ['triage'] }, /triage is a text template but kind is image/],
    [{ ...base, kind: 'mixed', templates: ['chest_count'] }, /kind mixed needs at least one text template/],
    [{ ...base, imageSize: 24, templates: ['kidney_cyst_side'] }, /kidney_cyst_side needs imageSize >= 32, got 24/],
  ];
  it('bad options are InputErrors naming the option', async () => {
    for (const [o, re] of bad) {
      const err = await generateSynth(o as unknown as SynthOptions).catch((e) => e);
      expect(err, JSON.stringify(o)).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(re);
    }
  });

  it("fixedOptionOrder keeps each template's own option order and changes nothing else", async () => {
    const o: SynthOptions = { n: 60, kind: 'mixed', level: 2, seed: 8, split: 'train', noisyFraction: 0.2 };
    const shuffled = await generateSynthCases(o);
    const fixed = await generateSynthCases({ ...o, fixedOptionOrder: true });
    const canonical: Record<string, string[]> = {
      triage: ['Red', 'Yellow', 'Green'],
      lab_range: ['Low', 'Normal', 'High'],
      effusion_presence: ['Yes', 'No'],
      chest_presence: ['Yes', 'No'],
    };
    let seen = 0,
      moved = 0;
    for (const [i, f] of fixed.entries()) {
      const s = shuffled[i];
      // Same question, same option texts, same gold text, same trace mode; only the letters move.
      expect([f.item.question, f.template, f.trace.mode]).toEqual([s.item.question, s.template, s.trace.mode]);
      expect(Object.values(f.item.options).sort()).toEqual(Object.values(s.item.options).sort());
      expect(f.item.options[f.item.answer_label]).toBe(s.item.options[s.item.answer_label]);
      expect(traceConclusion(f.item.reasoning) === f.item.answer_label).toBe(f.trace.mode !== 'wrong');
      const want = canonical[f.template];
      if (want && Object.keys(f.item.options).length === want.length) {
        expect(Object.values(f.item.options)).toEqual(want);
        seen++;
      }
      if (JSON.stringify(f.item.options) !== JSON.stringify(s.item.options)) moved++;
    }
    expect(seen).toBeGreaterThan(5);
    expect(moved).toBeGreaterThan(20);
    // The letter now follows from the answer: triage's Red is always A.
    for (const f of fixed.filter((c) => c.template === 'triage')) expect(f.item.answer_label).toBe('ABC'['Red Yellow Green'.split(' ').indexOf(f.item.answer)]);
    const err = await generateSynth({ ...o, fixedOptionOrder: 'yes' } as unknown as SynthOptions).catch((e) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/fixedOptionOrder: must be true or false/);
  });

  it('templates restrict the pool; the documented list names every template', async () => {
    const cs = await generateSynthCases({ n: 30, kind: 'mixed', level: 2, seed: 2, split: 'train', templates: ['chest_count', 'triage'] });
    expect(new Set(cs.map((c) => c.template))).toEqual(new Set(['chest_count', 'triage']));
    const all = await generateSynthCases({ n: 400, kind: 'mixed', level: 3, seed: 2, split: 'train' });
    // The default pool is every template but those used only when named (triage_signs).
    expect(new Set(all.map((c) => c.template))).toEqual(new Set(SYNTH_TEMPLATES.filter((t) => !t.onlyWhenNamed).map((t) => t.name)));
    expect(SYNTH_TEMPLATES.filter((t) => t.onlyWhenNamed).map((t) => t.name)).toEqual(['triage_signs']);
    const signs = await generateSynthCases({ n: 60, kind: 'text', level: 2, seed: 2, split: 'train', templates: ['triage_signs'], fixedOptionOrder: true });
    for (const c of signs) {
      // Two signs as words; the protocol decides: a low SpO2 or BP is red, then a high rate or temperature yellow.
      const m = /^Case \d+\. Nursing note: (.+)\. Triage category\?$/.exec(c.item.question)!;
      const words = m[1].split(', ');
      expect(words).toHaveLength(2);
      const red = words.some((w) => /^(SpO2|systolic BP) low$/.test(w));
      const yellow = words.some((w) => /^(heart rate|temperature) high$/.test(w));
      expect(c.item.answer).toBe(red ? 'Red' : yellow ? 'Yellow' : 'Green');
      expect(c.item.reasoning).toMatch(new RegExp(`So the answer is ${c.item.answer_label}\\.$`));
    }
    for (const t of SYNTH_TEMPLATES) expect(t.about.length).toBeGreaterThan(20);
  });

  it('the tokenizer corpus covers the prompt, questions, options and traces', async () => {
    const docs = await synthCorpus(3, 30);
    expect(docs.length).toBe(30);
    expect(docs).toEqual(await synthCorpus(3, 30));
    const items = await generateSynth({ n: 10, kind: 'mixed', level: 1, seed: 3, split: 'train' });
    // Document 0 is level 1's first item, in the chat format with its SFT target.
    expect(docs[0]).toContain(promptText(items[0]));
    expect(docs[0]).toContain(`<think> ${items[0].reasoning} </think>\n<answer> ${items[0].answer_label} </answer><|im_end|>`);
    expect(docs[0]).toContain('<image>');
    expect(docs.filter((d) => d.includes('answer.\nWrite')).length).toBe(7);
    expect(docs.filter((d) => d.includes('answer.\\nWrite')).length).toBe(23);
    expect(docs.filter((d) => /How many|Which|Is there/.test(d)).length).toBeGreaterThan(5);
    expect(docs.filter((d) => /mg\/kg|normal|Vital signs/.test(d)).length).toBeGreaterThan(5);
  });
});
