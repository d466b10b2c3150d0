import { useEffect, useMemo, useState } from 'react';
import type { GroupRecord, ResponseRecord } from '../../recipe/grpo';
import type { GrpoConfig } from '../../recipe/grpo-config';
import { groupAdvantage } from '../../recipe/advantage';
import { diverging, groupScale, ratioColour } from '../lib/colors';
import { formatMetric } from '../lib/format';
import { hasTokenKl, readablePrompt, tokenViews, visibleToken, type ClipSettings } from '../lib/tokens';
import { useRollouts } from '../stores/rollouts';
import { useRuns } from '../stores/runs';

export function RolloutsPage() {
  const runs = useRuns((s) => s.runs);
  const refreshRuns = useRuns((s) => s.refresh);
  const run = useRollouts((s) => s.run);
  const open = useRollouts((s) => s.open);
  const grpoRuns = useMemo(() => runs.filter((r) => r.kind === 'grpo'), [runs]);
  useEffect(() => {
    void refreshRuns();
  }, [refreshRuns]);
  useEffect(() => {
    if (run && grpoRuns.some((r) => r.name === run)) return;
    const pick = grpoRuns.find((r) => r.status === 'running') ?? [...grpoRuns].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
    if (pick) void open(pick.name);
  }, [run, grpoRuns, open]);

  const info = grpoRuns.find((r) => r.name === run);
  const clip: ClipSettings = useMemo(() => {
    const c = info?.config as Partial<GrpoConfig> | undefined;
    return { clipLow: c?.clipLow ?? 0.2, clipHigh: c?.clipHigh ?? 0.2, clipC: c?.clipC ?? 0 };
  }, [info]);
  const normalizeStd = (info?.config as Partial<GrpoConfig> | undefined)?.normalizeStd ?? true;

  return (
    <div className="page">
      <header className="page-head">
        <h1>Rollouts</h1>
        <p className="lede">
          What one GRPO step saw: for a question, the G answers the model sampled, their rewards, and their advantages (reward minus the group's mean, divided
          by its spread). Tokens of answers with a positive advantage were made likelier, the others less likely; the colour shows how hard, and a dashed box
          marks tokens whose push the clip cut off.
        </p>
      </header>
      {grpoRuns.length === 0 ? (
        <section className="card">
          <p className="muted">No GRPO run yet. Start one on the Train page (after an SFT run) and its steps appear here as they happen.</p>
        </section>
      ) : (
        <>
          <StepPicker runs={grpoRuns.map((r) => r.name)} />
          <GroupView clip={clip} normalizeStd={normalizeStd} />
        </>
      )}
    </div>
  );
}

function StepPicker({ runs }: { runs: string[] }) {
  const run = useRollouts((s) => s.run);
  const steps = useRollouts((s) => s.steps);
  const step = useRollouts((s) => s.step);
  const open = useRollouts((s) => s.open);
  const setStep = useRollouts((s) => s.setStep);
  const loading = useRollouts((s) => s.loading);
  const i = step === null ? -1 : steps.indexOf(step);
  return (
    <section className="card step-picker" data-testid="step-picker">
      <div className="row wrap">
        <label className="inline">
          Run{' '}
          <select className="input" value={run ?? ''} onChange={(e) => void open(e.target.value)}>
            {runs.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        <button className="btn small" data-testid="step-prev" disabled={i <= 0} onClick={() => void setStep(steps[i - 1])}>
          ← Previous step
        </button>
        <input
          type="range"
          className="slider"
          min={0}
          max={Math.max(0, steps.length - 1)}
          value={Math.max(0, i)}
          disabled={steps.length < 2}
          aria-label="step"
          onChange={(e) => void setStep(steps[Number(e.target.value)])}
        />
        <button className="btn small" data-testid="step-next" disabled={i < 0 || i >= steps.length - 1} onClick={() => void setStep(steps[i + 1])}>
          Next step →
        </button>
        <span className="muted" data-testid="step-label">
          {step === null ? (loading ? 'loading…' : 'no logged steps') : `step ${step} (${i + 1} of ${steps.length} logged)`}
        </span>
      </div>
    </section>
  );
}

function GroupView({ clip, normalizeStd }: { clip: ClipSettings; normalizeStd: boolean }) {
  const groups = useRollouts((s) => s.groups);
  const g = useRollouts((s) => s.group);
  const setGroup = useRollouts((s) => s.setGroup);
  const colour = useRollouts((s) => s.colour);
  const setColour = useRollouts((s) => s.setColour);
  const error = useRollouts((s) => s.error);
  if (error)
    return (
      <section className="card">
        <p className="form-error">{error}</p>
      </section>
    );
  if (!groups.length) return null;
  const group = groups[Math.min(g, groups.length - 1)];
  return (
    <section className="card" data-testid="inspector">
      <div className="group-tabs">
        {groups.map((x, k) => (
          <button
            key={k}
            className={`group-tab${k === g ? ' on' : ''}${x.kept ? '' : ' dropped'}`}
            onClick={() => setGroup(k)}
            data-testid="group-tab"
            title={x.kept ? 'trained on' : 'left out of the update (all rewards equal)'}
          >
            <span>Question {k + 1}</span>
            <span className="muted">
              reward {x.reward_mean.toFixed(2)} ± {x.reward_std.toFixed(2)}
            </span>
          </button>
        ))}
      </div>
      <GroupDetail group={group} clip={clip} colour={colour} setColour={setColour} />
      <AdvantageExplainer group={group} normalizeStd={normalizeStd} />
    </section>
  );
}

function GroupDetail({
  group,
  clip,
  colour,
  setColour,
}: {
  group: GroupRecord;
  clip: ClipSettings;
  colour: 'advantage' | 'ratio';
  setColour: (c: 'advantage' | 'ratio') => void;
}) {
  const views = useMemo(() => group.responses.map((r) => tokenViews(r, clip)), [group, clip]);
  const scale = useMemo(() => groupScale(group.responses.flatMap((r, i) => views[i].map((t) => (t.ratio ?? 1) * r.advantage))), [group, views]);
  const anyKl = group.responses.some(hasTokenKl);
  return (
    <>
      <div className="row spread wrap">
        <div className="muted small">
          {group.item.dataset} #{group.item.index} · gold answer <b>{group.item.answer_label}</b> · {group.responses.length} responses
        </div>
        <div className="segmented" role="radiogroup" aria-label="token colour">
          {/* biome-ignore lint/a11y/useSemanticElements: ARIA's radio group of buttons, styled as a segmented control. */}
          <button
            role="radio"
            aria-checked={colour === 'advantage'}
            className={colour === 'advantage' ? 'on' : ''}
            data-testid="colour-advantage"
            onClick={() => setColour('advantage')}
          >
            advantage × ratio
          </button>
          {/* biome-ignore lint/a11y/useSemanticElements: as above. */}
          <button
            role="radio"
            aria-checked={colour === 'ratio'}
            className={colour === 'ratio' ? 'on' : ''}
            data-testid="colour-ratio"
            onClick={() => setColour('ratio')}
          >
            ratio
          </button>
        </div>
      </div>
      {new Set(group.responses.map((r) => r.reward)).size === 1 && (
        <p className="notice small" data-testid="group-no-signal">
          All {group.responses.length} rewards are equal ({formatMetric(group.responses[0]?.reward ?? 0)}), so every advantage is 0: no gradient comes from this
          group{group.kept ? '' : ', and it was left out of the update'}. GRPO learns only from questions the model sometimes gets right and sometimes not.
        </p>
      )}
      <Legend colour={colour} clip={clip} anyKl={anyKl} />
      <div className="responses">
        {group.responses.map((r, i) => (
          <ResponseCard key={i} index={i} r={r} views={views[i]} colour={colour} scale={scale} clip={clip} />
        ))}
      </div>
      <details className="prompt" data-testid="group-prompt">
        <summary>The prompt these answers continue</summary>
        <p className="muted small">
          The <code>\n</code> written out between the instruction's two sentences is not a display bug: the paper's released prompt has a literal backslash-n
          there, and the lab keeps it exactly (Train's prompt settings can switch to a real line break).
        </p>
        <pre>{readablePrompt(group.prompt)}</pre>
      </details>
    </>
  );
}

function Legend({ colour, clip, anyKl }: { colour: 'advantage' | 'ratio'; clip: ClipSettings; anyKl: boolean }) {
  return (
    <div className="legend small">
      {colour === 'advantage' ? (
        <>
          <span className="key">
            <span className="swatch" style={{ background: diverging(1, 1).css }} /> pushed up (advantage × ratio &gt; 0)
          </span>
          <span className="key">
            <span className="swatch" style={{ background: diverging(-1, 1).css }} /> pushed down
          </span>
          <span className="key">paler = weaker, relative to this group's strongest push</span>
        </>
      ) : (
        <>
          <span className="key">
            <span className="swatch" style={{ background: ratioColour(1 + clip.clipHigh, clip.clipLow, clip.clipHigh).css }} /> made likelier by the update
            (ratio &gt; 1)
          </span>
          <span className="key">
            <span className="swatch" style={{ background: ratioColour(1 - clip.clipLow, clip.clipLow, clip.clipHigh).css }} /> made less likely
          </span>
          <span className="key">
            full colour at the clip bounds {+(1 - clip.clipLow).toFixed(3)} and {+(1 + clip.clipHigh).toFixed(3)}
          </span>
        </>
      )}
      <span className="key">
        <span className="swatch clipped-sample" /> clipped: no gradient
      </span>
      <span className="key">hover, click or tab to a token for its ratio{anyKl ? ' and its KL to the reference' : ''}</span>
    </div>
  );
}

function ResponseCard({
  index,
  r,
  views,
  colour,
  scale,
  clip,
}: {
  index: number;
  r: ResponseRecord;
  views: ReturnType<typeof tokenViews>;
  colour: 'advantage' | 'ratio';
  scale: number;
  clip: ClipSettings;
}) {
  const clipped = views.filter((t) => t.clip > 0).length;
  const [sel, setSel] = useState<number | null>(null);
  const detail = (t: (typeof views)[number]) =>
    [
      t.to - t.from > 1 ? `${t.to - t.from} tokens that split a character, shown together (values: their mean)` : null,
      `ratio ${t.ratio === null ? '—' : t.ratio.toFixed(4)}`,
      `advantage × ratio ${((t.ratio ?? 1) * r.advantage).toFixed(4)}`,
      t.kl !== null ? `KL ${t.kl.toExponential(2)}` : null,
      t.clip === 1 ? 'clipped: no gradient' : t.clip === 2 ? 'dual-clipped: no gradient' : null,
    ]
      .filter(Boolean)
      .join(' · ');
  const picked = sel !== null && sel < views.length ? views[sel] : null;
  return (
    <article className={`response ${r.reward > 0 ? 'good' : 'bad'}`} data-testid="inspector-response">
      <header className="response-head">
        <b>#{index + 1}</b>
        <span className={`badge ${r.reward > 0 ? 'ok' : 'no'}`} data-testid="response-reward">
          reward {formatMetric(r.reward)}
        </span>
        <span className="badge plain" data-testid="response-advantage">
          advantage {r.advantage >= 0 ? '+' : ''}
          {r.advantage.toFixed(3)}
        </span>
        <span className="muted small">
          {r.correct ? 'correct' : 'wrong'} · {r.format ? 'format ok' : 'bad format'} · {r.finished ? 'finished' : 'cut at budget'} · {r.tokens.length} tokens
          {clipped ? ` · ${clipped} clipped` : ''}
        </span>
      </header>
      <div className="tokens">
        {r.ratios === null ? (
          <span className="plain-text">{r.text}</span>
        ) : (
          views.map((t, k) => {
            const bg = colour === 'advantage' ? diverging((t.ratio ?? 1) * r.advantage, scale).css : ratioColour(t.ratio ?? 1, clip.clipLow, clip.clipHigh).css;
            const merged = t.to - t.from > 1;
            // A button: reachable by Tab, and its details shown below on focus, click or hover (not only in a tooltip).
            return (
              <button
                type="button"
                key={k}
                className={`tok${t.clip ? ' clipped' : ''}${merged ? ' merged' : ''}${sel === k ? ' selected' : ''}`}
                style={{ background: bg }}
                title={detail(t)}
                aria-label={`token ${k + 1}: ${JSON.stringify(t.text)}, ${detail(t)}`}
                onFocus={() => setSel(k)}
                onMouseEnter={() => setSel(k)}
                onClick={() => setSel(k)}
              >
                {visibleToken(t.text)}
              </button>
            );
          })
        )}
      </div>
      {r.ratios !== null && (
        <p className="token-detail small" data-testid="token-detail" aria-live="polite">
          {picked ? (
            <>
              <b>token {sel! + 1}</b> <code>{JSON.stringify(picked.text)}</code> · {detail(picked)}
            </>
          ) : (
            <span className="muted">Point at, click or tab to a token for its numbers.</span>
          )}
        </p>
      )}
    </article>
  );
}

/**
 * For teachers: this group's advantages worked out from its rewards, step by step, with the
 * run's own formula (GRPO or Dr. GRPO), beside the advantages the trainer logged.
 */
function AdvantageExplainer({ group, normalizeStd }: { group: GroupRecord; normalizeStd: boolean }) {
  const rewards = group.responses.map((r) => r.reward);
  const a = groupAdvantage(rewards, { normalizeStd });
  const n = rewards.length;
  const f = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(3));
  const agree = a.advantages.every((x, i) => Math.abs(x - group.responses[i].advantage) < 1e-4);
  return (
    <details className="explainer" data-testid="advantage-explainer">
      <summary>What GRPO does with this group, worked out</summary>
      <ol className="small">
        <li>
          The {n} rewards: <code>{rewards.map(f).join(', ')}</code>. Their mean, the baseline each answer is judged against:{' '}
          <code>
            ({rewards.map(f).join(' + ')}) / {n} = {f(a.mean)}
          </code>
          .
        </li>
        {normalizeStd ? (
          <li>
            Their spread (sample standard deviation): <code>{f(a.std)}</code>. Each advantage is{' '}
            <code>
              (reward − {f(a.mean)}) / ({f(a.std)} + 0.000001)
            </code>
            , so a group where most answers fail gives its rare right answer a large push.
          </li>
        ) : (
          <li>
            This run uses Dr. GRPO: each advantage is <code>reward − {f(a.mean)}</code>, without dividing by the spread.
          </li>
        )}
        <li>
          <table className="table compact" data-testid="explainer-table">
            <thead>
              <tr>
                <th>answer</th>
                <th>reward</th>
                <th>advantage (worked out)</th>
                <th>advantage (logged by the trainer)</th>
              </tr>
            </thead>
            <tbody>
              {group.responses.map((r, i) => (
                <tr key={i}>
                  <td>#{i + 1}</td>
                  <td>{f(r.reward)}</td>
                  <td>
                    {a.advantages[i] >= 0 ? '+' : ''}
                    {a.advantages[i].toFixed(3)}
                  </td>
                  <td>
                    {r.advantage >= 0 ? '+' : ''}
                    {r.advantage.toFixed(3)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {!agree && <span className="form-error">The logged advantages differ from these: the run's advantage settings are not the ones shown here.</span>}
        </li>
        <li>
          The update multiplies each token's log-probability gradient by its answer's advantage (times the ratio of new to old probability, clipped): every
          token of an answer with a positive advantage becomes likelier, every token of one with a negative advantage less likely.{' '}
          {a.std === 0 ? 'Here every advantage is 0, so this group changes nothing.' : 'The colours above show how hard each token was pushed.'}
        </li>
      </ol>
    </details>
  );
}
