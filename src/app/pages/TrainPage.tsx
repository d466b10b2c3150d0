import { useEffect, useMemo, useState } from 'react';
import type { RunEstimate, RunInfo, RunKind } from '../../lab/api';
import { getEngine } from '../engine-client';
import { lastEvalAt, liveSignalWarning, startModelWarning, type SignalWarning } from '../../recipe/grpo-signal';
import { normalizeRows } from '../lib/metrics';
import { GRPO_PRESETS, GRPO_SPEC, type GrpoConfig } from '../../recipe/grpo-config';
import { SFT_PRESETS, SFT_SPEC, type SftConfig } from '../../recipe/sft-config';
import { Chart } from '../components/Chart';
import { ConfigGroups, Labeled, NumberInput } from '../components/Field';
import { GRPO_GROUPS, SFT_GROUPS, setPath } from '../lib/config-form';
import { formatBytes, formatCount, formatMetric, formatPercent, formatWhen } from '../lib/format';
import { chartData, latest, RUN_CHARTS, seriesFor, type MetricRow } from '../lib/metrics';
import { freeName, nameProblem } from '../lib/names';
import {
  checkRunConfig,
  presetConfig,
  presetDataset,
  pruneTemplates,
  scratchModelEstimate,
  startModelEstimate,
  storedDatasetOf,
  withStoredDataset,
  withSynthSettings,
} from '../lib/run-config';
import { useData } from '../stores/data';
import { selectBusy, useJobs } from '../stores/jobs';
import { modelLabel, newestCheckpoints, useModels } from '../stores/models';
import { canExtend, canRestart, canResume, useRuns } from '../stores/runs';

/**
 * The presets a new run starts from: the learning proof's pair (test/recipe/recipe-synth.test.ts),
 * sized for a CPU-class adapter: SFT reaches the answer format in ~120 steps and GRPO from its
 * checkpoint lifts held-out accuracy within a few steps, so a class sees both stages work.
 */
const CLASSROOM = 'synth-micro-noisy';

export function TrainPage() {
  const refreshRuns = useRuns((s) => s.refresh);
  const refreshModels = useModels((s) => s.refresh);
  const refreshData = useData((s) => s.refresh);
  useEffect(() => {
    void refreshRuns();
    void refreshModels();
    void refreshData();
  }, [refreshRuns, refreshModels, refreshData]);
  return (
    <div className="page">
      <header className="page-head">
        <h1>Train</h1>
        <p className="lede">
          The recipe in two stages. <b>SFT</b> teaches a model to imitate a teacher's reasoning traces and answer in the
          <code>&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;…&lt;/answer&gt;</code> format. <b>GRPO</b> then samples several answers per question, rewards the
          right ones, and makes the model likelier to produce them, without any traces. Runs are saved in this browser as they go: reload the tab and a run
          shows up again with its charts, ready to resume from its last checkpoint.
        </p>
      </header>
      <RunList />
      <RunView />
      <NewRun />
    </div>
  );
}

function NewRun() {
  const runs = useRuns((s) => s.runs);
  const start = useRuns((s) => s.start);
  const models = useModels((s) => s.models);
  const datasets = useData((s) => s.datasets);
  const busy = useJobs(selectBusy);
  const [kind, setKind] = useState<RunKind>('sft');
  const [preset, setPreset] = useState(CLASSROOM);
  const [sft, setSft] = useState<SftConfig>(() => presetConfig('sft', CLASSROOM));
  const [grpo, setGrpo] = useState<GrpoConfig>(() => presetConfig('grpo', CLASSROOM));
  const [name, setName] = useState('');
  const forRuns = useData((s) => s.forRuns);
  // Questions chosen on the Data page ("Train on these questions") stay through preset changes.
  const handOff = <C extends SftConfig | GrpoConfig>(c: C, k: RunKind): C => (forRuns ? withSynthSettings(c, forRuns.synth, k) : c);
  useEffect(() => {
    if (!forRuns) return;
    setSft((c) => withSynthSettings(c, forRuns.synth, 'sft'));
    setGrpo((c) => withSynthSettings(c, forRuns.synth, 'grpo'));
  }, [forRuns]);
  const taken = runs.map((r) => r.name);
  const runName = name || freeName(kind, taken);

  // GRPO starts from a trained model: the newest SFT checkpoint (it follows new ones as runs add
  // them) unless the user picks another.
  const [grpoPicked, setGrpoPicked] = useState(false);
  useEffect(() => {
    if (grpoPicked && models.some((m) => m.path === grpo.model)) return;
    const start = newestCheckpoints(models, runs, 'sft')[0] ?? models.find((m) => !m.run) ?? newestCheckpoints(models, runs)[0];
    if (start && start.path !== grpo.model) setGrpo((c) => ({ ...c, model: start.path }));
  }, [models, runs, grpo.model, grpoPicked]);

  const config = kind === 'sft' ? sft : grpo;
  const check = useMemo(() => checkRunConfig(kind, config), [kind, config]);
  const nameErr = nameProblem(runName, taken);
  const startModel = kind === 'sft' ? sft.model.init : grpo.model;
  const missingModel = kind === 'grpo' && !grpo.model ? 'GRPO starts from a trained model: run SFT first, or import a model on the Models page' : null;
  const problem = nameErr ?? missingModel ?? (check.ok ? null : check.error);
  const estimateRun = useRuns((s) => s.estimate);
  // An estimate belongs to the settings it timed; changing any of them hides it.
  const configKey = JSON.stringify([kind, config]);
  const [estimate, setEstimate] = useState<{ key: string; value: RunEstimate } | null>(null);
  const startWarning = useStartModelWarning(kind === 'grpo' ? grpo.model : '');

  const onChange = (path: string, v: unknown) => {
    if (kind === 'sft') setSft((c) => pruneTemplates(setPath(c, path, v)));
    else setGrpo((c) => pruneTemplates(setPath(c, path, v)));
  };
  const choosePreset = (p: string) => {
    setPreset(p);
    // A preset written for real datasets (vqa-closed) takes an imported one of them when there is one.
    const stored = presetDataset(kind, p, datasets);
    const data = <C extends SftConfig | GrpoConfig>(c: C): C => (stored ? withStoredDataset(c, stored.dataset, stored.split) : handOff(c, kind));
    if (kind === 'sft') setSft((c) => data({ ...presetConfig('sft', p), model: { ...presetConfig('sft', p).model, init: c.model.init } }));
    else setGrpo((c) => data({ ...presetConfig('grpo', p), model: c.model }));
  };
  const switchKind = (k: RunKind) => {
    setKind(k);
    setPreset(CLASSROOM);
  };

  const presets = kind === 'sft' ? SFT_PRESETS : GRPO_PRESETS;
  const chosenInfo = models.find((m) => m.path === startModel);
  const mem = kind === 'sft' && !sft.model.init ? scratchModelEstimate(sft) : null;
  const startMem = chosenInfo ? startModelEstimate(chosenInfo.cfg, kind, config) : null;
  const stored = storedDatasetOf(config);
  const setConfig = (f: (c: SftConfig | GrpoConfig) => SftConfig | GrpoConfig) => {
    if (kind === 'sft') setSft((c) => f(c) as SftConfig);
    else setGrpo((c) => f(c) as GrpoConfig);
  };

  return (
    <section className="card" id="new-run" data-testid="new-run">
      <div className="row spread">
        <h2>New run</h2>
        <div className="segmented" role="tablist">
          <button role="tab" aria-selected={kind === 'sft'} className={kind === 'sft' ? 'on' : ''} data-testid="kind-sft" onClick={() => switchKind('sft')}>
            SFT
          </button>
          <button role="tab" aria-selected={kind === 'grpo'} className={kind === 'grpo' ? 'on' : ''} data-testid="kind-grpo" onClick={() => switchKind('grpo')}>
            GRPO
          </button>
        </div>
      </div>
      <div className="fields grid">
        <Labeled label="Preset" htmlFor="run-preset" help={presets[preset]?.describe}>
          <select id="run-preset" className="input" value={preset} onChange={(e) => choosePreset(e.target.value)}>
            {Object.keys(presets).map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </Labeled>
        <Labeled
          label="Start model"
          htmlFor="run-model"
          help={
            kind === 'sft'
              ? sft.model.init
                ? 'continue training this model'
                : 'a fresh model of the size chosen below, with a tokenizer trained on the items'
              : 'the policy to improve; it is also the frozen reference of the KL term'
          }
        >
          <select
            id="run-model"
            className="input"
            data-testid="run-model"
            value={startModel}
            onChange={(e) => {
              if (kind === 'sft') onChange('model.init', e.target.value);
              else {
                setGrpoPicked(true);
                onChange('model', e.target.value);
              }
            }}
          >
            {kind === 'sft' && <option value="">new model from scratch</option>}
            {kind === 'grpo' && !grpo.model && <option value="">(no model yet)</option>}
            {models.map((m) => (
              <option key={m.path} value={m.path}>
                {modelLabel(m)}
              </option>
            ))}
          </select>
        </Labeled>
        <Labeled
          label="Questions"
          htmlFor="run-data"
          help={
            stored
              ? `training on ${config.data.file.path}${config.data.file.evalPath ? `, held out: ${config.data.file.evalPath}` : ' (no held-out split: evaluation off)'}${kind === 'sft' ? '. SFT needs reasoning traces: imported sets usually have none.' : ''}`
              : forRuns
                ? 'synth questions as chosen on the Data page, adjustable below'
                : 'synth questions from the settings below'
          }
        >
          <select
            id="run-data"
            className="input"
            data-testid="run-data"
            value={stored ? `${stored.name}::${stored.split}` : 'synth'}
            onChange={(e) => {
              if (e.target.value === 'synth') {
                setConfig((c) => ({ ...c, data: { ...c.data, source: 'synth' } }) as SftConfig | GrpoConfig);
                return;
              }
              const [dn, split] = e.target.value.split('::');
              const d = datasets.find((x) => x.name === dn);
              if (d) setConfig((c) => withStoredDataset(c, d, split));
            }}
          >
            <option value="synth">synth questions</option>
            {datasets.flatMap((d) =>
              d.splits.map((s) => (
                <option key={`${d.name}::${s.name}`} value={`${d.name}::${s.name}`}>
                  {d.name} · {s.name} ({s.items.toLocaleString()})
                </option>
              )),
            )}
          </select>
        </Labeled>
        <Labeled label="Run name" htmlFor="run-name">
          <input id="run-name" className="input" data-testid="run-name" value={name} placeholder={runName} onChange={(e) => setName(e.target.value)} />
        </Labeled>
      </div>
      <p className="muted small">
        {chosenInfo && (
          <>
            Start model: {formatCount(chosenInfo.params)} parameters
            {startMem?.lora
              ? `; LoRA rank ${startMem.lora.rank} trains ${formatCount(startMem.loraParams)} adapter weights on the frozen model${startMem.f16 ? ' (stored in f16)' : ''}`
              : ''}
            ; training needs about {formatBytes(startMem?.trainBytes ?? chosenInfo.trainBytes)} of GPU memory
            {startMem?.checkpoint ? ' with activation checkpointing' : ''}.
          </>
        )}
        {mem && (
          <>
            A {sft.model.preset} model{mem.custom ? ' with the shape set under Advanced' : ''}
            {mem.vision ? ' and its vision encoder' : ''} has about {formatCount(mem.params)} parameters (with a {mem.vocab.toLocaleString()}-token vocabulary,
            which a tokenizer trained on few items may not reach); training needs at least {formatBytes(mem.trainBytesAtLeast)} of GPU memory (weights,
            gradients, AdamW moments) plus activations.
          </>
        )}
      </p>
      <ConfigGroups
        testId={`${kind}-settings`}
        groups={kind === 'sft' ? SFT_GROUPS : GRPO_GROUPS}
        spec={kind === 'sft' ? SFT_SPEC : GRPO_SPEC}
        config={config}
        onChange={onChange}
        disabled={busy}
      />
      <div className="actions sticky-actions">
        <button
          className="btn primary"
          data-testid="run-start"
          disabled={busy || !!problem}
          onClick={() => {
            setName('');
            window.scrollTo({ top: 0, behavior: 'smooth' });
            void (kind === 'sft' ? start({ name: runName, kind: 'sft', config: sft }) : start({ name: runName, kind: 'grpo', config: grpo }));
          }}
        >
          Start {kind.toUpperCase()} run
        </button>
        <button
          className="btn"
          data-testid="run-estimate"
          disabled={busy || (!!problem && !nameErr)}
          title="Runs the first steps and one held-out evaluation on a scratch copy (nothing is saved) and scales them to the whole run"
          onClick={() => {
            const key = configKey;
            void (kind === 'sft' ? estimateRun({ kind: 'sft', config: sft }) : estimateRun({ kind: 'grpo', config: grpo })).then((value) => {
              if (value) setEstimate({ key, value });
            });
          }}
        >
          Estimate time
        </button>
        {problem && (
          <span className="form-error" data-testid="run-problem">
            {problem}
          </span>
        )}
      </div>
      {estimate?.key === configKey && (
        <p className="muted small" data-testid="run-estimate-text">
          {estimateText(estimate.value)}
        </p>
      )}
      {startWarning && <Warning w={startWarning} testId="grpo-start-warning" />}
    </section>
  );
}

function formatSeconds(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function estimateText(e: RunEstimate): string {
  return (
    `About ${formatSeconds(e.totalSeconds)} on this GPU: ${e.totalSteps.toLocaleString()} steps × ${e.secondsPerStep.toFixed(2)} s` +
    `${e.evals ? `, ${e.evals} held-out evaluation${e.evals === 1 ? '' : 's'} × ${e.secondsPerEval.toFixed(1)} s` : ''}` +
    `, ${formatSeconds(e.setupSeconds)} to prepare (measured over ${e.measuredSteps} step${e.measuredSteps === 1 ? '' : 's'}; the run view re-estimates as it goes).`
  );
}

function Warning({ w, testId }: { w: SignalWarning; testId: string }) {
  return (
    <div className="notice warn" role="status" data-testid={testId}>
      <b>{w.title}</b> {w.advice}
    </div>
  );
}

/** The warning for a GRPO start model that is a run checkpoint whose last evaluation shows no format. */
function useStartModelWarning(model: string): SignalWarning | null {
  const [w, setW] = useState<SignalWarning | null>(null);
  useEffect(() => {
    setW(null);
    const m = /^runs\/([^/]+)\/checkpoint-(\d+)$/.exec(model);
    if (!m) return;
    let alive = true;
    getEngine()
      .runMetrics(m[1])
      .then((raw) => {
        if (alive) setW(startModelWarning(lastEvalAt(normalizeRows(raw), Number(m[2]))));
      })
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, [model]);
  return w;
}

const STATUS_TEXT: Record<RunInfo['status'], string> = {
  running: 'running',
  paused: 'paused',
  stopped: 'stopped',
  completed: 'completed',
  interrupted: 'interrupted',
  failed: 'failed',
  'running-elsewhere': 'running elsewhere',
};

/** How often the page looks at runs another tab is running. */
const ELSEWHERE_POLL_MS = 2000;

export function StatusBadge({ run }: { run: RunInfo }) {
  return (
    <span className={`badge status-${run.status}`} data-testid={`run-status-${run.name}`} title={run.error}>
      {STATUS_TEXT[run.status]}
    </span>
  );
}

function RunList() {
  const runs = useRuns((s) => s.runs);
  const loaded = useRuns((s) => s.loaded);
  const selected = useRuns((s) => s.selected);
  const select = useRuns((s) => s.select);
  const resume = useRuns((s) => s.resume);
  const restart = useRuns((s) => s.restart);
  const remove = useRuns((s) => s.remove);
  const live = useRuns((s) => s.live);
  const follow = useRuns((s) => s.followElsewhere);
  const busy = useJobs(selectBusy);
  const sorted = [...runs].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  const elsewhere = runs.some((r) => r.status === 'running-elsewhere');
  useEffect(() => {
    if (!elsewhere) return undefined;
    const t = setInterval(() => void follow(), ELSEWHERE_POLL_MS);
    return () => clearInterval(t);
  }, [elsewhere, follow]);
  // A listing that failed (storage another tab was writing at that moment) is tried again until one succeeds.
  const refresh = useRuns((s) => s.refresh);
  useEffect(() => {
    if (loaded) return undefined;
    const t = setInterval(() => void refresh(), ELSEWHERE_POLL_MS);
    return () => clearInterval(t);
  }, [loaded, refresh]);
  return (
    <section className="card" data-testid="run-list">
      <div className="row spread">
        <h2>Runs</h2>
        <button type="button" className="btn small" onClick={() => document.getElementById('new-run')?.scrollIntoView({ behavior: 'smooth' })}>
          New run ↓
        </button>
      </div>
      {loaded && !runs.length && (
        <p className="muted">
          No runs yet. Set one up below: an SFT run on the synth-micro-noisy preset learns the answer format in a few minutes (and copies its teacher's blind
          spot); a GRPO run from its checkpoint then answers the questions the teacher got wrong.
        </p>
      )}
      {runs.length > 0 && (
        <table className="table runs">
          <thead>
            <tr>
              <th>Run</th>
              <th>Kind</th>
              <th>Status</th>
              <th>Steps</th>
              <th>Checkpoints</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {sorted.map((r) => (
              <tr key={r.name} className={r.name === selected ? 'selected' : undefined} data-testid={`run-row-${r.name}`} onClick={() => void select(r.name)}>
                <td>
                  <b>{r.name}</b>
                </td>
                <td>{r.kind.toUpperCase()}</td>
                <td>
                  <StatusBadge run={r} />
                </td>
                <td>
                  {r.step.toLocaleString()}
                  {r.totalSteps ? ` / ${r.totalSteps.toLocaleString()}` : ''}
                </td>
                <td>{r.checkpoints.length ? r.checkpoints.join(', ') : '—'}</td>
                <td>{formatWhen(r.updatedAt)}</td>
                {/* biome-ignore lint/a11y/useKeyWithClickEvents: not a control; it keeps a click on its buttons from also selecting the row. */}
                <td className="row-actions" onClick={(e) => e.stopPropagation()}>
                  {canResume(r) && (
                    <button
                      className="btn small primary"
                      data-testid={`run-resume-${r.name}`}
                      disabled={busy}
                      title={`continue from checkpoint ${r.checkpoints[r.checkpoints.length - 1]}`}
                      onClick={() => void resume(r.name)}
                    >
                      Resume
                    </button>
                  )}
                  {canRestart(r) && (
                    <button
                      className="btn small"
                      data-testid={`run-restart-${r.name}`}
                      disabled={busy}
                      title="no checkpoint to resume from: run it again from step 0 with the same settings"
                      onClick={() => void restart(r.name)}
                    >
                      Restart
                    </button>
                  )}
                  <button
                    className="btn small danger-outline"
                    disabled={r.name === live || r.status === 'running-elsewhere'}
                    title={r.status === 'running-elsewhere' ? 'running in another tab: delete it there, or once it ends' : undefined}
                    onClick={() => {
                      if (confirm(`Delete run ${r.name} with its checkpoints and logs?`)) void remove(r.name);
                    }}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RunView() {
  const runs = useRuns((s) => s.runs);
  const selected = useRuns((s) => s.selected);
  const rows = useRuns((s) => (selected ? s.rows[selected] : undefined));
  const rowsError = useRuns((s) => s.rowsError);
  const live = useRuns((s) => s.live);
  const log = useRuns((s) => s.log);
  const logRun = useRuns((s) => s.logRun);
  const stop = useRuns((s) => s.stop);
  const resume = useRuns((s) => s.resume);
  const restart = useRuns((s) => s.restart);
  const job = useJobs((s) => s.job);
  const busy = useJobs(selectBusy);
  const [more, setMore] = useState<number | undefined>(undefined);
  // biome-ignore lint/correctness/useExhaustiveDependencies: another run selected resets the typed step count.
  useEffect(() => setMore(undefined), [selected]);
  const run = runs.find((r) => r.name === selected);
  if (!run) return null;
  // A completed run offers twice its steps until the user types another number (0 = emptied box).
  const target = more === undefined ? run.totalSteps * 2 : more || undefined;
  const isLive = run.name === live;
  const data = rows ?? [];
  return (
    <section className="card" data-testid="run-view">
      <div className="row spread">
        <h2>
          {run.name} <span className="muted">· {run.kind.toUpperCase()}</span> <StatusBadge run={run} />
        </h2>
        <div className="actions">
          {isLive && (
            <>
              <button className="btn" data-testid="run-pause" disabled={job?.cancelling} onClick={() => void stop('pause')}>
                Pause
              </button>
              <button className="btn danger" data-testid="run-stop" disabled={job?.cancelling} onClick={() => void stop('stop')}>
                Stop
              </button>
            </>
          )}
          {!isLive && canResume(run) && (
            <button className="btn primary" disabled={busy} onClick={() => void resume(run.name)}>
              Resume from step {run.checkpoints[run.checkpoints.length - 1]}
            </button>
          )}
          {!isLive && canRestart(run) && (
            <button className="btn primary" data-testid="run-restart" disabled={busy} onClick={() => void restart(run.name)}>
              Restart from the start
            </button>
          )}
          {!isLive && canExtend(run) && (
            <span className="inline">
              <button
                className="btn"
                data-testid="run-extend"
                disabled={busy || !target || target <= run.totalSteps}
                onClick={() => target && void resume(run.name, target)}
              >
                Continue to
              </button>
              <NumberInput integer optional min={run.totalSteps + 1} value={target} onChange={(v) => setMore(v ?? 0)} label="Steps in all to continue to" />
              steps
            </span>
          )}
        </div>
      </div>
      {run.status === 'running-elsewhere' && (
        <p className="notice" data-testid="run-elsewhere">
          This run is running in another tab of this browser. Its charts here follow it; pause or stop it from that tab, after which this one can resume it
          (until then this tab cannot resume, restart or delete it).
        </p>
      )}
      {run.status === 'interrupted' && run.checkpoints.length > 0 && (
        <p className="notice">
          This run was cut off (the tab closed or the GPU was lost). Resume continues from its last checkpoint, step{' '}
          {run.checkpoints[run.checkpoints.length - 1]}.
        </p>
      )}
      {canRestart(run) && !isLive && (
        <p className="notice" data-testid="run-no-checkpoint">
          {run.status === 'interrupted'
            ? 'This run was cut off (the tab closed or the GPU was lost) before its first checkpoint'
            : 'This run ended before its first checkpoint'}
          , so there is nothing to resume from. Restart from the start runs it again with the same settings; its charts so far are cleared.
        </p>
      )}
      {run.error && <p className="form-error">{run.error}</p>}
      {run.kind === 'grpo' &&
        (() => {
          const w = liveSignalWarning(data, (run.config as { promptsPerStep: number }).promptsPerStep);
          return w && <Warning w={w} testId="grpo-signal-warning" />;
        })()}
      {rowsError && <p className="form-error">{rowsError}</p>}
      <RunSummary run={run} rows={data} />
      <div className="charts" data-testid="run-charts">
        {RUN_CHARTS.filter((c) => c.kinds.includes(run.kind)).map((c) => {
          const series = seriesFor(c, run.kind);
          const d = chartData(data, { series });
          return (
            <Chart
              key={`${run.name}-${c.id}`}
              testId={`chart-${c.id}`}
              title={c.title}
              caption={c.caption}
              x={d.x}
              share={c.share}
              series={series.map((s, i) => ({ label: s.label, colour: s.colour, values: d.ys[i] }))}
              empty={run.kind === 'sft' && c.id !== 'loss' ? 'held-out evaluations appear here' : 'no steps yet'}
            />
          );
        })}
      </div>
      {logRun === run.name && log.length > 0 && (
        <details className="log" data-testid="run-log">
          <summary>Log ({log.length} lines)</summary>
          <pre>{log.join('\n')}</pre>
        </details>
      )}
    </section>
  );
}

function RunSummary({ run, rows }: { run: RunInfo; rows: MetricRow[] }) {
  const stats: [string, string][] = [['step', `${run.step.toLocaleString()}${run.totalSteps ? ` / ${run.totalSteps.toLocaleString()}` : ''}`]];
  stats.push(['loss', formatMetric(latest(rows, 'step', 'loss'))]);
  if (run.kind === 'grpo') {
    stats.push(['reward', formatMetric(latest(rows, 'step', 'reward_mean'))]);
    stats.push(['KL', formatMetric(latest(rows, 'step', 'kl'))]);
  }
  stats.push(['held-out accuracy', formatPercent(latest(rows, 'eval', 'accuracy'))]);
  stats.push(['held-out format', formatPercent(latest(rows, 'eval', 'format_rate'))]);
  return (
    <dl className="stats" data-testid="run-summary">
      {stats.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}
