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
import { testGpu } from '../helpers/gpu';

const SHAPE = ['model.hiddenSize=32', 'model.numHeads=2', 'model.numKvHeads=1', 'model.intermediateSize=64', 'model.context=256', 'model.vocabSize=600'];
const DATA = ['data.synth.kind="mixed"', 'data.synth.n=24', 'data.synth.evalN=4', 'data.synth.options={"imageSize":32}'];

describe('GRPO on mixed synth data', () => {
  it('runs every step on text and scan prompts, and no response holds <image>', async () => {
    const gpu = await testGpu();
    const dir = mkdtempSync(path.join(tmpdir(), 'thinker-grpo-mixed-'));
    const deps = { gpu, handleSignals: false, log: () => undefined };
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
  }, 600_000);
});
