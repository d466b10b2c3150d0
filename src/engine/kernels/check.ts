// Argument checks shared by the kernel launchers. A wrong dtype, a short tensor or two aliased
// bindings would otherwise surface as garbage results or as one opaque validation error for a whole
// submission; these throw at the call instead, naming the kernel, the tensor's role and its name.

import { tensorBytes, type DType, type Tensor } from '../tensor';
import { EngineError } from '../errors';

/**
 * Throws unless `t` has one of the allowed dtypes and at least `elems` elements.
 * `what` is the tensor's role in the kernel (`q`, `dlogits`); `layout`, when given, says what the
 * element count stands for (`[4, 10]`), because a bare count is hard to trace back to a shape.
 */
export function requireTensor(kernel: string, t: Tensor, elems: number, what: string, dtype: DType | readonly DType[] = 'f32', layout?: string): void {
  const allowed: readonly DType[] = typeof dtype === 'string' ? [dtype] : dtype;
  if (!allowed.includes(t.dtype)) {
    throw new EngineError(`${kernel}: ${what} (${t.name}) must be ${allowed.join(' or ')}, not ${t.dtype}`);
  }
  if (t.size < elems) {
    throw new EngineError(`${kernel}: ${what} (${t.name}) has ${t.size} elements, needs ${elems}${layout ? ` for ${layout}` : ''}`);
  }
}

/** The byte range CommandStream binds for a tensor: the whole tensor, and never less than 4 bytes. */
function boundRange(t: Tensor): [number, number] {
  return [t.byteOffset, t.byteOffset + tensorBytes(t)];
}

/**
 * Throws if any two of the tensors overlap in one buffer. Every storage binding is read_write (see
 * stream.ts), and WebGPU rejects two writable bindings of one buffer whose ranges overlap, so an
 * in-place call must bind the tensor once. Keys are the tensors' roles; null or undefined entries
 * (optional operands, a binding left out) are skipped.
 */
export function requireDisjoint(kernel: string, tensors: Record<string, Tensor | null | undefined>): void {
  const ts = Object.entries(tensors).filter((e): e is [string, Tensor] => e[1] != null);
  for (let i = 0; i < ts.length; i++) {
    for (let j = i + 1; j < ts.length; j++) {
      const [ra, a] = ts[i],
        [rb, b] = ts[j];
      if (a.buffer !== b.buffer) continue;
      const [a0, a1] = boundRange(a),
        [b0, b1] = boundRange(b);
      if (a0 < b1 && b0 < a1) {
        throw new EngineError(
          `${kernel}: ${ra} (${a.name}, bytes [${a0}, ${a1})) and ${rb} (${b.name}, bytes [${b0}, ${b1})) ` +
            'overlap in one GPU buffer; every tensor of a dispatch is bound writable, so they must be disjoint (copy one of them first)',
        );
      }
    }
  }
}
