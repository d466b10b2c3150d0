// The uniform block of a kernel, declared once by name. Each WGSL shader reads its scalar
// parameters from a struct at @binding(0); the launcher must pack the same fields, in the same
// order, with the same types. A positional list of values made that an unchecked promise, so a
// launcher now declares the struct here field by field and fills it by name: TypeScript rejects a
// missing or unknown field, the declaration fixes the order, and test/kernels/params-contract.test.ts
// compares every declaration with the struct the shader actually declares.

/** A WGSL scalar a uniform field may hold; each takes 4 bytes. */
export type UniformType = 'u32' | 'i32' | 'f32';

/** A uniform field: [type, value]. Packed in order, 4 bytes each, as the WGSL struct declares them. */
export type UniformField = readonly [UniformType, number];

declare const filled: unique symbol;
/**
 * The packed fields of one dispatch. Only `UniformLayout.values` makes one, so every dispatch's
 * uniforms went through a declared layout.
 */
export type UniformBlock = readonly UniformField[] & { readonly [filled]: true };

/** Padding fields (named `_…` in WGSL, to round the struct to 16 bytes) are packed as 0 and not passed. */
type Padding = `_${string}`;

/** The values a launcher passes: one number per field of the struct except padding. */
export type UniformValues<F extends Record<string, UniformType>> = { [K in keyof F as K extends Padding ? never : K]: number };

export class UniformLayout<F extends Record<string, UniformType> = Record<string, UniformType>> {
  /** Field names and types in struct order (object key order, which is insertion order for names). */
  readonly fields: readonly (readonly [name: string, type: UniformType])[];

  constructor(
    /** The shader file (shaders/<shader>.wgsl) whose struct this is. */
    readonly shader: string,
    /** The WGSL struct's name. */
    readonly struct: string,
    fields: F,
  ) {
    this.fields = Object.entries(fields);
  }

  /** The struct filled by name, in declaration order; padding is 0. */
  values(v: UniformValues<F>): UniformBlock {
    const named = v as Record<string, number>;
    return this.fields.map(([name, type]): UniformField => [type, name.startsWith('_') ? 0 : named[name]]) as unknown as UniformBlock;
  }
}

/** Declares the uniform struct `struct` of shaders/<shader>.wgsl, its fields in WGSL order. */
export function uniformLayout<F extends Record<string, UniformType>>(shader: string, struct: string, fields: F): UniformLayout<F> {
  return new UniformLayout(shader, struct, fields);
}
