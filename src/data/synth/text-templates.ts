// Text-only templates: short clinical reasoning with a rule a tiny model can learn (arithmetic on
// the numbers given, a value against a stated range, a fixed triage protocol). Levels add steps,
// options and values closer to the decision limits.

import type { Rng } from './rng';
import { cap, erase, rankedDistractors, type Level, type Template } from './template';

interface DoseFacts {
  w: number;
  d: number;
  n: number;
  undivided: boolean;
}

const mg = (v: number) => `${Number.isInteger(v) ? v : v.toFixed(1)} mg`;
const doseValue = (f: DoseFacts) => (f.undivided ? f.w * f.d : (f.w * f.d) / f.n);

function doseMisread(f: DoseFacts, rng: Rng, level: Level): DoseFacts {
  const k = rng.int(0, level === 3 ? 3 : 1);
  if (k === 0) {
    const w = f.w + rng.pick([-10, -5, -2, -1, 1, 2, 5, 10]);
    return w > 0 ? { ...f, w } : { ...f, w: f.w + 1 };
  }
  if (k === 1) {
    const d = f.d + rng.pick([-2, -1, 1, 2]);
    return d > 0 ? { ...f, d } : { ...f, d: f.d + 1 };
  }
  if (k === 2) return { ...f, undivided: true };
  const n = f.n + rng.pick([-1, 1]);
  return n >= 2 ? { ...f, n } : { ...f, n: f.n + 1 };
}

const doseWeight: Template = {
  name: 'dose_weight',
  kind: 'text',
  about:
    'Weight-based dose: total = weight x mg/kg (levels 1-2); level 3 splits a daily dose into equal doses (two steps). Distractors come from misread numbers and a forgotten division.',
  draft(rng, ctx) {
    const level = ctx.level;
    let f: DoseFacts;
    if (level === 1) f = { w: 10 * rng.int(1, 8), d: rng.int(1, 5), n: 1, undivided: false };
    else if (level === 2) f = { w: rng.int(5, 60), d: rng.pick([2, 3, 4, 5, 6, 8, 10, 12, 15]), n: 1, undivided: false };
    else {
      do f = { w: rng.int(8, 50), d: rng.pick([10, 15, 20, 25, 30, 40, 50, 60]), n: rng.pick([2, 3, 4]), undivided: false };
      while ((f.w * f.d) % f.n !== 0);
    }
    const gold = doseValue(f);
    const nOpts = level + 2;
    const candidates: number[] = [];
    let picked: number[] | null = null;
    for (let t = 0; t < 20 && !picked; t++) {
      for (let i = 0; i < 30; i++) {
        const v = doseValue(doseMisread(f, rng, level));
        if (Number.isInteger(v) && v > 0) candidates.push(v);
      }
      picked = rankedDistractors(rng, gold, candidates, nOpts);
    }
    if (!picked) throw new Error(`synth dose_weight: no distractors for ${JSON.stringify(f)}`);
    const question =
      level < 3
        ? `A patient weighs ${f.w} kg. The dose is ${f.d} mg/kg. What is the total dose?`
        : `A patient weighs ${f.w} kg. The daily dose is ${f.d} mg/kg, given in ${f.n} equal doses. How much is each dose?`;
    return erase<DoseFacts>({
      question,
      answers: [gold, ...picked].map(mg),
      facts: f,
      explain: (x) => {
        const total = x.w * x.d;
        if (level < 3) return { steps: [`${x.w} kg × ${x.d} mg/kg = ${mg(total)}.`], answer: mg(total) };
        const steps = [`Daily dose: ${x.w} kg × ${x.d} mg/kg = ${mg(total)}.`];
        if (!x.undivided) steps.push(`Each dose: ${mg(total)} / ${x.n} = ${mg(total / x.n)}.`);
        return { steps, answer: mg(doseValue(x)) };
      },
      perturb: (x, r) => doseMisread(x, r, level),
      key: `dose|${f.w}|${f.d}|${f.n}`,
      stats: { facts: level < 3 ? 2 : 3 },
    });
  },
};

interface Lab {
  name: string;
  unit: string;
  lo: number;
  hi: number;
  dec: number;
}

/** Adult reference ranges as commonly quoted; each question states its range, so the exact numbers matter less than their use. */
export const LABS: readonly Lab[] = [
  { name: 'potassium', unit: 'mmol/L', lo: 3.5, hi: 5.0, dec: 1 },
  { name: 'sodium', unit: 'mmol/L', lo: 135, hi: 145, dec: 0 },
  { name: 'fasting glucose', unit: 'mg/dL', lo: 70, hi: 99, dec: 0 },
  { name: 'hemoglobin', unit: 'g/dL', lo: 12.0, hi: 16.0, dec: 1 },
  { name: 'calcium', unit: 'mg/dL', lo: 8.5, hi: 10.5, dec: 1 },
  { name: 'creatinine', unit: 'mg/dL', lo: 0.6, hi: 1.2, dec: 2 },
  { name: 'TSH', unit: 'mIU/L', lo: 0.4, hi: 4.0, dec: 1 },
  { name: 'platelet count', unit: 'x10^9/L', lo: 150, hi: 400, dec: 0 },
  { name: 'white cell count', unit: 'x10^9/L', lo: 4.0, hi: 11.0, dec: 1 },
  { name: 'magnesium', unit: 'mg/dL', lo: 1.7, hi: 2.2, dec: 2 },
];

type LabClass = 'low' | 'normal' | 'high';

/** Distance of a value from the nearest limit, as a fraction of the range, by level and class. */
export const LAB_DISTANCE: Record<'abnormal' | 'normal', readonly [number, number][]> = {
  abnormal: [
    [0, 0],
    [0.3, 0.8],
    [0.1, 0.3],
    [0.01, 0.1],
  ],
  normal: [
    [0, 0],
    [0.3, 0.5],
    [0.12, 0.3],
    [0.01, 0.1],
  ],
};

// Values are kept as integers in units of the lab's last decimal, so comparisons are exact.
const scaleOf = (lab: Lab) => 10 ** lab.dec;
const limits = (lab: Lab) => [Math.round(lab.lo * scaleOf(lab)), Math.round(lab.hi * scaleOf(lab))];
const fmt = (lab: Lab, v: number) => (v / scaleOf(lab)).toFixed(lab.dec);
const classify = (lab: Lab, v: number): LabClass => {
  const [lo, hi] = limits(lab);
  return v < lo ? 'low' : v > hi ? 'high' : 'normal';
};

/** A value of the class at the level's distance from the limits; also its distance over the range. */
function labValue(rng: Rng, lab: Lab, cls: LabClass, level: Level): { v: number; closeness: number } {
  const [lo, hi] = limits(lab);
  const width = hi - lo;
  const [a, b] = LAB_DISTANCE[cls === 'normal' ? 'normal' : 'abnormal'][level];
  for (let t = 0; t < 1000; t++) {
    const d = rng.range(a, b);
    let v: number;
    // Below the range the scale is capped by the lower limit itself, so values stay positive;
    // an abnormal value is at least one unit of the last decimal outside.
    if (cls === 'low') v = lo - Math.max(1, Math.round(d * Math.min(width, 0.8 * lo)));
    else if (cls === 'high') v = hi + Math.max(1, Math.round(d * width));
    else v = rng.chance(0.5) ? lo + Math.round(d * width) : hi - Math.round(d * width);
    if (v > 0 && classify(lab, v) === cls) return { v, closeness: Math.min(Math.abs(v - lo), Math.abs(v - hi)) / width };
  }
  throw new Error(`synth lab_range: no ${cls} ${lab.name} value at level ${level}`);
}

const range = (lab: Lab) => `${fmt(lab, limits(lab)[0])}-${fmt(lab, limits(lab)[1])}`;

function labStep(lab: Lab, v: number, verdict: boolean): string {
  const [lo, hi] = limits(lab);
  const c = classify(lab, v);
  const name = `${cap(lab.name)} ${fmt(lab, v)}`;
  if (c === 'low') return `${name} is below the lower limit ${fmt(lab, lo)}${verdict ? ': abnormal' : ''}.`;
  if (c === 'high') return `${name} is above the upper limit ${fmt(lab, hi)}${verdict ? ': abnormal' : ''}.`;
  return `${name} is within ${range(lab)}${verdict ? ': normal' : ''}.`;
}

/** A misreading: the same lab read as a value of another class. */
function misreadLab(rng: Rng, lab: Lab, v: number, level: Level): number {
  const c = classify(lab, v);
  const to = rng.pick((['low', 'normal', 'high'] as LabClass[]).filter((x) => x !== c));
  return labValue(rng, lab, to, level).v;
}

const labRange: Template = {
  name: 'lab_range',
  kind: 'text',
  about:
    'A lab value against its stated range: low, normal or high (levels 1-2); level 3 gives two labs and asks which is abnormal (Only X / Only Y / Both / Neither). Values near the limits at level 3.',
  draft(rng, ctx) {
    const level = ctx.level;
    if (level < 3) {
      const lab = rng.pick(LABS);
      const { v, closeness } = labValue(rng, lab, rng.pick(['low', 'normal', 'high'] as LabClass[]), level);
      return erase<{ v: number }>({
        question: `${cap(lab.name)} is ${fmt(lab, v)} ${lab.unit} (normal ${range(lab)}). Is it low, normal or high?`,
        answers: ['Low', 'Normal', 'High'],
        facts: { v },
        explain: (f) => ({ steps: [labStep(lab, f.v, false)], answer: cap(classify(lab, f.v)) }),
        perturb: (f, r) => ({ v: misreadLab(r, lab, f.v, level) }),
        key: `lab|${lab.name}|${v}`,
        stats: { closeness, facts: 1 },
      });
    }
    const [a, b] = rng.shuffle(LABS).slice(0, 2);
    const target = rng.pick(['a', 'b', 'both', 'neither']);
    const abnormal = () => rng.pick(['low', 'high'] as LabClass[]);
    const va = labValue(rng, a, target === 'a' || target === 'both' ? abnormal() : 'normal', level);
    const vb = labValue(rng, b, target === 'b' || target === 'both' ? abnormal() : 'normal', level);
    const off = (lab: Lab, v: number) => classify(lab, v) !== 'normal';
    return erase<{ va: number; vb: number }>({
      question: `${cap(a.name)} ${fmt(a, va.v)} ${a.unit} (normal ${range(a)}); ${b.name} ${fmt(b, vb.v)} ${b.unit} (normal ${range(b)}). Which is abnormal?`,
      answers: [`Only ${a.name}`, `Only ${b.name}`, 'Both', 'Neither'],
      facts: { va: va.v, vb: vb.v },
      explain: (f) => {
        const x = off(a, f.va);
        const y = off(b, f.vb);
        return { steps: [labStep(a, f.va, true), labStep(b, f.vb, true)], answer: x && y ? 'Both' : x ? `Only ${a.name}` : y ? `Only ${b.name}` : 'Neither' };
      },
      perturb: (f, r) => (r.chance(0.5) ? { ...f, va: misreadLab(r, a, f.va, level) } : { ...f, vb: misreadLab(r, b, f.vb, level) }),
      key: `lab2|${a.name}|${va.v}|${b.name}|${vb.v}`,
      stats: { closeness: (va.closeness + vb.closeness) / 2, facts: 2 },
    });
  },
};

type Flag = 'red' | 'yellow';

interface Vital {
  id: 'spo2' | 'sbp' | 'hr' | 'temp';
  flag: Flag;
  /** Values in tenths for temperature, else whole units. */
  abnormal(v: number): boolean;
  show(v: number): string;
  step(v: number): string;
  /** [normal lo, normal hi, abnormal lo, abnormal hi] by level. */
  ranges: readonly (readonly number[])[];
}

/**
 * The ward protocol of the triage template (fixed, not stated in the question; the traces teach
 * it): red if SpO2 < 90% or systolic BP < 90 mmHg; else yellow if heart rate > 110/min or
 * temperature >= 39.0 C; else green.
 */
export const VITALS: readonly Vital[] = [
  {
    id: 'spo2',
    flag: 'red',
    abnormal: (v) => v < 90,
    show: (v) => `SpO2 ${v}%`,
    step: (v) => (v < 90 ? `SpO2 ${v}% is below 90: red sign.` : `SpO2 ${v}% is not below 90.`),
    ranges: [[], [94, 99, 80, 86], [91, 99, 85, 89], [90, 92, 87, 89]],
  },
  {
    id: 'sbp',
    flag: 'red',
    abnormal: (v) => v < 90,
    show: (v) => `systolic BP ${v} mmHg`,
    step: (v) => (v < 90 ? `Systolic BP ${v} is below 90: red sign.` : `Systolic BP ${v} is not below 90.`),
    ranges: [[], [110, 140, 65, 80], [95, 140, 78, 89], [90, 96, 84, 89]],
  },
  {
    id: 'hr',
    flag: 'yellow',
    abnormal: (v) => v > 110,
    show: (v) => `heart rate ${v}/min`,
    step: (v) => (v > 110 ? `Heart rate ${v} is above 110: yellow sign.` : `Heart rate ${v} is not above 110.`),
    ranges: [[], [60, 95, 125, 150], [60, 108, 111, 125], [104, 110, 111, 116]],
  },
  {
    id: 'temp',
    flag: 'yellow',
    abnormal: (v) => v >= 390,
    show: (v) => `temperature ${(v / 10).toFixed(1)} C`,
    step: (v) => (v >= 390 ? `Temperature ${(v / 10).toFixed(1)} is 39.0 or more: yellow sign.` : `Temperature ${(v / 10).toFixed(1)} is below 39.0.`),
    ranges: [[], [365, 378, 395, 405], [365, 385, 390, 398], [385, 389, 390, 393]],
  },
];

const vitalValue = (rng: Rng, v: Vital, abnormal: boolean, level: Level) => {
  const r = v.ranges[level];
  return abnormal ? rng.int(r[2], r[3]) : rng.int(r[0], r[1]);
};

/** Protocol category of a set of vital-sign values. */
export function triageCategory(values: { vital: Vital; v: number }[]): 'Red' | 'Yellow' | 'Green' {
  const flags = values.filter((x) => x.vital.abnormal(x.v)).map((x) => x.vital.flag);
  return flags.includes('red') ? 'Red' : flags.includes('yellow') ? 'Yellow' : 'Green';
}

/**
 * A triage case's signs: the vitals shown (protocol order) and, drawn as each is asked for, whether
 * it is abnormal: the cause of a red or yellow target always, a red sign of a yellow or green
 * target never, any other 40% of the time.
 */
function triageDraw(rng: Rng, level: Level) {
  const target = rng.pick(['Red', 'Yellow', 'Green'] as const);
  const k = level === 1 ? 1 : level === 2 ? 2 : 4;
  let shown: Vital[];
  do shown = rng.shuffle(VITALS).slice(0, k);
  while ((target === 'Red' && !shown.some((v) => v.flag === 'red')) || (target === 'Yellow' && !shown.some((v) => v.flag === 'yellow')));
  shown = VITALS.filter((v) => shown.includes(v));
  const cause = target === 'Green' ? null : rng.pick(shown.filter((v) => v.flag === target.toLowerCase()));
  const abnormal = (vital: Vital) => vital === cause || (target !== 'Green' && !(target === 'Yellow' && vital.flag === 'red') && rng.chance(0.4));
  return { shown, k, abnormal };
}

const triage: Template = {
  name: 'triage',
  kind: 'text',
  about:
    'Rule-based triage (Red / Yellow / Green) by a fixed ward protocol the traces teach: red if SpO2 < 90% or systolic BP < 90; else yellow if heart rate > 110 or temperature >= 39.0 C; else green. One vital sign at level 1, two at level 2, all four near the limits at level 3.',
  draft(rng, ctx) {
    const level = ctx.level;
    const { shown, k, abnormal } = triageDraw(rng, level);
    const values = shown.map((vital) => ({ vital, v: vitalValue(rng, vital, abnormal(vital), level) }));
    type F = { vs: number[] };
    const at = (f: F) => shown.map((vital, i) => ({ vital, v: f.vs[i] }));
    return erase<F>({
      question: `Vital signs: ${values.map((x) => x.vital.show(x.v)).join(', ')}. Triage category?`,
      answers: ['Red', 'Yellow', 'Green'],
      facts: { vs: values.map((x) => x.v) },
      explain: (f) => {
        const cat = triageCategory(at(f));
        const last =
          cat === 'Red' ? 'A red sign makes it red.' : cat === 'Yellow' ? 'A yellow sign and no red sign make it yellow.' : 'No warning sign makes it green.';
        return { steps: [...at(f).map((x) => x.vital.step(x.v)), last], answer: cat };
      },
      perturb: (f, r) => {
        // Misread one vital sign across its limit.
        const i = r.int(0, shown.length - 1);
        const vs = f.vs.slice();
        vs[i] = vitalValue(r, shown[i], !shown[i].abnormal(f.vs[i]), level);
        return { vs };
      },
      key: `triage|${values.map((x) => `${x.vital.id}=${x.v}`).join('|')}`,
      stats: { facts: k },
    });
  },
};

/** Words a nursing note uses for a vital sign: the abnormal reading, and the normal one. */
const SIGN_WORDS: Record<Vital['id'], { name: string; abnormal: string }> = {
  spo2: { name: 'SpO2', abnormal: 'low' },
  sbp: { name: 'systolic BP', abnormal: 'low' },
  hr: { name: 'heart rate', abnormal: 'high' },
  temp: { name: 'temperature', abnormal: 'high' },
};

/**
 * The triage protocol on a nursing note's words ("SpO2 low, heart rate normal") instead of numbers.
 * A model of ~100k parameters trained from scratch for a few minutes learns which words a question
 * holds, but not yet to read or copy numbers (on `triage` such a model writes the same made-up value
 * for every patient and decides by the sign's name alone): with words, what is left to learn is the
 * protocol, so a teacher's systematic mistake is the only thing between SFT and every answer right,
 * which is what the learning proof needs to show RL correcting it.
 */
const triageSigns: Template = {
  name: 'triage_signs',
  kind: 'text',
  onlyWhenNamed: true,
  about:
    "The triage protocol (Red / Yellow / Green) on a nursing note's words instead of numbers: red if SpO2 or systolic BP is low; else yellow if heart rate or temperature is high; else green. One sign at level 1, two at level 2, all four at level 3.",
  draft(rng, ctx) {
    const { shown, k, abnormal: isAbnormal } = triageDraw(rng, ctx.level);
    const abnormal = shown.map(isAbnormal);
    type F = { ab: boolean[] };
    const word = (vital: Vital, ab: boolean) => `${SIGN_WORDS[vital.id].name} ${ab ? SIGN_WORDS[vital.id].abnormal : 'normal'}`;
    const category = (f: F) => {
      const flags = shown.filter((_, i) => f.ab[i]).map((v) => v.flag);
      return flags.includes('red') ? 'Red' : flags.includes('yellow') ? 'Yellow' : 'Green';
    };
    return erase<F>({
      question: `Nursing note: ${shown.map((v, i) => word(v, abnormal[i])).join(', ')}. Triage category?`,
      answers: ['Red', 'Yellow', 'Green'],
      facts: { ab: abnormal },
      explain: (f) => {
        const cat = category(f);
        const last =
          cat === 'Red' ? 'A red sign makes it red.' : cat === 'Yellow' ? 'A yellow sign and no red sign make it yellow.' : 'No warning sign makes it green.';
        const steps = shown.map((v, i) => `${cap(SIGN_WORDS[v.id].name)} is ${f.ab[i] ? `${SIGN_WORDS[v.id].abnormal}: ${v.flag} sign` : 'normal'}.`);
        return { steps: [...steps, last], answer: cat };
      },
      perturb: (f, r) => {
        // Misread one sign.
        const i = r.int(0, shown.length - 1);
        const ab = f.ab.slice();
        ab[i] = !ab[i];
        return { ab };
      },
      // No split key: a level has only 8 to 24 notes, so held-out items ask the notes training asks
      // (as scan questions repeat their text); what is held out is the case, not the wording.
      stats: { facts: k },
    });
  },
};

export const TEXT_TEMPLATES: readonly Template[] = [doseWeight, labRange, triage, triageSigns];
