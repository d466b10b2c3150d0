// The fp32 (non-tensor-core) peak of known GPUs, so the bench can say what fraction of the card a
// matmul reaches. Vendor datasheet numbers (boost clock, dense FP32 FMA); an adapter not listed
// gets none unless `thinker bench --peak-tflops X` names it.
import type { GpuInfo } from '../engine/gpu';

const CARDS: { match: RegExp; card: string; tflops: number }[] = [
  { match: /H200/i, card: 'NVIDIA H200 (SXM)', tflops: 67 },
  { match: /H100.*PCIe/i, card: 'NVIDIA H100 PCIe', tflops: 51 },
  { match: /H100/i, card: 'NVIDIA H100 (SXM)', tflops: 67 },
  { match: /A100/i, card: 'NVIDIA A100', tflops: 19.5 },
  { match: /L40S/i, card: 'NVIDIA L40S', tflops: 91.6 },
  { match: /RTX 4090/i, card: 'NVIDIA GeForce RTX 4090', tflops: 82.6 },
  { match: /RTX 3090/i, card: 'NVIDIA GeForce RTX 3090', tflops: 35.6 },
  { match: /\bT4\b/i, card: 'NVIDIA T4', tflops: 8.1 },
  { match: /Apple M2 Max/i, card: 'Apple M2 Max (38-core GPU)', tflops: 13.6 },
];

/** The card's fp32 peak in GFLOP/s, from --peak-tflops or the table; null when unknown. */
export function fp32Peak(info: Pick<GpuInfo, 'description' | 'vendor' | 'cpu'>, overrideTflops?: number): { gflops: number; card: string } | null {
  if (overrideTflops !== undefined) return { gflops: overrideTflops * 1000, card: `${info.description || info.vendor} (--peak-tflops)` };
  if (info.cpu) return null;
  const hit = CARDS.find((c) => c.match.test(info.description));
  return hit ? { gflops: hit.tflops * 1000, card: hit.card } : null;
}
