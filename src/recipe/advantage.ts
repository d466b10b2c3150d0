// Group-relative advantages of GRPO (recipe §5): every response is compared with the other
// responses to the same prompt, so the group's mean reward is the baseline and no value model is
// needed.

export interface AdvantageOptions {
  /**
   * Divide by the group's standard deviation (GRPO, default) or only subtract the mean (Dr. GRPO,
   * arXiv 2503.20783: the std division over-weights prompts that are nearly always or never solved).
   */
  normalizeStd?: boolean;
  /**
   * Leave out groups whose rewards are all equal (DAPO's dynamic sampling, arXiv 2503.14476: such
   * groups have zero advantage and only dilute the batch). DAPO then samples more prompts to refill
   * the batch; here the step simply trains on fewer groups.
   */
  dropEqualGroups?: boolean;
  /** Added to the std before dividing (verl's epsilon). */
  epsilon?: number;
}

export interface GroupAdvantage {
  advantages: number[];
  mean: number;
  /** Sample standard deviation (N - 1), 0 for a group of one. */
  std: number;
  /** False when the group is left out of the update (dropEqualGroups and all rewards equal). */
  kept: boolean;
}

export interface AdvantageStats {
  /** Over the responses of kept groups. */
  mean: number;
  std: number;
  min: number;
  max: number;
  /** Kept responses whose advantage is exactly 0 (no policy-gradient signal). */
  zeroFraction: number;
  groupsKept: number;
  groupsDropped: number;
  /** Groups whose rewards were all equal (dropped or not). */
  groupsEqual: number;
}

const allEqual = (r: number[]) => r.every((x) => x === r[0]);

/**
 * One group's advantages: (r - mean) / (std + epsilon), as verl's compute_grpo_outcome_advantage
 * (verl/trainer/ppo/core_algos.py), whose std is torch.std, the unbiased (N - 1) estimator.
 * A group of one has no baseline: its advantage is 0 (verl would pass its raw score through with
 * mean 0 and std 1, which for a 0/1 reward is a REINFORCE step without a baseline).
 */
export function groupAdvantage(rewards: number[], o: AdvantageOptions = {}): GroupAdvantage {
  const G = rewards.length;
  const eps = o.epsilon ?? 1e-6;
  const equal = G > 0 && allEqual(rewards);
  const kept = !(o.dropEqualGroups && equal);
  if (G <= 1) return { advantages: rewards.map(() => 0), mean: rewards[0] ?? 0, std: 0, kept };
  const mean = rewards.reduce((a, b) => a + b, 0) / G;
  const std = Math.sqrt(rewards.reduce((a, r) => a + (r - mean) ** 2, 0) / (G - 1));
  const norm = o.normalizeStd ?? true;
  // Equal rewards give exactly 0 (r - mean is 0 up to rounding of the mean; make it exact).
  const advantages = rewards.map((r) => (equal ? 0 : norm ? (r - mean) / (std + eps) : r - mean));
  return { advantages, mean, std, kept };
}

/** Advantages of every group of a step, and their summary over the kept groups. */
export function computeAdvantages(groups: number[][], o: AdvantageOptions = {}): { groups: GroupAdvantage[]; stats: AdvantageStats } {
  const out = groups.map((g) => groupAdvantage(g, o));
  const kept = out.filter((g) => g.kept).flatMap((g) => g.advantages);
  const n = kept.length;
  const mean = n ? kept.reduce((a, b) => a + b, 0) / n : 0;
  const std = n ? Math.sqrt(kept.reduce((a, x) => a + (x - mean) ** 2, 0) / n) : 0;
  return {
    groups: out,
    stats: {
      mean,
      std,
      min: n ? Math.min(...kept) : 0,
      max: n ? Math.max(...kept) : 0,
      zeroFraction: n ? kept.filter((x) => x === 0).length / n : 0,
      groupsKept: out.filter((g) => g.kept).length,
      groupsDropped: out.filter((g) => !g.kept).length,
      groupsEqual: groups.filter((g) => g.length > 0 && allEqual(g)).length,
    },
  };
}
