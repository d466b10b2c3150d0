// Teacher traces (recipe §4, the distillation step): a pretrained model answers each question n
// times; the first answer the grader accepts becomes the item's reasoning, and the questions that
// got one can be saved as a dataset the Train page's SFT reads.
import { useMemo, useState } from 'react';
import type { DataRef } from '../../lab/api';
import { Labeled, NumberInput } from '../components/Field';
import { formatPercent } from '../lib/format';
import { nameProblem } from '../lib/names';
import { useData } from '../stores/data';
import { selectPretrainedBusy, useJobs } from '../stores/jobs';
import { usePretrained } from '../stores/pretrained';

export function DistillSection() {
  const synth = useData((s) => s.synth);
  const datasets = useData((s) => s.datasets);
  const refreshData = useData((s) => s.refresh);
  const loaded = usePretrained((s) => s.loaded);
  const distilled = usePretrained((s) => s.distilled);
  const distill = usePretrained((s) => s.distill);
  const busy = useJobs(selectPretrainedBusy);
  const [source, setSource] = useState('synth');
  const [limit, setLimit] = useState<number | undefined>(16);
  const [n, setN] = useState<number | undefined>(3);
  const [maxNew, setMaxNew] = useState<number | undefined>(512);
  const [temperature, setTemperature] = useState<number | undefined>(1);
  const [saveAs, setSaveAs] = useState('');
  const data: DataRef | null = useMemo(() => {
    if (source === 'synth') return { kind: 'synth', options: { ...synth, n: Math.min(synth.n, limit || synth.n) } };
    const [name, split] = source.split('::');
    return name ? { kind: 'dataset', name, split, ...(limit ? { limit } : {}) } : null;
  }, [source, synth, limit]);
  const problem = !loaded
    ? 'load a pretrained model on the Models page first'
    : loaded.kind === 'caption'
      ? `${loaded.id} writes captions, not graded answers`
      : n === undefined || maxNew === undefined || temperature === undefined
        ? 'fill every field'
        : saveAs
          ? nameProblem(
              saveAs,
              datasets.map((d) => d.name),
            )
          : null;
  return (
    <section className="card" data-testid="distill">
      <h2>Teacher traces from a pretrained model</h2>
      <p className="muted">
        The recipe distils reasoning from a strong model: it answers each question a few times with the think/answer prompt, and the first answer graded correct
        becomes the question's reasoning trace for SFT. Questions it never gets right are left out.
      </p>
      <div className="fields grid">
        <Labeled label="Teacher">
          {loaded ? (
            <b data-testid="distill-teacher">{loaded.id}</b>
          ) : (
            <span className="muted">
              none loaded: <a href="#models">Models page</a>
            </span>
          )}
        </Labeled>
        <Labeled label="Questions" htmlFor="dist-src">
          <select id="dist-src" className="input" value={source} onChange={(e) => setSource(e.target.value)}>
            <option value="synth">synth items (settings above)</option>
            {datasets.flatMap((d) =>
              d.splits.map((s) => (
                <option key={`${d.name}::${s.name}`} value={`${d.name}::${s.name}`}>
                  {d.name} · {s.name}
                </option>
              )),
            )}
          </select>
        </Labeled>
        <Labeled label="At most" htmlFor="dist-limit" help="questions (0 = all)">
          <NumberInput id="dist-limit" integer min={0} value={limit} onChange={setLimit} />
        </Labeled>
        <Labeled label="Answers per question" htmlFor="dist-n" help="the paper: 3">
          <NumberInput id="dist-n" integer min={1} value={n} onChange={setN} />
        </Labeled>
        <Labeled label="Answer budget" htmlFor="dist-max" help="tokens per answer">
          <NumberInput id="dist-max" integer min={1} value={maxNew} onChange={setMaxNew} />
        </Labeled>
        <Labeled label="Temperature" htmlFor="dist-t">
          <NumberInput id="dist-t" min={0} value={temperature} onChange={setTemperature} />
        </Labeled>
        <Labeled label="Save as" htmlFor="dist-save" help="a dataset name for SFT (optional)">
          <input
            id="dist-save"
            className="input"
            data-testid="distill-save"
            value={saveAs}
            placeholder="(don't save)"
            onChange={(e) => setSaveAs(e.target.value)}
          />
        </Labeled>
      </div>
      <div className="actions">
        <button
          className="btn primary"
          data-testid="distill-run"
          disabled={busy || !!problem || !data}
          onClick={async () => {
            if (!data) return;
            const r = await distill({ data, n: n!, maxNewTokens: maxNew!, temperature, ...(saveAs ? { saveAs } : {}) });
            if (r?.saved) void refreshData();
          }}
        >
          Write traces
        </button>
        {problem && <span className="form-error">{problem}</span>}
      </div>
      {distilled && (
        <div data-testid="distill-result">
          <p data-testid="distill-summary">
            <b>{distilled.withTrace}</b> of {distilled.total} questions got a correct trace (
            {formatPercent(distilled.total ? distilled.withTrace / distilled.total : 0)}, {distilled.samples} answers sampled)
            {distilled.saved ? (
              <>
                {' '}
                · saved as <b>{distilled.saved.name}</b>
              </>
            ) : null}
            .
          </p>
          {distilled.withoutImages > 0 && (
            <p className="notice small" data-testid="distill-without-images">
              {distilled.withoutImages} of {distilled.total} questions were answered without (some of) their images: this model does not look at images (or only
              the first), so its traces there reason from the text alone.
            </p>
          )}
          <details>
            <summary>Questions and kept traces</summary>
            <ol className="distill-records small">
              {distilled.records.map((r, i) => (
                <li key={i}>
                  <div>
                    {r.question}{' '}
                    <span className="muted">
                      (gold {r.answer_label}; {r.responses.filter((x) => x.correct).length} of {r.responses.length} correct)
                    </span>
                  </div>
                  {r.reasoning !== null ? <div className="think">{r.reasoning}</div> : <div className="muted">no correct answer: left out</div>}
                </li>
              ))}
            </ol>
          </details>
        </div>
      )}
    </section>
  );
}
