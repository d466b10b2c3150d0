// What host-independent code sees of images-node.ts (pngjs and jpeg-js, whose types bring in all of
// Node's): the core and app TypeScript projects resolve `./images-node` to this file
// (`moduleSuffixes: [".core", ""]`), and images-node.ts checks that it fits. Nothing imports this
// file at run time.

import type { ImageFormat, RgbaImage } from './images';

export declare function decodeRgbaNode(bytes: Uint8Array, format: ImageFormat, where: string): RgbaImage;
