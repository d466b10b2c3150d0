// Image-text templates: questions about a drawn scan whose answers need looking at the right
// place (which half of the image is the patient's left), counting or comparing, then mapping the
// finding to an option. Level 1 has few, large, high-contrast objects and no distractors; level 3
// has more and smaller objects, distractors elsewhere in the scan, closer sizes and contrasts,
// more noise and more options.

import type { Rng } from './rng';
import {
  abdomenScene,
  addFluid,
  addLesions,
  chestScene,
  drawRadius,
  imageSide,
  organIndex,
  ORGAN_MARGIN,
  placeLesions,
  radiusRange,
  SIDES,
  type Scene,
  type Side,
} from './scene';
import { cap, count, countOptions, erase, type Level, type Template, type TemplateContext } from './template';

/** Most objects of one kind in one organ, by level (fewer when the image is too small to hold them). */
export const MAX_COUNT = [0, 2, 3, 4];

const other = (s: Side): Side => (s === 'left' ? 'right' : 'left');
const sideWord = (s: Side) => cap(s);

/**
 * "the left lung (image right)". A mirrored reader forgets that the patient's left is drawn on the
 * image's right, so the organ it names is the one on the wrong half.
 */
const where = (organ: string, side: Side, mirror: boolean) => `the ${side} ${organ} (image ${mirror ? side : imageSide(side)})`;

/** What a (possibly mirrored) reader sees for `side`. */
const read = <T>(v: Record<Side, T>, side: Side, mirror: boolean): T => v[mirror ? other(side) : side];

/** Draw attempts until the objects fit; every 30 failures allow one object fewer per organ. */
function build<T>(level: Level, what: string, make: (most: number) => T | null): T {
  let most = MAX_COUNT[level];
  for (let t = 0; t < 900; t++) {
    const r = make(most);
    if (r) return r;
    if (t % 30 === 29 && most > 1) most--;
  }
  throw new Error(`synth: could not fit the objects of ${what} in the image`);
}

/** Nodule radius as fractions of the size's range: smaller nodules at higher levels. */
const NODULE_SIZE: readonly [number, number][] = [
  [0, 1],
  [0.3, 1],
  [0.15, 0.8],
  [0, 0.6],
];

const brightNodule = (rng: Rng) => () => rng.int(200, 225);

interface ChestSpec {
  nodules?: Record<Side, number>;
  /** Explicit nodule radii per side (comparisons); overrides `nodules`. */
  radii?: Record<Side, number[]>;
  /** Filled fraction of each lung's height (0 for none), from the lung's height in pixels. */
  fluid?: (lungHeight: number) => Record<Side, number>;
}

/** Fluid shallower than this many pixels would hide in the lung's rounded base. */
export const MIN_FLUID_PX = 2.5;
/** Two fluid levels closer than this many pixels would differ only in one row's shading. */
export const MIN_FLUID_GAP_PX = 0.75;

function chestWith(rng: Rng, ctx: TemplateContext, spec: ChestSpec): Scene | null {
  const sc = chestScene(rng, ctx.size, ctx.level, ctx.seed);
  const heart = organIndex(sc, 'heart');
  const [lo, hi] = NODULE_SIZE[ctx.level];
  const fluid = spec.fluid?.(2 * sc.organs[organIndex(sc, 'lung', 'left')].shape.ry);
  for (const side of SIDES) {
    const lung = organIndex(sc, 'lung', side);
    const fr = fluid?.[side] ?? 0;
    if (fr > 0) addFluid(sc, lung, fr, rng.int(92, 100));
  }
  for (const side of SIDES) {
    const lung = organIndex(sc, 'lung', side);
    // In small images the level's nodule sizes may not fit a lung at all: fall back to what fits.
    const e = sc.organs[lung].shape;
    const fit = Math.max(radiusRange(ctx.size)[0], Math.min(e.rx, e.ry) - ORGAN_MARGIN - 0.25);
    const radius = () => {
      const r = drawRadius(rng, ctx.size, lo, hi);
      return r <= fit ? r : rng.range(radiusRange(ctx.size)[0], fit);
    };
    const radii = spec.radii?.[side] ?? Array.from({ length: spec.nodules?.[side] ?? 0 }, radius);
    const fluid = sc.fluid.find((f) => f.organ === lung);
    const spots = placeLesions(rng, sc, lung, radii, { avoid: [heart], maxY: fluid?.top });
    if (!spots) return null;
    addLesions(sc, lung, spots, brightNodule(rng), 'bright');
  }
  return sc;
}

const objects = (sc: Scene) => sc.lesions.length + sc.fluid.length;

/** Nudge one count by one (never below zero). */
function bump(n: Record<Side, number>, side: Side, rng: Rng): Record<Side, number> {
  const v = n[side];
  return { ...n, [side]: v === 0 || rng.chance(0.5) ? v + 1 : v - 1 };
}

/** Which sides hold something -> Left / Right / Both / Neither. */
function sideAnswer(has: Record<Side, boolean>): string {
  if (has.left && has.right) return 'Both';
  if (has.left) return 'Left';
  if (has.right) return 'Right';
  return 'Neither';
}

const SIDE_ANSWERS = (level: Level) => (level === 3 ? ['Left', 'Right', 'Both', 'Neither'] : ['Left', 'Right', 'Both']);

/** Which sides are involved for a Left/Right/Both/Neither question at this level. */
function drawSides(rng: Rng, level: Level): Record<Side, boolean> {
  const target = level === 1 ? rng.pick(['Left', 'Right']) : rng.pick(SIDE_ANSWERS(level));
  return { left: target === 'Left' || target === 'Both', right: target === 'Right' || target === 'Both' };
}

interface SideFacts {
  n: Record<Side, number>;
  mirror: boolean;
}

const flipOrBump = (f: SideFacts, rng: Rng, side: Side): SideFacts =>
  rng.chance(0.5) ? { ...f, mirror: !f.mirror } : { ...f, n: bump(f.n, f.mirror ? other(side) : side, rng) };

const chestCount: Template = {
  name: 'chest_count',
  kind: 'image',
  about: 'How many nodules are in the left|right lung? Count the bright nodules in one lung; from level 2 the other lung has nodules too.',
  draft(rng, ctx) {
    const side = rng.pick(SIDES);
    const { sc, n } = build(ctx.level, this.name, (most) => {
      const n = { [side]: rng.int(0, most), [other(side)]: ctx.level === 1 ? 0 : rng.int(0, most) } as Record<Side, number>;
      const sc = chestWith(rng, ctx, { nodules: n });
      return sc && { sc, n };
    });
    return erase<SideFacts>({
      question: `How many nodules are in the ${side} lung?`,
      answers: countOptions(rng, n[side], ctx.level + 2),
      facts: { n, mirror: false },
      explain: (f) => {
        const k = read(f.n, side, f.mirror);
        return { steps: [`The ${side} lung is on the image's ${f.mirror ? side : imageSide(side)}.`, `It has ${count(k, 'nodule')}.`], answer: String(k) };
      },
      perturb: (f, r) => flipOrBump(f, r, side),
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

const chestCompareCount: Template = {
  name: 'chest_compare_count',
  kind: 'image',
  about: 'Which lung has more nodules? (Left / Right / Same number). Level 1 counts differ; level 3 counts differ by at most one.',
  draft(rng, ctx) {
    const { sc, n } = build(ctx.level, this.name, (most) => {
      const l = rng.int(0, most);
      let r: number;
      if (ctx.level === 1) {
        // Uniform over the unequal pairs.
        r = rng.int(0, most - 1);
        if (r >= l) r++;
      } else if (ctx.level === 2) {
        r = rng.int(0, most);
      } else {
        r = Math.max(0, Math.min(most, l + rng.int(-1, 1)));
      }
      const n = { left: l, right: r };
      const sc = chestWith(rng, ctx, { nodules: n });
      return sc && { sc, n };
    });
    return erase<SideFacts>({
      question: 'Which lung has more nodules?',
      answers: ['Left', 'Right', 'Same number'],
      facts: { n, mirror: false },
      explain: (f) => {
        const r = read(f.n, 'right', f.mirror);
        const l = read(f.n, 'left', f.mirror);
        const verdict =
          l === r ? ['Both lungs have the same number.', 'Same number'] : l > r ? ['The left lung has more.', 'Left'] : ['The right lung has more.', 'Right'];
        return {
          steps: [
            `${cap(where('lung', 'right', f.mirror))} has ${count(r, 'nodule')}.`,
            `${cap(where('lung', 'left', f.mirror))} has ${count(l, 'nodule')}.`,
            verdict[0],
          ],
          answer: verdict[1],
        };
      },
      perturb: (f, r) => flipOrBump(f, r, r.pick(SIDES)),
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

/** Nodule area ratio of a size comparison, by level: closer sizes are harder to tell apart. */
export const SIZE_RATIO: readonly [number, number][] = [
  [1, 1],
  [2, 3],
  [1.6, 2],
  [1.3, 1.6],
];

interface SizeFacts {
  big: Side | null;
  mirror: boolean;
}

const chestCompareSize: Template = {
  name: 'chest_compare_size',
  kind: 'image',
  about: 'Which lung has the larger nodule? (Left / Right / Same size). Area ratio 2-3 at level 1, 1.3-1.6 at level 3; level 3 adds smaller extra nodules.',
  minSize: 24,
  draft(rng, ctx) {
    const [rMin, rMax] = radiusRange(ctx.size);
    const { sc, big, ratio } = build(ctx.level, this.name, (most) => {
      const same = ctx.level > 1 && rng.chance(0.2);
      const ratio = same ? 1 : rng.range(SIZE_RATIO[ctx.level][0], SIZE_RATIO[ctx.level][1]);
      const k = Math.sqrt(ratio);
      const small = rng.range(rMin, rMax / k);
      const big: Side | null = same ? null : rng.pick(SIDES);
      const largest = { left: big === 'left' ? small * k : small, right: big === 'right' ? small * k : small };
      const radii = { left: [largest.left], right: [largest.right] };
      if (ctx.level === 3) {
        for (const s of SIDES) {
          // Extra nodules stay clearly smaller than their lung's largest, which decides the answer.
          const top = largest[s] / Math.sqrt(1.3);
          const extra = Math.min(most - 1, rng.int(0, 1));
          for (let i = 0; i < extra && top > rMin; i++) radii[s].push(rng.range(rMin, top));
        }
      }
      const sc = chestWith(rng, ctx, { radii });
      return sc && { sc, big, ratio };
    });
    const word = (f: SizeFacts, s: Side) => (read({ left: f.big === 'left', right: f.big === 'right' }, s, f.mirror) ? 'larger' : 'smaller');
    return erase<SizeFacts>({
      question: 'Which lung has the larger nodule?',
      answers: ['Left', 'Right', 'Same size'],
      facts: { big, mirror: false },
      explain: (f) => {
        const seen = f.big === null ? null : f.mirror ? other(f.big) : f.big;
        if (seen === null)
          return {
            steps: [`${cap(where('lung', 'right', f.mirror))} and ${where('lung', 'left', f.mirror)} have nodules of the same size.`],
            answer: 'Same size',
          };
        return {
          steps: [
            `${cap(where('lung', 'right', f.mirror))} has a ${word(f, 'right')} nodule.`,
            `${cap(where('lung', 'left', f.mirror))} has a ${word(f, 'left')} nodule.`,
          ],
          answer: sideWord(seen),
        };
      },
      perturb: (f, r) => (r.chance(0.5) ? { ...f, mirror: !f.mirror } : { ...f, big: r.pick([null, 'left', 'right'] as (Side | null)[]) }),
      scene: sc,
      stats: { objects: objects(sc), closeness: ratio },
    });
  },
};

const chestLocate: Template = {
  name: 'chest_locate',
  kind: 'image',
  about: 'Which lung has nodules? (Left / Right / Both, + Neither at level 3).',
  draft(rng, ctx) {
    const has = drawSides(rng, ctx.level);
    const { sc, n } = build(ctx.level, this.name, (most) => {
      const n = { left: has.left ? rng.int(1, most) : 0, right: has.right ? rng.int(1, most) : 0 };
      const sc = chestWith(rng, ctx, { nodules: n });
      return sc && { sc, n };
    });
    return erase<SideFacts>({
      question: 'Which lung has nodules?',
      answers: SIDE_ANSWERS(ctx.level),
      facts: { n, mirror: false },
      explain: (f) => {
        const r = read(f.n, 'right', f.mirror);
        const l = read(f.n, 'left', f.mirror);
        return {
          steps: [`${cap(where('lung', 'right', f.mirror))} has ${count(r, 'nodule')}.`, `${cap(where('lung', 'left', f.mirror))} has ${count(l, 'nodule')}.`],
          answer: sideAnswer({ left: l > 0, right: r > 0 }),
        };
      },
      perturb: (f, r) => {
        if (r.chance(0.4)) return { ...f, mirror: !f.mirror };
        const s = r.pick(SIDES);
        return { ...f, n: { ...f.n, [s]: f.n[s] > 0 ? 0 : 1 } };
      },
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

const chestPresence: Template = {
  name: 'chest_presence',
  kind: 'image',
  about: 'Is there a nodule in the left|right lung? (Yes / No). From level 2 the other lung may have nodules.',
  draft(rng, ctx) {
    const side = rng.pick(SIDES);
    const yes = rng.chance(0.5);
    const { sc, n } = build(ctx.level, this.name, (most) => {
      const n = { [side]: yes ? rng.int(1, most) : 0, [other(side)]: ctx.level === 1 ? 0 : rng.int(0, most) } as Record<Side, number>;
      const sc = chestWith(rng, ctx, { nodules: n });
      return sc && { sc, n };
    });
    return erase<SideFacts>({
      question: `Is there a nodule in the ${side} lung?`,
      answers: ['Yes', 'No'],
      facts: { n, mirror: false },
      explain: (f) => {
        const k = read(f.n, side, f.mirror);
        return {
          steps: [`The ${side} lung is on the image's ${f.mirror ? side : imageSide(side)}.`, `It has ${count(k, 'nodule')}.`],
          answer: k > 0 ? 'Yes' : 'No',
        };
      },
      perturb: (f, r) => {
        if (r.chance(0.5)) return { ...f, mirror: !f.mirror };
        const s = f.mirror ? other(side) : side;
        return { ...f, n: { ...f.n, [s]: f.n[s] > 0 ? 0 : 1 } };
      },
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

/** Filled fraction of a lung with an effusion, by level: small effusions are easy to miss. */
export const FLUID_FRACTION: readonly [number, number][] = [
  [0, 0],
  [0.3, 0.45],
  [0.2, 0.35],
  [0.1, 0.22],
];

interface FluidFacts {
  fluid: Record<Side, boolean>;
  mirror: boolean;
}

function effusionScene(rng: Rng, ctx: TemplateContext, has: Record<Side, boolean>, what: string): Scene {
  const [lo, hi] = FLUID_FRACTION[ctx.level];
  return build(ctx.level, what, (most) => {
    const fluid = (height: number) => {
      const a = Math.max(lo, MIN_FLUID_PX / height);
      const b = Math.max(hi, a + 0.1);
      return { left: has.left ? rng.range(a, b) : 0, right: has.right ? rng.range(a, b) : 0 };
    };
    // Nodules from level 2: bright things to look past.
    const nodules = { left: ctx.level === 1 ? 0 : rng.int(0, Math.min(2, most)), right: ctx.level === 1 ? 0 : rng.int(0, Math.min(2, most)) };
    return chestWith(rng, ctx, { nodules, fluid });
  });
}

const fluidSteps = (f: FluidFacts) =>
  SIDES.slice()
    .reverse()
    .map((s) => `${cap(where('lung', s, f.mirror))} ${read(f.fluid, s, f.mirror) ? 'has a fluid level at its base' : 'has a clear base'}.`);

const toggleFluid = (f: FluidFacts, rng: Rng): FluidFacts => {
  if (rng.chance(0.3)) return { ...f, mirror: !f.mirror };
  const s = rng.pick(SIDES);
  return { ...f, fluid: { ...f.fluid, [s]: !f.fluid[s] } };
};

const effusionPresence: Template = {
  name: 'effusion_presence',
  kind: 'image',
  about: 'Is there a pleural effusion? (Yes / No): a fluid level at a lung base; smaller effusions and distracting nodules at higher levels.',
  draft(rng, ctx) {
    const yes = rng.chance(0.5);
    const has = yes
      ? ctx.level === 1
        ? rng.chance(0.5)
          ? { left: true, right: false }
          : { left: false, right: true }
        : drawSides(rng, 2)
      : { left: false, right: false };
    const sc = effusionScene(rng, ctx, has, this.name);
    return erase<FluidFacts>({
      question: 'Is there a pleural effusion?',
      answers: ['Yes', 'No'],
      facts: { fluid: has, mirror: false },
      explain: (f) => ({ steps: fluidSteps(f), answer: f.fluid.left || f.fluid.right ? 'Yes' : 'No' }),
      perturb: toggleFluid,
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

const effusionSide: Template = {
  name: 'effusion_side',
  kind: 'image',
  about: 'Which side has a pleural effusion? (Left / Right / Both, + Neither at level 3).',
  draft(rng, ctx) {
    const has = drawSides(rng, ctx.level);
    const sc = effusionScene(rng, ctx, has, this.name);
    return erase<FluidFacts>({
      question: 'Which side has a pleural effusion?',
      answers: SIDE_ANSWERS(ctx.level),
      facts: { fluid: has, mirror: false },
      explain: (f) => ({ steps: fluidSteps(f), answer: sideAnswer({ left: read(f.fluid, 'left', f.mirror), right: read(f.fluid, 'right', f.mirror) }) }),
      perturb: toggleFluid,
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

/** Gap between two fluid levels as a fraction of lung height, by level. */
export const FLUID_GAP: readonly [number, number][] = [
  [0, 0],
  [0.15, 0.25],
  [0.08, 0.15],
  [0.04, 0.08],
];

interface LevelFacts {
  higher: Side | null;
  mirror: boolean;
}

const fluidCompare: Template = {
  name: 'fluid_compare',
  kind: 'image',
  about: 'Which side has the higher fluid level? (Left / Right / Same level): both lungs hold fluid; the gap shrinks with the level.',
  minSize: 24,
  draft(rng, ctx) {
    const same = ctx.level > 1 && rng.chance(0.2);
    const higher: Side | null = same ? null : rng.pick(SIDES);
    const nominal = same ? 0 : rng.range(FLUID_GAP[ctx.level][0], FLUID_GAP[ctx.level][1]);
    let gap = nominal;
    const sc = build(ctx.level, this.name, (most) => {
      const fluid = (height: number) => {
        const base = Math.max(rng.range(0.12, 0.3), MIN_FLUID_PX / height);
        gap = same ? 0 : Math.max(nominal, MIN_FLUID_GAP_PX / height);
        return { left: higher === 'left' ? base + gap : base, right: higher === 'right' ? base + gap : base };
      };
      const nodules = { left: ctx.level === 1 ? 0 : rng.int(0, Math.min(2, most)), right: ctx.level === 1 ? 0 : rng.int(0, Math.min(2, most)) };
      return chestWith(rng, ctx, { nodules, fluid });
    });
    return erase<LevelFacts>({
      question: 'Which side has the higher fluid level?',
      answers: ['Left', 'Right', 'Same level'],
      facts: { higher, mirror: false },
      explain: (f) => {
        const seen = f.higher === null ? null : f.mirror ? other(f.higher) : f.higher;
        return {
          steps: [
            'Both lungs have a fluid level.',
            seen === null ? 'The two levels are at the same height.' : `The fluid is higher in ${where('lung', seen, f.mirror)}.`,
          ],
          answer: seen === null ? 'Same level' : sideWord(seen),
        };
      },
      perturb: (f, r) => (r.chance(0.5) ? { ...f, mirror: !f.mirror } : { ...f, higher: r.pick([null, 'left', 'right'] as (Side | null)[]) }),
      scene: sc,
      stats: { objects: objects(sc), closeness: gap },
    });
  },
};

/** Grey levels of liver lesions by level: [dark lo, dark hi, bright lo, bright hi]; the liver is ~140. */
export const LIVER_LESION: readonly number[][] = [[], [55, 70, 205, 225], [70, 80, 195, 205], [85, 95, 185, 195]];

interface AbdomenSpec {
  liver?: ('dark' | 'bright')[];
  kidney?: Record<Side, number>;
}

function abdomenWith(rng: Rng, ctx: TemplateContext, spec: AbdomenSpec): Scene | null {
  const sc = abdomenScene(rng, ctx.size, ctx.level, ctx.seed);
  const liver = organIndex(sc, 'liver', 'right');
  const [dlo, dhi, blo, bhi] = LIVER_LESION[ctx.level];
  const [lo, hi] = NODULE_SIZE[ctx.level];
  for (const pol of ['dark', 'bright'] as const) {
    const k = (spec.liver ?? []).filter((p) => p === pol).length;
    const spots = placeLesions(
      rng,
      sc,
      liver,
      Array.from({ length: k }, () => drawRadius(rng, ctx.size, lo, hi)),
    );
    if (!spots) return null;
    addLesions(sc, liver, spots, () => (pol === 'dark' ? rng.int(dlo, dhi) : rng.int(blo, bhi)), pol);
  }
  for (const side of SIDES) {
    const kidney = organIndex(sc, 'kidney', side);
    // Cysts are kept small: the kidneys are the smallest organs drawn.
    const spots = placeLesions(
      rng,
      sc,
      kidney,
      Array.from({ length: spec.kidney?.[side] ?? 0 }, () => drawRadius(rng, ctx.size, 0, 0.3)),
    );
    if (!spots) return null;
    addLesions(sc, kidney, spots, () => rng.int(60, 72), 'dark');
  }
  return sc;
}

const polarities = (rng: Rng, n: number, mixed: boolean): ('dark' | 'bright')[] => {
  const one = rng.pick(['dark', 'bright'] as const);
  return Array.from({ length: n }, () => (mixed ? rng.pick(['dark', 'bright'] as const) : one));
};

interface LiverFacts {
  n: number;
  mirror: boolean;
}

const liverCount: Template = {
  name: 'liver_count',
  kind: 'image',
  about: 'How many lesions are in the liver? Dark and bright lesions both count; level 3 adds kidney cysts to look past.',
  draft(rng, ctx) {
    const { sc, n } = build(ctx.level, this.name, (most) => {
      const n = rng.int(0, most);
      const kidney = ctx.level === 3 ? { left: rng.int(0, 1), right: rng.int(0, 1) } : undefined;
      const sc = abdomenWith(rng, ctx, { liver: polarities(rng, n, ctx.level > 1), kidney });
      return sc && { sc, n };
    });
    return erase<LiverFacts>({
      question: 'How many lesions are in the liver?',
      answers: countOptions(rng, n, ctx.level + 2),
      facts: { n, mirror: false },
      explain: (f) => {
        // A mirrored reader looks at the spleen, which never has lesions here.
        const k = f.mirror ? 0 : f.n;
        return { steps: [`The liver is on the image's ${f.mirror ? 'right' : 'left'}.`, `It has ${count(k, 'lesion')}.`], answer: String(k) };
      },
      perturb: (f, r) => (r.chance(0.25) ? { ...f, mirror: !f.mirror } : { ...f, n: f.n === 0 || r.chance(0.5) ? f.n + 1 : f.n - 1 }),
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

interface TypeFacts {
  dark: number;
  bright: number;
}

const liverLesionType: Template = {
  name: 'liver_lesion_type',
  kind: 'image',
  about:
    'Is the liver lesion darker or brighter than the liver? (Darker / Brighter, + Both kinds with several lesions at level 3); contrast falls with the level.',
  draft(rng, ctx) {
    const n = ctx.level === 3 ? rng.int(1, 3) : 1;
    const mixed = n > 1 && rng.chance(0.4);
    const { sc, pols } = build(ctx.level, this.name, (most) => {
      const pols = polarities(rng, Math.min(n, most), mixed);
      const sc = abdomenWith(rng, ctx, { liver: pols });
      return sc && { sc, pols };
    });
    const facts = { dark: pols.filter((p) => p === 'dark').length, bright: pols.filter((p) => p === 'bright').length };
    const liverValue = sc.organs[organIndex(sc, 'liver', 'right')].value;
    const contrast = sc.lesions.reduce((m, l) => Math.min(m, Math.abs(l.value - liverValue)), 255);
    const many = ctx.level === 3;
    return erase<TypeFacts>({
      question: many ? 'Are the liver lesions darker or brighter than the liver?' : 'Is the liver lesion darker or brighter than the liver?',
      answers: many ? ['Darker', 'Brighter', 'Both kinds'] : ['Darker', 'Brighter'],
      facts,
      explain: (f) => ({
        steps: [
          "The liver is on the image's left.",
          many
            ? `It has ${count(f.dark, 'darker lesion')} and ${count(f.bright, 'brighter lesion')}.`
            : `Its lesion is ${f.dark > 0 ? 'darker' : 'brighter'} than the liver.`,
        ],
        answer: f.dark > 0 && f.bright > 0 ? 'Both kinds' : f.dark > 0 ? 'Darker' : 'Brighter',
      }),
      perturb: (f, r) => {
        // Misjudge one lesion's shade.
        const fromDark = f.bright === 0 || (f.dark > 0 && r.chance(0.5));
        return fromDark ? { dark: f.dark - 1, bright: f.bright + 1 } : { dark: f.dark + 1, bright: f.bright - 1 };
      },
      scene: sc,
      stats: { objects: objects(sc), closeness: contrast },
    });
  },
};

interface KidneyFacts {
  cyst: Record<Side, boolean>;
  mirror: boolean;
}

const kidneyCystSide: Template = {
  name: 'kidney_cyst_side',
  kind: 'image',
  about: 'Which kidney has a cyst? (Left / Right / Both, + Neither at level 3); liver lesions to look past from level 2.',
  minSize: 32,
  draft(rng, ctx) {
    const has = drawSides(rng, ctx.level);
    const sc = build(ctx.level, this.name, (most) => {
      const liver = ctx.level === 1 ? [] : polarities(rng, rng.int(0, Math.min(2, most)), true);
      return abdomenWith(rng, ctx, { liver, kidney: { left: has.left ? 1 : 0, right: has.right ? 1 : 0 } });
    });
    return erase<KidneyFacts>({
      question: 'Which kidney has a cyst?',
      answers: SIDE_ANSWERS(ctx.level),
      facts: { cyst: has, mirror: false },
      explain: (f) => ({
        steps: SIDES.slice()
          .reverse()
          .map((s) => `${cap(where('kidney', s, f.mirror))} ${read(f.cyst, s, f.mirror) ? 'has a cyst' : 'has no cyst'}.`),
        answer: sideAnswer({ left: read(f.cyst, 'left', f.mirror), right: read(f.cyst, 'right', f.mirror) }),
      }),
      perturb: (f, r) => {
        if (r.chance(0.4)) return { ...f, mirror: !f.mirror };
        const s = r.pick(SIDES);
        return { ...f, cyst: { ...f.cyst, [s]: !f.cyst[s] } };
      },
      scene: sc,
      stats: { objects: objects(sc) },
    });
  },
};

export const IMAGE_TEMPLATES: readonly Template[] = [
  chestCount,
  chestCompareCount,
  chestCompareSize,
  chestLocate,
  chestPresence,
  effusionPresence,
  effusionSide,
  fluidCompare,
  liverCount,
  liverLesionType,
  kidneyCystSide,
];
