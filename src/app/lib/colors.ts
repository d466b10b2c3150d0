// Colour scales of the rollout inspector. A token's background says which way and how hard the
// update pushed it: diverging scales with white at "no push", so a glance separates reinforced
// (green / blue) from discouraged (red / orange) tokens.

export type Rgb = readonly [number, number, number];

export const POSITIVE: Rgb = [22, 163, 74];
export const NEGATIVE: Rgb = [220, 38, 38];
export const RATIO_UP: Rgb = [37, 99, 235];
export const RATIO_DOWN: Rgb = [234, 88, 12];

/** Strongest tint: full opacity would hide the token's text. */
const MAX_ALPHA = 0.75;

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/**
 * A signed value on a diverging scale: t = value / scale clamped to [-1, 1]; the colour is `up`
 * or `down` with opacity sqrt(|t|) * MAX_ALPHA. Non-finite values and a non-positive scale give no tint.
 */
export function diverging(value: number, scale: number, up: Rgb = POSITIVE, down: Rgb = NEGATIVE): { t: number; css: string } {
  if (!Number.isFinite(value) || !(scale > 0)) return { t: 0, css: 'transparent' };
  const t = clamp(value / scale, -1, 1);
  if (t === 0) return { t, css: 'transparent' };
  const [r, g, b] = t > 0 ? up : down;
  // sqrt: GRPO groups are lopsided (one wrong answer among seven right ones gets a large negative
  // advantage), and a linear tint would leave the many weak pushes invisible next to the strong one.
  return { t, css: `rgba(${r}, ${g}, ${b}, ${Number((Math.sqrt(Math.abs(t)) * MAX_ALPHA).toFixed(3))})` };
}

/**
 * The scale for advantage x ratio over a group: the largest |value|, so the group's strongest push
 * is fully tinted whatever the reward spread. Never below `floor`, so a group of near-zero
 * advantages stays pale instead of being blown up to full colour.
 */
export function groupScale(values: Iterable<number>, floor = 1e-3): number {
  let m = 0;
  for (const v of values) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return Math.max(m, floor);
}

/**
 * A probability ratio on a log scale: ratio 1 is white, the clip bounds are full colour (beyond
 * them the gradient is cut off anyway). Above 1 (the update made the token likelier) is blue.
 */
export function ratioColour(ratio: number, clipLow: number, clipHigh: number): { t: number; css: string } {
  if (!(ratio > 0)) return { t: 0, css: 'transparent' };
  const lr = Math.log(ratio);
  const bound = lr >= 0 ? Math.log(1 + Math.max(clipHigh, 1e-3)) : -Math.log(1 - Math.min(Math.max(clipLow, 1e-3), 0.999));
  return diverging(lr, bound, RATIO_UP, RATIO_DOWN);
}
