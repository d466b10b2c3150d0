// What the inspector shows per token. Rollout records carry each response token's probability
// ratio; whether the PPO clip cut its gradient follows from the ratio, the response's advantage and
// the run's clip settings, by the same rule as the policy-loss kernel (shaders/grpo.wgsl). Records
// that also carry the kernel's own per-token flags and KL (`clip`, `kl`) are shown as they are.
import type { ResponseRecord } from '../../recipe/grpo';

/** 0 none, 1 ratio clipped (no gradient), 2 dual-clipped (negative advantage, ratio past c). */
export type ClipFlag = 0 | 1 | 2;

export interface ClipSettings {
  clipLow: number;
  clipHigh: number;
  /** 0 = dual clip off. */
  clipC: number;
}

/**
 * The kernel's flag: clipped when the clipped surrogate -A*clamp(r) exceeds the plain -A*r (so the
 * max picks the constant term); dual-clipped when, for A < 0, that max exceeds -A*c.
 */
export function clipFlag(ratio: number, advantage: number, s: ClipSettings): ClipFlag {
  if (!Number.isFinite(ratio) || advantage === 0) return 0;
  const l1 = -advantage * ratio;
  const l2 = -advantage * Math.min(Math.max(ratio, 1 - s.clipLow), 1 + s.clipHigh);
  const pg = Math.max(l1, l2);
  if (s.clipC > 0 && advantage < 0 && pg > -advantage * s.clipC) return 2;
  return l2 > l1 ? 1 : 0;
}

export interface TokenView {
  text: string;
  ratio: number | null;
  clip: ClipFlag;
  kl: number | null;
}

/** Per-token arrays a record may carry beyond the ratios (the kernel's KL and clip flags). */
type WithStats = ResponseRecord & { kl?: number[] | null; clip?: number[] | null };

/** The tokens of one response with their ratio, clip flag and KL where known. */
export function tokenViews(r: ResponseRecord, s: ClipSettings): TokenView[] {
  const x = r as WithStats;
  return r.tokens.map((text, i) => {
    const ratio = r.ratios && i < r.ratios.length ? r.ratios[i] : null;
    const given = x.clip && i < x.clip.length ? x.clip[i] : undefined;
    const clip: ClipFlag = given === 1 || given === 2 ? given : given === 0 ? 0 : ratio === null ? 0 : clipFlag(ratio, r.advantage, s);
    const kl = x.kl && i < x.kl.length && Number.isFinite(x.kl[i]) ? x.kl[i] : null;
    return { text, ratio, clip, kl };
  });
}

/** Whether the records carry the kernel's per-token KL (else the inspector says it is not logged). */
export const hasTokenKl = (r: ResponseRecord) => Array.isArray((r as WithStats).kl);

/**
 * A token piece made visible: byte-level BPE pieces carry leading spaces and newlines that would
 * otherwise collapse or vanish inside an inline span.
 */
export function visibleToken(text: string): string {
  return text.replace(/\n/g, '↵\n').replace(/\t/g, '→');
}
