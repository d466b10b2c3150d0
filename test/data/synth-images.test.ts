// The synth scans say what their questions say: every answer is read back from the decoded PNG's
// pixels. Only the organs' outlines and grey levels come from the scene; nodules, lesions, cysts
// and fluid are found by thresholding and connected components, and the sides come from where the
// organs are in the image (the patient's left is the image's right), not from the scene's labels.

import { describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { generateSynthCases, type Scene, type SynthCase } from '../../src/data/synth';
import type { Ellipse, Lesion } from '../../src/data/synth/scene';

interface Gray {
  S: number;
  px: Uint8Array;
}

async function decode(c: SynthCase): Promise<Gray> {
  const png = PNG.sync.read(Buffer.from(await c.item.images[0].load()));
  const px = new Uint8Array(png.width * png.height);
  for (let i = 0; i < px.length; i++) px[i] = png.data[4 * i];
  expect([png.width, png.height]).toEqual([c.scene!.size, c.scene!.size]);
  return { S: png.width, px };
}

/** Pixel centre inside the ellipse shrunk by `shrink` pixels. */
function inside(e: Ellipse, x: number, y: number, shrink = 0): boolean {
  const dx = (x + 0.5 - e.cx) / (e.rx - shrink);
  const dy = (y + 0.5 - e.cy) / (e.ry - shrink);
  return dx * dx + dy * dy <= 1;
}

/** 4-connected components of pixels where mask and on hold; each a list of pixel indices. */
function components(g: Gray, mask: (x: number, y: number) => boolean, on: (v: number) => boolean): number[][] {
  const { S, px } = g;
  const seen = new Uint8Array(S * S);
  const out: number[][] = [];
  for (let i = 0; i < S * S; i++) {
    if (seen[i] || !mask(i % S, Math.floor(i / S)) || !on(px[i])) continue;
    const comp: number[] = [];
    const stack = [i];
    seen[i] = 1;
    while (stack.length) {
      const j = stack.pop()!;
      comp.push(j);
      const x = j % S,
        y = Math.floor(j / S);
      for (const [nx, ny] of [
        [x + 1, y],
        [x - 1, y],
        [x, y + 1],
        [x, y - 1],
      ]) {
        const k = ny * S + nx;
        if (nx < 0 || ny < 0 || nx >= S || ny >= S || seen[k] || !mask(nx, ny) || !on(px[k])) continue;
        seen[k] = 1;
        stack.push(k);
      }
    }
    out.push(comp);
  }
  return out;
}

/** Organs of a name as [image-left, image-right]: [patient's right, patient's left]. */
function pair(sc: Scene, name: string) {
  const os = sc.organs.filter((o) => o.name === name).sort((a, b) => a.shape.cx - b.shape.cx);
  expect(os.length).toBe(2);
  return { right: os[0], left: os[1] };
}

const byPatient = <T>(f: (o: Scene['organs'][number]) => T, p: ReturnType<typeof pair>) => ({ left: f(p.left), right: p.right && f(p.right) });

function sideAnswer(left: boolean, right: boolean) {
  return left && right ? 'Both' : left ? 'Left' : right ? 'Right' : 'Neither';
}

/** Bright nodules of one lung: components above the midpoint between lung and the faintest nodule grey. */
function nodules(g: Gray, lung: Scene['organs'][number]) {
  const t = (lung.value + 200) / 2;
  return components(
    g,
    (x, y) => inside(lung.shape, x, y),
    (v) => v > t,
  );
}

/** Area of a blob in pixels from its intensity (so anti-aliased edges count fractionally). */
function blobArea(g: Gray, comp: number[], lung: Scene['organs'][number], lesions: Lesion[]): number {
  const { S, px } = g;
  const cx = comp.reduce((a, i) => a + (i % S) + 0.5, 0) / comp.length;
  const cy = comp.reduce((a, i) => a + Math.floor(i / S) + 0.5, 0) / comp.length;
  const lesion = lesions.reduce((b, l) => (Math.hypot(l.cx - cx, l.cy - cy) < Math.hypot(b.cx - cx, b.cy - cy) ? l : b));
  const near = new Set<number>();
  for (const i of comp) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) near.add(i + dy * S + dx);
  let a = 0;
  for (const i of near) a += Math.min(1, Math.max(0, (px[i] - lung.value) / (lesion.value - lung.value)));
  return a;
}

/** Rows of a lung filled with fluid, measured at columns clear of the heart and of nodules. */
function fluidTop(g: Gray, sc: Scene, lung: Scene['organs'][number], y0: number, y1: number): number | null {
  const heart = sc.organs.find((o) => o.name === 'heart')!.shape;
  const fluid = sc.fluid.find((f) => sc.organs[f.organ] === lung)!;
  const e = lung.shape;
  const tops: number[] = [];
  for (let x = Math.floor(e.cx - e.rx); x <= Math.ceil(e.cx + e.rx); x++) {
    let ok = true;
    for (let y = y0; y <= y1 && ok; y++) {
      if (!inside(e, x, y, 0.75) || inside({ ...heart, rx: heart.rx + 0.75, ry: heart.ry + 0.75 }, x, y)) ok = false;
      for (const l of sc.lesions) if (Math.hypot(l.cx - x - 0.5, l.cy - y - 0.5) < l.r + 1) ok = false;
    }
    if (!ok) continue;
    let f = 0;
    for (let y = y0; y <= y1; y++) f += Math.min(1, Math.max(0, (g.px[y * g.S + x] - lung.value) / (fluid.value - lung.value)));
    tops.push(y1 + 1 - f);
  }
  return tops.length ? tops.reduce((a, b) => a + b, 0) / tops.length : null;
}

/** Fluid pixels of a lung: between lung and nodule grey, inside it, off the heart and the nodules. */
function hasFluid(g: Gray, sc: Scene, lung: Scene['organs'][number]): boolean {
  const heart = sc.organs.find((o) => o.name === 'heart')!.shape;
  // Three quarters of the way from lung to the faintest fluid grey: above any lung pixel that
  // shares its area with the body around it.
  const lo = lung.value + 0.75 * (92 - lung.value);
  const hi = (lung.value + 200) / 2;
  const comps = components(
    g,
    (x, y) =>
      inside(lung.shape, x, y, 0.5) &&
      !inside({ ...heart, rx: heart.rx + 0.5, ry: heart.ry + 0.5 }, x, y) &&
      !sc.lesions.some((l) => Math.hypot(l.cx - x - 0.5, l.cy - y - 0.5) < l.r + 1.5),
    (v) => v > lo && v < hi,
  );
  return comps.length > 0;
}

function checkChest(g: Gray, c: SynthCase, tally: Record<string, number>) {
  const sc = c.scene!;
  const lungs = pair(sc, 'lung');
  const q = c.item.question;
  const counts = byPatient((o) => nodules(g, o).length, lungs);
  // Every drawn nodule is found, in the lung it was drawn in.
  for (const s of ['left', 'right'] as const) {
    expect(counts[s], `${q} (${s} lung)`).toBe(sc.lesions.filter((l) => sc.organs[l.organ] === lungs[s]).length);
  }
  const side = /the (left|right) lung\?$/.exec(q)?.[1] as 'left' | 'right' | undefined;
  let expected: string;
  switch (c.template) {
    case 'chest_count':
      expected = String(counts[side!]);
      break;
    case 'chest_presence':
      expected = counts[side!] > 0 ? 'Yes' : 'No';
      break;
    case 'chest_locate':
      expected = sideAnswer(counts.left > 0, counts.right > 0);
      break;
    case 'chest_compare_count':
      expected = counts.left === counts.right ? 'Same number' : counts.left > counts.right ? 'Left' : 'Right';
      break;
    case 'chest_compare_size': {
      const largest = byPatient((o) => Math.max(...nodules(g, o).map((comp) => blobArea(g, comp, o, sc.lesions))), lungs);
      const ratio = largest.left / largest.right;
      if (c.item.answer === 'Same size') {
        expect(Math.abs(ratio - 1), q).toBeLessThan(0.2);
        expected = 'Same size';
      } else {
        expect(Math.max(ratio, 1 / ratio), q).toBeGreaterThan(1.15);
        expected = ratio > 1 ? 'Left' : 'Right';
      }
      break;
    }
    case 'effusion_presence':
    case 'effusion_side': {
      const fl = byPatient((o) => hasFluid(g, sc, o), lungs);
      expected = c.template === 'effusion_side' ? sideAnswer(fl.left, fl.right) : fl.left || fl.right ? 'Yes' : 'No';
      break;
    }
    case 'fluid_compare': {
      const tops = sc.fluid.map((f) => f.top);
      const y0 = Math.floor(Math.min(...tops)) - 1;
      const y1 = Math.floor(Math.max(...tops)) + 1;
      const t = byPatient((o) => fluidTop(g, sc, o, y0, y1), lungs);
      if (t.left === null || t.right === null) {
        tally.unmeasured = (tally.unmeasured ?? 0) + 1;
        return;
      }
      if (c.item.answer === 'Same level') {
        expect(Math.abs(t.left - t.right), q).toBeLessThan(0.5);
        expected = 'Same level';
      } else {
        expected = t.left < t.right ? 'Left' : 'Right';
      }
      break;
    }
    default:
      throw new Error(`no pixel check for ${c.template}`);
  }
  expect(c.item.answer, `${c.item.source}: ${q}`).toBe(expected);
  tally[c.template] = (tally[c.template] ?? 0) + 1;
}

function checkAbdomen(g: Gray, c: SynthCase, tally: Record<string, number>) {
  const sc = c.scene!;
  const liver = sc.organs.find((o) => o.name === 'liver')!;
  // The liver is drawn on the image's left: the patient's right.
  expect(liver.shape.cx).toBeLessThan(g.S / 2);
  const inLiver = (x: number, y: number) => inside(liver.shape, x, y, 1);
  const dark = components(g, inLiver, (v) => v < liver.value - 22).length;
  const bright = components(g, inLiver, (v) => v > liver.value + 22).length;
  const drawn = sc.lesions.filter((l) => sc.organs[l.organ] === liver);
  expect(dark + bright).toBe(drawn.length);
  let expected: string;
  if (c.template === 'liver_count') expected = String(dark + bright);
  else if (c.template === 'liver_lesion_type') expected = dark && bright ? 'Both kinds' : dark ? 'Darker' : 'Brighter';
  else if (c.template === 'kidney_cyst_side') {
    const cysts = byPatient(
      (o) =>
        components(
          g,
          (x, y) => inside(o.shape, x, y, 0.75),
          (v) => v < o.value - 45,
        ).length,
      pair(sc, 'kidney'),
    );
    expected = sideAnswer(cysts.left > 0, cysts.right > 0);
  } else throw new Error(`no pixel check for ${c.template}`);
  expect(c.item.answer, `${c.item.source}: ${c.item.question}`).toBe(expected);
  tally[c.template] = (tally[c.template] ?? 0) + 1;
}

describe('synth scans: answers read back from the pixels', () => {
  for (const size of [16, 32, 64]) {
    it(`${size}x${size}, levels 1-3`, async () => {
      const tally: Record<string, number> = {};
      for (const level of [1, 2, 3] as const) {
        const cases = await generateSynthCases({ n: 160, kind: 'image', level, seed: 1000 + size, split: 'train', imageSize: size });
        for (const c of cases) {
          const g = await decode(c);
          if (c.scene!.region === 'chest') checkChest(g, c, tally);
          else checkAbdomen(g, c, tally);
        }
      }
      // Every template was checked many times; comparisons of fluid levels were measurable.
      for (const [t, n] of Object.entries(tally)) if (t !== 'unmeasured') expect(n, t).toBeGreaterThan(size < 32 ? 25 : 20);
      expect(Object.keys(tally).filter((t) => t !== 'unmeasured').length).toBe(size < 24 ? 8 : 11);
      if (size >= 24) expect(tally.unmeasured ?? 0).toBeLessThan(tally.fluid_compare / 4);
    });
  }
});
