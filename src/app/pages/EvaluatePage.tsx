import { useEffect, useMemo, useState } from 'react';
import { explainGrade } from '../../task/grader';
import { PAPER_ROWS, paperLabel } from '../../eval/paper';
import type { BenchmarkResult, EvalRecord } from '../../eval/run';
import { Labeled, NumberInput } from '../components/Field';
import { BackendPicker, useBackendBusy } from '../components/BackendPicker';
import { storedChoices, synthChoices } from '../lib/benchmarks';
import { paperComparison } from '../../eval/report';
import { downloadText, fileSafe, recordsJsonl } from '../lib/download';
import { clip, formatPercent } from '../lib/format';
import { useData } from '../stores/data';
import { useEval } from '../stores/evaluate';
import { useModels } from '../stores/models';
import { usePretrained } from '../stores/pretrained';

export function EvaluatePage() {
  const refreshData = useData((s) => s.refresh);
  const refreshModels = useModels((s) => s.refresh);
  useEffect(() => {
    void refreshData();
    void refreshModels();
  }, [refreshData, refreshModels]);
  return (
    <div className="page">
      <header className="page-head">
        <h1>Evaluate</h1>
        <p className="lede">
          Greedy answers to held-out questions, graded as the paper grades them: the last <code>&lt;answer&gt;</code> block is read and compared with the gold
          letter or option text. Pick the benchmarks, run, and read the scores beside the paper's.
        </p>
      </header>
      <EvalForm />
      <Results />
    </div>
  );
}

function EvalForm() {
  const datasets = useData((s) => s.datasets);
  const model = useModels((s) => s.current);
  const run = useEval((s) => s.run);
  const runPretrained = useEval((s) => s.runPretrained);
  const backend = usePretrained((s) => s.backend);
  const pretrained = usePretrained((s) => s.loaded);
  const busy = useBackendBusy();
  const [limit, setLimit] = useState<number | undefined>(32);
  const [maxNew, setMaxNew] = useState<number | undefined>(96);
  const [n, setN] = useState<number | undefined>(1);
  const [chosen, setChosen] = useState<string[]>(['synth-text-L1']);
  const choices = useMemo(() => [...synthChoices(Math.max(limit || 200, 1)), ...storedChoices(datasets)], [limit, datasets]);
  const picked = choices.filter((c) => chosen.includes(c.name));
  const problem =
    backend === 'lab' && !model
      ? 'choose a model'
      : backend === 'pretrained' && !pretrained
        ? 'load a pretrained model on the Models page'
        : backend === 'pretrained' && pretrained?.kind === 'caption'
          ? `${pretrained.id} writes captions, not answers: it cannot be graded`
          : !picked.length
            ? 'choose at least one benchmark'
            : limit === undefined || maxNew === undefined || !n
              ? 'fill every field'
              : null;
  const toggle = (name: string, on: boolean) => setChosen((c) => (on ? [...c, name] : c.filter((x) => x !== name)));
  return (
    <section className="card" data-testid="eval-form">
      <div className="fields grid">
        <Labeled label="Model">
          <BackendPicker />
        </Labeled>
        <Labeled label="Items per benchmark" htmlFor="ev-limit" help="0 = every item">
          <NumberInput id="ev-limit" integer min={0} value={limit} onChange={setLimit} />
        </Labeled>
        <Labeled label="Answer budget" htmlFor="ev-max" help="tokens per answer (the paper: 4096)">
          <NumberInput id="ev-max" integer min={1} value={maxNew} onChange={setMaxNew} />
        </Labeled>
        <Labeled label="Samples per item" htmlFor="ev-n" help="1 = greedy only; more adds pass@n and majority vote (temperature 1)">
          <NumberInput id="ev-n" integer min={1} value={n} onChange={setN} />
        </Labeled>
      </div>
      <div className="bench-groups">
        <fieldset className="group">
          <legend className="group-title">Synth held-out sets</legend>
          <div className="check-grid">
            {choices
              .filter((c) => c.group === 'synth')
              .map((c) => (
                <label key={c.name} className="check">
                  <input type="checkbox" data-testid={`bench-${c.name}`} checked={chosen.includes(c.name)} onChange={(e) => toggle(c.name, e.target.checked)} />{' '}
                  {c.label}
                </label>
              ))}
          </div>
        </fieldset>
        <fieldset className="group">
          <legend className="group-title">Stored datasets</legend>
          {choices.some((c) => c.group === 'stored') ? (
            <div className="check-grid">
              {choices
                .filter((c) => c.group === 'stored')
                .map((c) => (
                  <label key={c.name} className="check">
                    <input
                      type="checkbox"
                      data-testid={`bench-${c.name}`}
                      checked={chosen.includes(c.name)}
                      onChange={(e) => toggle(c.name, e.target.checked)}
                    />{' '}
                    {c.label}
                  </label>
                ))}
            </div>
          ) : (
            <p className="muted small">Import VQA-RAD, SLAKE, PathVQA, PMC-VQA, MMMU or MedXpertQA on the Data page to compare with the paper's columns.</p>
          )}
        </fieldset>
      </div>
      <div className="actions">
        <button
          className="btn primary"
          data-testid="eval-run"
          disabled={busy || !!problem}
          onClick={() => {
            const benchmarks = picked.map((c) => ({ name: c.name, data: c.data }));
            if (backend === 'pretrained') {
              if (pretrained) void runPretrained({ model: `${pretrained.id} (pretrained)`, benchmarks, limit: limit!, maxNewTokens: maxNew!, n });
            } else if (model) void run({ model, benchmarks, limit: limit!, maxNewTokens: maxNew!, n });
          }}
        >
          Evaluate
        </button>
        {problem && <span className="form-error">{problem}</span>}
      </div>
    </section>
  );
}

function Results() {
  const reply = useEval((s) => s.reply);
  const records = useEval((s) => s.records);
  const request = useEval((s) => s.request);
  const open = useEval((s) => s.open);
  const setOpen = useEval((s) => s.setOpen);
  if (!request) return null;
  // While it runs, the table fills from the graded records as they arrive.
  const results: BenchmarkResult[] =
    reply?.benchmarks ??
    request.benchmarks.map((b) => {
      const rs = records.filter((r) => r.benchmark === b.name);
      const correct = rs.filter((r) => r.correct).length;
      return {
        name: b.name,
        items: rs.length,
        correct,
        accuracy: rs.length ? correct / rs.length : 0,
        skipped: rs.filter((r) => r.skipped).length,
        unfinished: rs.filter((r) => !r.finished).length,
        without_images: rs.filter((r) => r.images_unseen).length,
      };
    });
  const withN = results.some((r) => r.pass_at_n !== undefined);
  return (
    <>
      <section className="card" data-testid="eval-results">
        <h2>
          {reply ? 'Results' : 'Results so far'} <span className="muted">· {request.model}</span>
        </h2>
        <table className="table clickable" data-testid="eval-table">
          <thead>
            <tr>
              <th>Benchmark</th>
              <th>Items</th>
              <th>Accuracy</th>
              <th>Skipped</th>
              <th>Cut at budget</th>
              {withN && (
                <>
                  <th>pass@n</th>
                  <th>Majority</th>
                </>
              )}
            </tr>
          </thead>
          <tbody>
            {results.map((r) => (
              <tr
                key={r.name}
                className={open === r.name ? 'selected' : undefined}
                onClick={() => setOpen(open === r.name ? null : r.name)}
                data-testid={`eval-row-${r.name}`}
              >
                <td>
                  <b>{r.name}</b>
                </td>
                <td>{r.items.toLocaleString()}</td>
                <td>{formatPercent(r.accuracy)}</td>
                <td>{r.skipped}</td>
                <td>{r.unfinished}</td>
                {withN && (
                  <>
                    <td>{formatPercent(r.pass_at_n)}</td>
                    <td>{formatPercent(r.majority_accuracy)}</td>
                  </>
                )}
              </tr>
            ))}
            {reply && results.length > 1 && (
              <tr className="total">
                <td>Average</td>
                <td>{reply.average.items.toLocaleString()}</td>
                <td>{formatPercent(reply.average.accuracy)}</td>
                <td colSpan={withN ? 4 : 2} />
              </tr>
            )}
          </tbody>
        </table>
        {results.some((r) => r.without_images > 0) && (
          <p className="notice small" data-testid="eval-without-images">
            Answered without (some of) their images:{' '}
            {results
              .filter((r) => r.without_images > 0)
              .map((r) => `${r.name} ${r.without_images} of ${r.items}`)
              .join(', ')}
            . A text-only model sees no image and a pretrained VLM only the first, so these answers come from less than the question shows.
          </p>
        )}
        <div className="row wrap">
          <p className="muted small">Click a benchmark to read its items and answers.</p>
          {reply && records.length > 0 && (
            <button
              className="btn small"
              data-testid="eval-download"
              onClick={() => downloadText(`${fileSafe(request.model)}-records.jsonl`, recordsJsonl(records))}
            >
              Download records.jsonl
            </button>
          )}
        </div>
        {open && <Records records={records.filter((r) => r.benchmark === open)} />}
      </section>
      <PaperTable results={results} model={request.model} />
    </>
  );
}

function PaperTable({ results, model }: { results: BenchmarkResult[]; model: string }) {
  const cmp = paperComparison(results);
  return (
    <section className="card" data-testid="paper-table">
      <h2>Beside the paper</h2>
      <p className="muted small">
        The paper's rows are Qwen2.5-VL models of 3 to 32 billion parameters and other large baselines, measured on the full test sets (MedVLThinker, arXiv
        2508.02669). A lab model has a millionth of their size; the rows are here for scale, not as a race.
        {!cmp.complete &&
          cmp.labMean !== null &&
          " The lab row fills the columns of the benchmarks you evaluated; every Avg. marked * covers only those (as `thinker eval` averages), the paper's own six-benchmark Avg. is in brackets."}
      </p>
      <div className="table-scroll">
        <table className="table numeric">
          <thead>
            <tr>
              <th>Model</th>
              {cmp.columns.map((c) => (
                <th key={c.key}>{c.column}</th>
              ))}
              <th>Avg.</th>
            </tr>
          </thead>
          <tbody>
            <tr className="lab-row">
              <td>
                <b>this lab: {model}</b>
              </td>
              {cmp.labMean === null ? (
                <td colSpan={cmp.columns.length + 1} className="lab-empty" data-testid="paper-lab-empty">
                  no column yet: the synth sets are the lab's own; import and evaluate one of the paper's benchmarks to fill this row
                </td>
              ) : (
                <>
                  {cmp.lab.map((v, i) => (
                    <td key={i}>{v === null ? '—' : v.toFixed(2)}</td>
                  ))}
                  <td>{`${cmp.labMean.toFixed(2)}${cmp.complete ? '' : '*'}`}</td>
                </>
              )}
            </tr>
            {PAPER_ROWS.map((r, i) => {
              const same = cmp.rows[i].avg_same_benchmarks;
              return (
                <tr key={r.model} title={r.description}>
                  <td>{paperLabel(r)}</td>
                  {cmp.columns.map((c) => (
                    <td key={c.key}>{(r.scores as Record<string, number>)[c.key].toFixed(2)}</td>
                  ))}
                  <td data-testid="paper-row-avg">{cmp.complete || same === null ? r.avg.toFixed(2) : `${same.toFixed(2)}* [${r.avg.toFixed(2)}]`}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Records({ records }: { records: EvalRecord[] }) {
  const [shown, setShown] = useState(20);
  return (
    <div className="records" data-testid="eval-records">
      {records.slice(0, shown).map((r, i) => (
        <details key={`${r.hash}-${i}`} className={`record ${r.correct ? 'good' : 'bad'}`}>
          <summary>
            <span className={`badge ${r.correct ? 'ok' : 'no'}`}>{r.correct ? 'correct' : r.skipped ? 'skipped' : 'wrong'}</span>
            <span className="record-q">{r.question}</span>
            <span className="muted small">
              gold {r.answer_label} · graded <q>{clip(r.extracted, 32)}</q>
              {r.pred_letter ? ` (option ${r.pred_letter})` : ''}
            </span>
          </summary>
          {!r.correct && !r.skipped && (
            <p className="notice small" data-testid="eval-record-why">
              {explainGrade(r.response, r.options, r.answer_label, r.answer).why ?? 'no reason found'}.
            </p>
          )}
          <ol className="item-options">
            {Object.entries(r.options).map(([k, v]) => (
              <li key={k} className={k === r.answer_label ? 'gold' : undefined}>
                <b>{k}.</b> {v}
              </li>
            ))}
          </ol>
          {r.skipped ? <p className="form-error">{r.skipped}</p> : <pre className="response-text">{r.response}</pre>}
          <p className="muted small">
            {r.response_tokens} tokens{r.finished ? '' : ', cut at the budget'}
            {r.pass_at_n !== undefined ? ` · pass@n ${r.pass_at_n ? 'yes' : 'no'} · majority ${r.majority_letter ?? '—'}` : ''}
          </p>
        </details>
      ))}
      {records.length > shown && (
        <button className="btn small" onClick={() => setShown(shown + 50)}>
          Show more ({records.length - shown} left)
        </button>
      )}
      {!records.length && <p className="muted">No graded items yet.</p>}
    </div>
  );
}
