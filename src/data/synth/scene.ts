// Procedural grayscale "scans": an axial slice of a chest (lungs, heart, spine, nodules, pleural
// fluid) or an abdomen (liver, spleen, kidneys, spine, lesions and cysts). A scene is a small list
// of ellipses in pixel units; the image is drawn from it, so the question asked about a scene and
// the pixels the model sees come from one source of truth.
//
// Orientation follows radiology: the viewer looks up from the patient's feet, so the patient's
// LEFT is on the image's RIGHT. Questions say "left lung" (the patient's); the teacher's traces
// spell out the mapping ("the left lung (image right)").
//
// Only + - * / and Math.sqrt/floor/round are used (all exactly rounded in IEEE arithmetic), never
// Math.sin/cos/exp, whose last bit may differ between engines: the same seed draws the same bytes
// in a browser and in Node.

import type { Rng } from './rng';
import { hashInts } from './rng';

/** The patient's side. */
export type Side = 'left' | 'right';
export const SIDES: readonly Side[] = ['left', 'right'];

/** Axis-aligned ellipse in pixels; pixel (x, y) covers [x, x+1) x [y, y+1). */
export interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
}

export type OrganName = 'lung' | 'heart' | 'spine' | 'liver' | 'spleen' | 'kidney';

export interface Organ {
  name: OrganName;
  side: Side | null;
  shape: Ellipse;
  value: number;
}

export interface Lesion {
  /** Index into `scene.organs` of the organ holding it. */
  organ: number;
  cx: number;
  cy: number;
  r: number;
  value: number;
  polarity: 'bright' | 'dark';
}

export interface Fluid {
  /** Index into `scene.organs` of the lung holding it. */
  organ: number;
  /** The fluid fills the lung below this row (pixels, smaller = higher). */
  top: number;
  /** Fraction of the lung's height that is filled. */
  fraction: number;
  value: number;
}

export interface Scene {
  region: 'chest' | 'abdomen';
  size: number;
  body: Ellipse;
  bodyValue: number;
  /** Skin and subcutaneous fat: a brighter band this many pixels wide inside the body outline. */
  rim: number;
  rimValue: number;
  organs: Organ[];
  fluid: Fluid[];
  lesions: Lesion[];
  /** Amplitude of the per-pixel uniform noise (grey levels). */
  noise: number;
  noiseSeed: number;
}

/** Which half of the image shows a side of the patient. */
export const imageSide = (side: Side): Side => (side === 'left' ? 'right' : 'left');

export function organIndex(scene: Scene, name: OrganName, side: Side | null = null): number {
  const i = scene.organs.findIndex((o) => o.name === name && o.side === side);
  if (i < 0) throw new Error(`scene has no ${side ?? ''} ${name}`);
  return i;
}

/** Lesion radius range in pixels: never under 1.2 px, so every lesion has a pixel > 57% covered. */
export function radiusRange(size: number): [number, number] {
  return [Math.max(1.2, 0.035 * size), Math.max(2.6, 0.08 * size)];
}

// 16 unit directions, written out so that no trigonometry runs at generation time.
// biome-ignore-start lint/suspicious/noApproximativeNumericConstant: six-digit values; Math.SQRT1_2 would change the generated scans.
const DIRS: readonly (readonly [number, number])[] = [
  [1, 0],
  [0.92388, 0.382683],
  [0.707107, 0.707107],
  [0.382683, 0.92388],
  [0, 1],
  [-0.382683, 0.92388],
  [-0.707107, 0.707107],
  [-0.92388, 0.382683],
  [-1, 0],
  [-0.92388, -0.382683],
  [-0.707107, -0.707107],
  [-0.382683, -0.92388],
  [0, -1],
  [0.382683, -0.92388],
  [0.707107, -0.707107],
  [0.92388, -0.382683],
];
// biome-ignore-end lint/suspicious/noApproximativeNumericConstant: end of the table

export const insideEllipse = (e: Ellipse, x: number, y: number) => {
  const dx = (x - e.cx) / e.rx;
  const dy = (y - e.cy) / e.ry;
  return dx * dx + dy * dy <= 1;
};

/** The circle (x, y, r) lies inside `e`, checked at 16 points of its rim. */
function circleInside(e: Ellipse, x: number, y: number, r: number): boolean {
  if (!insideEllipse(e, x, y)) return false;
  for (const [dx, dy] of DIRS) if (!insideEllipse(e, x + r * dx, y + r * dy)) return false;
  return true;
}

function circleOutside(e: Ellipse, x: number, y: number, r: number): boolean {
  if (insideEllipse(e, x, y)) return false;
  for (const [dx, dy] of DIRS) if (insideEllipse(e, x + r * dx, y + r * dy)) return false;
  return true;
}

/** Pixels kept clear between a lesion and its organ's edge, and between two lesions. */
export const ORGAN_MARGIN = 0.6;
export const LESION_GAP = 2;
const AVOID_MARGIN = 1;

export interface PlaceOptions {
  /** Organs the lesion must stay off (the heart over the left lung). */
  avoid?: number[];
  /** The lesion must end above this row (pleural fluid). */
  maxY?: number;
}

/**
 * Place lesions of the given radii in an organ, clear of its edge, of each other and of every
 * lesion already in the scene. Returns their centres, or null when one found no room.
 */
export function placeLesions(rng: Rng, scene: Scene, organ: number, radii: number[], o: PlaceOptions = {}): { cx: number; cy: number; r: number }[] | null {
  const e = scene.organs[organ].shape;
  const placed: { cx: number; cy: number; r: number }[] = [];
  const others = () => [...scene.lesions, ...placed];
  for (const r of radii) {
    let ok = false;
    for (let t = 0; t < 200 && !ok; t++) {
      const x = rng.range(e.cx - e.rx, e.cx + e.rx);
      const y = rng.range(e.cy - e.ry, e.cy + e.ry);
      if (!circleInside(e, x, y, r + ORGAN_MARGIN)) continue;
      if (o.maxY !== undefined && y + r + AVOID_MARGIN > o.maxY) continue;
      if ((o.avoid ?? []).some((a) => !circleOutside(scene.organs[a].shape, x, y, r + AVOID_MARGIN))) continue;
      if (
        others().some((l) => {
          const d = l.r + r + LESION_GAP;
          return (l.cx - x) * (l.cx - x) + (l.cy - y) * (l.cy - y) < d * d;
        })
      )
        continue;
      placed.push({ cx: x, cy: y, r });
      ok = true;
    }
    if (!ok) return null;
  }
  return placed;
}

/** Uniform radius in the size's range, or in [lo, hi] fractions of that range. */
export function drawRadius(rng: Rng, size: number, lo = 0, hi = 1): number {
  const [a, b] = radiusRange(size);
  return a + (b - a) * rng.range(lo, hi);
}

const jitter = (rng: Rng, v: number, amount: number) => v + rng.range(-amount, amount);

/** Noise amplitude by difficulty level. */
export const NOISE_BY_LEVEL = [0, 3, 6, 10];

function baseScene(rng: Rng, region: Scene['region'], size: number, level: number, seed: number): Scene {
  const S = size;
  const scale = rng.range(0.95, 1.05);
  const body: Ellipse = {
    cx: jitter(rng, 0.5, 0.01) * S,
    cy: jitter(rng, 0.52, 0.01) * S,
    rx: 0.44 * scale * S,
    ry: (region === 'chest' ? 0.35 : 0.34) * scale * S,
  };
  return {
    region,
    size: S,
    body,
    bodyValue: Math.round(rng.range(80, 90)),
    rim: Math.max(1, 0.03 * S),
    rimValue: Math.round(rng.range(115, 125)),
    organs: [],
    fluid: [],
    lesions: [],
    noise: NOISE_BY_LEVEL[level],
    noiseSeed: hashInts(seed, 0x5ca9),
  };
}

/** An empty chest: body, two lungs (same height, mirrored), heart over the left lung's base, spine. */
export function chestScene(rng: Rng, size: number, level: number, seed: number): Scene {
  const sc = baseScene(rng, 'chest', size, level, seed);
  const S = size;
  const k = sc.body.rx / (0.44 * S);
  const cx = sc.body.cx;
  const lungY = sc.body.cy - 0.04 * S * k;
  const rx = rng.range(0.145, 0.16) * S * k;
  const ry = rng.range(0.225, 0.245) * S * k;
  const off = 0.2 * S * k;
  const lungValue = Math.round(rng.range(25, 38));
  // The patient's right lung is on the image's left.
  sc.organs.push({ name: 'lung', side: 'right', shape: { cx: cx - off, cy: lungY, rx, ry }, value: lungValue });
  sc.organs.push({ name: 'lung', side: 'left', shape: { cx: cx + off, cy: lungY, rx, ry }, value: lungValue });
  sc.organs.push({
    name: 'heart',
    side: null,
    shape: { cx: cx + 0.04 * S * k, cy: lungY + 0.12 * S * k, rx: 0.11 * S * k, ry: 0.09 * S * k },
    value: Math.round(rng.range(92, 100)),
  });
  sc.organs.push({
    name: 'spine',
    side: null,
    shape: { cx, cy: sc.body.cy + 0.27 * S * k, rx: 0.05 * S * k, ry: 0.05 * S * k },
    value: Math.round(rng.range(195, 210)),
  });
  return sc;
}

/** An empty abdomen: liver on the patient's right (image left), spleen, two kidneys, spine. */
export function abdomenScene(rng: Rng, size: number, level: number, seed: number): Scene {
  const sc = baseScene(rng, 'abdomen', size, level, seed);
  const S = size;
  const k = sc.body.rx / (0.44 * S);
  const cx = sc.body.cx;
  const cy = sc.body.cy;
  sc.organs.push({
    name: 'liver',
    side: 'right',
    shape: { cx: cx - 0.14 * S * k, cy: cy - 0.08 * S * k, rx: rng.range(0.21, 0.23) * S * k, ry: rng.range(0.16, 0.18) * S * k },
    value: Math.round(rng.range(135, 145)),
  });
  sc.organs.push({
    name: 'spleen',
    side: 'left',
    shape: { cx: cx + 0.22 * S * k, cy: cy - 0.12 * S * k, rx: 0.09 * S * k, ry: 0.11 * S * k },
    value: Math.round(rng.range(118, 126)),
  });
  const kidneyValue = Math.round(rng.range(160, 170));
  const kr = { rx: 0.08 * S * k, ry: 0.105 * S * k };
  sc.organs.push({ name: 'kidney', side: 'right', shape: { cx: cx - 0.18 * S * k, cy: cy + 0.2 * S * k, ...kr }, value: kidneyValue });
  sc.organs.push({ name: 'kidney', side: 'left', shape: { cx: cx + 0.18 * S * k, cy: cy + 0.2 * S * k, ...kr }, value: kidneyValue });
  sc.organs.push({
    name: 'spine',
    side: null,
    shape: { cx, cy: cy + 0.25 * S * k, rx: 0.05 * S * k, ry: 0.05 * S * k },
    value: Math.round(rng.range(195, 210)),
  });
  return sc;
}

/** Fill a lung with fluid up to `fraction` of its height. */
export function addFluid(scene: Scene, organ: number, fraction: number, value: number) {
  const e = scene.organs[organ].shape;
  scene.fluid.push({ organ, top: e.cy + e.ry - fraction * 2 * e.ry, fraction, value });
}

export function addLesions(scene: Scene, organ: number, spots: { cx: number; cy: number; r: number }[], value: () => number, polarity: Lesion['polarity']) {
  for (const s of spots) scene.lesions.push({ organ, ...s, value: value(), polarity });
}

const SUB = 4;

/** The scan's pixels: 4x4 supersampled shapes, painted in order, plus seeded noise. */
export function renderScene(scene: Scene): Uint8Array {
  const S = scene.size;
  const N = S * SUB;
  const samples = new Float32Array(N * N);
  const paint = (e: Ellipse, value: number, minY = -Infinity) => {
    const x0 = Math.max(0, Math.floor((e.cx - e.rx) * SUB));
    const x1 = Math.min(N - 1, Math.ceil((e.cx + e.rx) * SUB));
    const y0 = Math.max(0, Math.floor(Math.max(e.cy - e.ry, minY) * SUB));
    const y1 = Math.min(N - 1, Math.ceil((e.cy + e.ry) * SUB));
    for (let sy = y0; sy <= y1; sy++) {
      const y = (sy + 0.5) / SUB;
      if (y < minY) continue;
      const dy = (y - e.cy) / e.ry;
      for (let sx = x0; sx <= x1; sx++) {
        const dx = ((sx + 0.5) / SUB - e.cx) / e.rx;
        if (dx * dx + dy * dy <= 1) samples[sy * N + sx] = value;
      }
    }
  };
  const b = scene.body;
  paint(b, scene.rimValue);
  paint({ cx: b.cx, cy: b.cy, rx: b.rx - scene.rim, ry: b.ry - scene.rim }, scene.bodyValue);
  // Fluid right after its lung, so the heart (painted later) stays in front of it.
  scene.organs.forEach((o, i) => {
    paint(o.shape, o.value);
    for (const f of scene.fluid) if (f.organ === i) paint(o.shape, f.value, f.top);
  });
  for (const l of scene.lesions) paint({ cx: l.cx, cy: l.cy, rx: l.r, ry: l.r }, l.value);

  const out = new Uint8Array(S * S);
  const A = scene.noise;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      let sum = 0;
      for (let j = 0; j < SUB; j++) for (let i = 0; i < SUB; i++) sum += samples[(y * SUB + j) * N + x * SUB + i];
      const noise = A > 0 ? (hashInts(scene.noiseSeed, y * S + x) % (2 * A + 1)) - A : 0;
      out[y * S + x] = Math.min(255, Math.max(0, Math.round(sum / (SUB * SUB)) + noise));
    }
  }
  return out;
}
