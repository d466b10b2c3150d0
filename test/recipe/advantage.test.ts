import { describe, it, expect } from 'vitest';
import { computeAdvantages, groupAdvantage } from '../../src/recipe/advantage';

describe('group advantages', () => {
  it('normalises by the sample (N - 1) std as verl does: one right of four', () => {
    // mean 0.25; sample variance (0.5625 + 3 * 0.0625) / 3 = 0.25, std 0.5
    const g = groupAdvantage([1, 0, 0, 0]);
    expect(g.mean).toBe(0.25);
    expect(g.std).toBeCloseTo(0.5, 15);
    const d = 0.5 + 1e-6;
    expect(g.advantages[0]).toBeCloseTo(0.75 / d, 12);
    for (const a of g.advantages.slice(1)) expect(a).toBeCloseTo(-0.25 / d, 12);
    // Normalised advantages of a group sum to zero.
    expect(g.advantages.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12);
    expect(g.kept).toBe(true);
  });

  it('two of four right: advantages are +-0.866 (std sqrt(1/3))', () => {
    const g = groupAdvantage([1, 0, 1, 0]);
    const s = Math.sqrt(1 / 3);
    expect(g.std).toBeCloseTo(s, 15);
    expect(g.advantages).toEqual([0.5, -0.5, 0.5, -0.5].map((x) => x / (s + 1e-6)));
    expect(Math.abs(g.advantages[0])).toBeCloseTo(0.866, 3);
  });

  it('equal rewards give exactly zero advantage, and are kept unless DAPO dropping is on', () => {
    for (const r of [
      [1, 1, 1, 1],
      [0, 0, 0],
      [0.3, 0.3, 0.3],
    ]) {
      const g = groupAdvantage(r);
      expect(g.advantages).toEqual(r.map(() => 0));
      expect(g.kept).toBe(true);
      expect(groupAdvantage(r, { dropEqualGroups: true }).kept).toBe(false);
      expect(groupAdvantage(r, { normalizeStd: false }).advantages).toEqual(r.map(() => 0));
    }
    expect(groupAdvantage([1, 0, 0], { dropEqualGroups: true }).kept).toBe(true);
  });

  it('G = 1 has no baseline: advantage 0 whatever the reward', () => {
    expect(groupAdvantage([1]).advantages).toEqual([0]);
    expect(groupAdvantage([0]).advantages).toEqual([0]);
    expect(groupAdvantage([1], { normalizeStd: false }).advantages).toEqual([0]);
    // A group of one is trivially all-equal: DAPO drops it.
    expect(groupAdvantage([1], { dropEqualGroups: true }).kept).toBe(false);
  });

  it('Dr. GRPO subtracts the mean only', () => {
    const g = groupAdvantage([1, 0, 0, 0], { normalizeStd: false });
    expect(g.advantages).toEqual([0.75, -0.25, -0.25, -0.25]);
    const h = groupAdvantage([3, 1], { normalizeStd: false });
    expect(h.advantages).toEqual([1, -1]);
  });

  it('step statistics count kept, dropped and equal groups and summarise kept advantages', () => {
    const { groups, stats } = computeAdvantages(
      [
        [1, 0, 0, 0],
        [1, 1, 1, 1],
        [0, 0, 0, 0],
        [1, 0, 1, 0],
      ],
      { dropEqualGroups: true },
    );
    expect(groups.map((g) => g.kept)).toEqual([true, false, false, true]);
    expect(stats.groupsKept).toBe(2);
    expect(stats.groupsDropped).toBe(2);
    expect(stats.groupsEqual).toBe(2);
    const kept = [...groups[0].advantages, ...groups[3].advantages];
    expect(stats.mean).toBeCloseTo(kept.reduce((a, b) => a + b, 0) / 8, 12);
    expect(stats.max).toBe(Math.max(...kept));
    expect(stats.min).toBe(Math.min(...kept));
    expect(stats.zeroFraction).toBe(0);

    const all = computeAdvantages([
      [1, 0],
      [1, 1],
    ]);
    expect(all.stats.groupsKept).toBe(2);
    expect(all.stats.groupsDropped).toBe(0);
    expect(all.stats.zeroFraction).toBe(0.5);
  });
});
