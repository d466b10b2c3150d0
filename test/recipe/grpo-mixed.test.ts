// GRPO through its run driver on mixed synth data (text questions and scans in one run), from an
// SFT checkpoint of a fresh vision model: the case that crashed in the app at step 2 ("65 <image>
// placeholder tokens for 4 images"). Every step completes, scan prompts carry their image run, and
// no response holds a placeholder.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runSftCommand, type SftSummary } from '../../src/cli/commands/sft';
import { runGrpoCommand, type GrpoSummary } from '../../src/cli/commands/grpo';
import type { GroupRecord } from '../../src/recipe/grpo';
import { CHAT } from '../../src/io/chat';
import { answerShares } from '../../src/recipe/grpo-signal';
import { testGpu } from '../helpers/gpu';

const SHAPE = ['model.hiddenSize=32', 'model.numHeads=2', 'model.numKvHeads=1', 'model.intermediateSize=64', 'model.context=256', 'model.vocabSize=600'];
const DATA = ['data.synth.kind="mixed"', 'data.synth.n=24', 'data.synth.evalN=4', 'data.synth.options={"imageSize":32}'];

describe('GRPO on mixed synth data', () => {
  it('runs every step on text and scan prompts, and no response holds <image>', async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(path.join(tmpdir(), 'thinker-grpo-mixed-'));
    const lines: string[] = [];
    const deps = { gpu, handleSignals: false, log: (l: string) => lines.push(l) };
    const s = (await runSftCommand(
      {
        config: 'synth-micro',
        out: path.join(dir, 'sft'),
        steps: '3',
        quiet: true,
        set: [...SHAPE, ...DATA, 'model.vision="on"', 'maxLength=256', 'batchSize=4', 'eval.items=0', 'checkpoint.every=0'],
      },
      deps,
    )) as SftSummary;
    expect(s.stopped).toBe('completed');
    const out = path.join(dir, 'grpo');
    const g = (await runGrpoCommand(
      {
        config: 'synth-micro',
        model: path.resolve(s.checkpoint),
        out,
        steps: '3',
        quiet: true,
        set: [
          ...DATA,
          'groupSize=4',
          'promptsPerStep=4',
          'rolloutBatch=16',
          'microBatch=8',
          'maxNewTokens=24',
          'maxPromptTokens=230',
          'eval.items=2',
          'eval.maxNewTokens=8',
        ],
      },
      deps,
    )) as GrpoSummary;
    expect(g.stopped).toBe(false);
    expect(g.step).toBe(3);
    const groups = readFileSync(path.join(out, 'rollouts.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as GroupRecord);
    expect(groups).toHaveLength(12);
    const scans = groups.filter((x) => x.prompt.includes(CHAT.image));
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.length).toBeLessThan(groups.length);
    for (const x of groups) for (const r of x.responses) expect(r.tokens).not.toContain(CHAT.image);
    // Each step row's answer shares are those of its own rollouts (options read back from the prompt).
    const rows = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.type === 'step');
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3]);
    for (const r of rows) {
      const mine = groups.filter((x) => x.step === r.step);
      const want = answerShares(
        mine.map((x) => ({
          options: Object.fromEntries([...x.prompt.matchAll(/\n([A-E])\. ([^\n<]+)/g)].map((m) => [m[1], m[2]])),
          answerLabel: x.item.answer_label,
          responses: x.responses.map((y) => y.text),
        })),
      );
      expect({ answer_top: r.answer_top, answer_top_share: r.answer_top_share, gold_top_share: r.gold_top_share }).toEqual(want);
      expect(want.gold_top_share * 4).toBe(Math.round(want.gold_top_share * 4));
    }
    // A 3-step SFT model has no answer format: every reward is 0, and after the third such step
    // the run prints the Train page's warning, once.
    expect(rows.every((r) => (r.format_rate as number) <= 0.05)).toBe(true);
    expect(lines.filter((l) => l.startsWith('warning: ')).map((l) => l.slice(0, 40))).toEqual(['warning: No learning signal: almost no s']);
  }, 600_000);
});
