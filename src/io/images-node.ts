// Node decoders (jpeg-js, pngjs), loaded only outside the browser by images.ts.

import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { InputError } from '../engine/errors';
import { MAX_IMAGE_PIXELS, type ImageFormat, type RgbaImage } from './images';

export function decodeRgbaNode(bytes: Uint8Array, format: ImageFormat, where: string): RgbaImage {
  try {
    if (format === 'jpeg') {
      // Tolerant decoding would turn a truncated file into an image with grey blocks; fail instead.
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        tolerantDecoding: false,
        maxMemoryUsageInMB: 1024,
        maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6,
      });
      return { width: img.width, height: img.height, rgba: img.data };
    }
    const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return { width: png.width, height: png.height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength) };
  } catch (e) {
    throw new InputError(where, `cannot decode the ${format.toUpperCase()} image: ${(e as Error).message || 'corrupt or truncated'}`);
  }
}

// This module fits the view that host-independent code compiles against (images-node.core.ts).
type Fits<T extends typeof import('./images-node.core')> = T;
export type CoreView = Fits<typeof import('./images-node')>;
