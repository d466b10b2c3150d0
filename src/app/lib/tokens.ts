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
  /** The response tokens this piece of text covers, [from, to): more than one where a character spans tokens. */
  from: number;
  to: number;
  /** The ratio to colour by: the token's, or the mean over the tokens of a merged piece. */
  ratio: number | null;
  /** The most severe flag among the piece's tokens. */
  clip: ClipFlag;
  kl: number | null;
}

const BROKEN = '\uFFFD';

export interface Piece {
  text: string;
  from: number;
  to: number;
}

/**
 * The response text cut at token boundaries, for display. Byte-level BPE splits a multi-byte
 * character (é, →, µ) across tokens, and the rollout log keeps each token decoded on its own, where
 * a partial character reads "�": its bytes are gone. The response's whole text still has the
 * character, and a token that decodes cleanly on its own decodes the same inside the text (UTF-8
 * decoders resynchronise at its first byte). So the clean tokens are anchors in the text, and each
 * run of broken tokens between two anchors becomes one piece holding the text between them.
 * When the pieces and the text cannot be aligned (an older or inconsistent record), the tokens
 * are shown as they are.
 */
export function displayPieces(tokens: readonly string[], text: string): Piece[] {
  const asIs = tokens.map((t, i) => ({ text: t, from: i, to: i + 1 }));
  if (!tokens.some((t) => t.includes(BROKEN))) return asIs;
  // Alternating stretches: clean tokens, which must match the text exactly, and runs of broken ones.
  const stretches: { from: number; to: number; broken: boolean }[] = [];
  tokens.forEach((t, i) => {
    const broken = t.includes(BROKEN);
    const last = stretches[stretches.length - 1];
    if (last && last.broken === broken) last.to = i + 1;
    else stretches.push({ from: i, to: i + 1, broken });
  });
  const out: Piece[] = [];
  const dead = new Set<string>();

  const align = (k: number, pos: number): boolean => {
    if (k === stretches.length) return pos === text.length;
    if (dead.has(`${k}:${pos}`)) return false;
    const { from, to, broken } = stretches[k];
    const mark = out.length;
    if (!broken) {
      let p = pos;
      for (let i = from; i < to; i++) {
        if (text.startsWith(tokens[i], p)) p += tokens[i].length;
        // Past the end of the text: the end-of-turn token that the text leaves out.
        else if (p !== text.length || k !== stretches.length - 1) {
          out.length = mark;
          dead.add(`${k}:${pos}`);
          return false;
        }
        out.push({ text: tokens[i], from: i, to: i + 1 });
      }
      if (align(k + 1, p)) return true;
    } else {
      // A character decodes from at least one byte and each unit a lone token shows stands for at
      // least one byte, so the run's text has at most as many units as its tokens show.
      const most = tokens.slice(from, to).reduce((n, x) => n + x.length, 0);
      for (let len = 1; len <= most && pos + len <= text.length; len++) {
        out.push({ text: text.slice(pos, pos + len), from, to });
        if (align(k + 1, pos + len)) return true;
        out.length = mark;
      }
    }
    out.length = mark;
    dead.add(`${k}:${pos}`);
    return false;
  };
  return align(0, 0) ? out : asIs;
}

/** Per-token arrays a record may carry beyond the ratios (the kernel's KL and clip flags). */
type WithStats = ResponseRecord & { kl?: number[] | null; clip?: number[] | null };

/** The response's pieces of text with their ratio, clip flag and KL where known. */
export function tokenViews(r: ResponseRecord, s: ClipSettings): TokenView[] {
  const x = r as WithStats;
  const per = r.tokens.map((_, i) => {
    const ratio = r.ratios && i < r.ratios.length ? r.ratios[i] : null;
    const given = x.clip && i < x.clip.length ? x.clip[i] : undefined;
    const clip: ClipFlag = given === 1 || given === 2 ? given : given === 0 ? 0 : ratio === null ? 0 : clipFlag(ratio, r.advantage, s);
    const kl = x.kl && i < x.kl.length && Number.isFinite(x.kl[i]) ? x.kl[i] : null;
    return { ratio, clip, kl };
  });
  const mean = (v: (number | null)[]) => {
    const got = v.filter((n): n is number => n !== null);
    return got.length ? got.reduce((a, b) => a + b, 0) / got.length : null;
  };
  return displayPieces(r.tokens, r.text).map(({ text, from, to }) => {
    const ts = per.slice(from, to);
    return {
      text,
      from,
      to,
      ratio: mean(ts.map((t) => t.ratio)),
      clip: ts.reduce<ClipFlag>((c, t) => Math.max(c, t.clip) as ClipFlag, 0),
      kl: mean(ts.map((t) => t.kl)),
    };
  });
}

/** Whether the records carry the kernel's per-token KL (else the inspector says it is not logged). */
export const hasTokenKl = (r: ResponseRecord) => Array.isArray((r as WithStats).kl);

/**
 * A token piece made visible: byte-level BPE pieces carry leading spaces and newlines that would
 * otherwise collapse or vanish inside an inline span, and an untrained model samples control bytes
 * that fonts draw as nothing or as an empty box; those read as their code point, <U+NNNN>.
 */
export function visibleToken(text: string): string {
  return (
    text
      .replace(/\n/g, '↵\n')
      .replace(/\t/g, '→')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: matching the control bytes is the point.
      .replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`)
  );
}

/** A prompt for reading: the run of image placeholder tokens (one per patch) shown once with its count. */
export function readablePrompt(prompt: string, placeholder = '<image>'): string {
  const esc = placeholder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return prompt.replace(new RegExp(`(?:${esc}){2,}`, 'g'), (run) => `${placeholder}×${run.length / placeholder.length}`);
}
