// The curated list and the dtype/memory choice made before any download.
import { describe, it, expect } from 'vitest';
import { CATALOG, catalogEntry, catalogFor, pickDtype, NotEnoughMemoryError, WASM_MEMORY_BYTES } from '../../src/pretrained/catalog';
import { InputError } from '../../src/engine/errors';

const GiB = 2 ** 30;
const big = { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 4 * GiB - 4 };
const small = { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 };
const smol = catalogEntry('HuggingFaceTB/SmolVLM-256M-Instruct')!;
const medgemma = CATALOG.find((e) => e.modelType === 'gemma3')!;

describe('catalog', () => {
  it('lists the five curated models, each with sizes for every dtype it offers', () => {
    expect(CATALOG.map((e) => e.modelType)).toEqual(['idefics3', 'idefics3', 'qwen2_vl', 'florence2', 'gemma3']);
    for (const e of CATALOG) {
      expect(Object.keys(e.dtypes).length).toBeGreaterThan(1);
      for (const n of Object.values(e.dtypes)) {
        expect(n!.memoryBytes).toBeGreaterThanOrEqual(n!.downloadBytes * 0.9);
        expect(n!.largestTensorBytes).toBeLessThan(n!.downloadBytes);
      }
    }
    expect(catalogEntry(' huggingfacetb/smolvlm-256m-instruct ')).toBe(smol);
    expect(catalogEntry('someone/else')).toBeUndefined();
  });

  it('picks q4f16 with shader-f16, q4 without it, and q4 on WASM', () => {
    expect(pickDtype(smol, ['shader-f16'], big)).toMatchObject({ dtype: 'q4f16', device: 'webgpu' });
    expect(pickDtype(smol, ['timestamp-query'], big)).toMatchObject({ dtype: 'q4', device: 'webgpu' });
    expect(pickDtype(smol, [], null)).toMatchObject({ dtype: 'q4', device: 'wasm' });
    // Florence-2 has no q4f16 build: fp16 is next with shader-f16.
    expect(pickDtype(catalogEntry('onnx-community/Florence-2-base-ft')!, ['shader-f16'], big)).toMatchObject({ dtype: 'fp16' });
  });

  it('refuses f16 weights without shader-f16, and dtypes a model does not have', () => {
    expect(() => pickDtype(smol, [], big, { dtype: 'fp16' })).toThrow(/fp16 cannot run on webgpu without shader-f16; choose q4 or fp32/);
    expect(() => pickDtype(medgemma, ['shader-f16'], big, { dtype: 'fp32' })).toThrow(/has no fp32 build/);
    expect(pickDtype(smol, ['shader-f16'], big, { dtype: 'fp32' })).toMatchObject({ dtype: 'fp32', why: 'asked for' });
  });

  it('falls back to a smaller dtype when the larger one does not fit, and refuses when none fits', () => {
    // Qwen2-VL's q4 keeps a 930 MB f32 embedding; with 600 MB buffers only the f16 builds (470 MB) fit.
    const qwen = catalogEntry('onnx-community/Qwen2-VL-2B-Instruct')!;
    const mid = { maxBufferSize: 600e6, maxStorageBufferBindingSize: 600e6 };
    expect(pickDtype(qwen, [], big).dtype).toBe('q4');
    expect(() => pickDtype(qwen, [], mid)).toThrow(NotEnoughMemoryError);
    expect(pickDtype(qwen, ['shader-f16'], mid).dtype).toBe('q4f16');
    // MedGemma's 1.3 GB embedding does not fit a 128 MB binding: refused, naming the numbers.
    let err: unknown;
    try {
      pickDtype(medgemma, ['shader-f16'], small);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NotEnoughMemoryError);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(
      `${medgemma.id}: not enough memory: ${medgemma.label} (q4f16) has a weight tensor of about 1.3 GB, but this GPU allows buffers of at most 0.13 GB (maxBufferSize 0.27 GB, maxStorageBufferBindingSize 0.13 GB). Pick a smaller model or a GPU with more memory.`,
    );
    // On WASM the limit is the 4 GB address space; machine memory counts when known.
    expect(() => pickDtype(medgemma, [], null)).toThrow(/more than the 4 GB a WebAssembly module can address/);
    expect(medgemma.dtypes.q4!.memoryBytes).toBeGreaterThan(WASM_MEMORY_BYTES);
    expect(() => pickDtype(smol, ['shader-f16'], big, { memoryBytes: 300e6 })).toThrow(/needs about 0\.40 GB of memory; this machine reports 0\.30 GB/);
  });

  it('shows every entry with its choice or the reason it cannot run', () => {
    const view = catalogFor(['shader-f16'], small);
    expect(view.find((v) => v.id === smol.id)!.choice!.dtype).toBe('q4f16');
    const mg = view.find((v) => v.id === medgemma.id)!;
    expect(mg.choice).toBeNull();
    expect(mg.refusal).toMatch(/not enough memory/);
  });
});
