// Images to the vision encoder's input: a square grayscale or RGB image cut into P x P patches,
// row-major over the patch grid, each flattened as (dy, dx, channel) and scaled to [-1, 1].
import { InputError } from '../engine/errors';
import { patchDim, patchesPerImage, type Idefics3VisionConfig, type VisionConfig } from './config';

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

/**
 * Idefics3 tiles to SigLIP patch vectors: `tiles` is [n, C, S, S] (channel-first, already rescaled
 * and normalised by the processor); each patch, row-major over the grid, is flattened as
 * (channel, row, column), the layout of the conv weight [d, C, p, p] read as a [d, C·p·p] matrix.
 */
export function idefics3Patches(tiles: Float32Array, v: Idefics3VisionConfig, where = 'image'): Float32Array {
  const S = v.imageSize,
    P = v.patchSize,
    C = v.channels;
  const per = C * S * S;
  if (tiles.length % per !== 0 || tiles.length === 0)
    throw new InputError(where, `expected tiles of ${C}x${S}x${S} values (image_size ${S}), got ${tiles.length} values`);
  const n = tiles.length / per;
  const grid = S / P;
  const out = new Float32Array(n * patchesPerImage(v) * patchDim(v));
  let o = 0;
  for (let i = 0; i < n; i++) {
    for (let py = 0; py < grid; py++) {
      for (let px = 0; px < grid; px++) {
        for (let c = 0; c < C; c++) {
          for (let dy = 0; dy < P; dy++) {
            const row = i * per + c * S * S + (py * P + dy) * S + px * P;
            for (let dx = 0; dx < P; dx++) out[o++] = tiles[row + dx];
          }
        }
      }
    }
  }
  return out;
}
