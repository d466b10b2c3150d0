// Images to the vision encoder's input: a square grayscale or RGB image cut into P x P patches,
// row-major over the patch grid, each flattened as (dy, dx, channel) and scaled to [-1, 1].
import { InputError } from '../engine/errors';
import { patchDim, patchesPerImage, type VisionConfig } from './config';

/** `pixels`: HWC values in [0, 1] of an image already resized to v.imageSize. */
export function patchify(pixels: Float32Array, v: VisionConfig, where = 'image'): Float32Array {
  const S = v.imageSize,
    P = v.patchSize,
    C = v.channels;
  if (pixels.length !== S * S * C) throw new InputError(where, `expected ${S}x${S}x${C} pixels, got ${pixels.length} values`);
  const grid = S / P;
  const out = new Float32Array(patchesPerImage(v) * patchDim(v));
  let o = 0;
  for (let py = 0; py < grid; py++) {
    for (let px = 0; px < grid; px++) {
      for (let dy = 0; dy < P; dy++) {
        for (let dx = 0; dx < P; dx++) {
          const base = ((py * P + dy) * S + (px * P + dx)) * C;
          for (let c = 0; c < C; c++) out[o++] = pixels[base + c] * 2 - 1;
        }
      }
    }
  }
  return out;
}
