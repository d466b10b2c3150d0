import { useEffect, useMemo, useState } from 'react';
import type { DataRef, DatasetInfo } from '../../lab/api';
import { MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, type SynthOptions } from '../../data/synth';
import { Chart } from '../components/Chart';
import { Labeled, NumberInput } from '../components/Field';
import { FolderPicker } from '../components/FolderPicker';
import { ItemCard } from '../components/ItemCard';
import { ModelPicker } from '../components/ModelPicker';
import { TemplatePicker } from '../components/TemplatePicker';
import { formatBytes, formatWhen } from '../lib/format';
import { nameProblem, parseColumns } from '../lib/names';
import { hashOf } from '../lib/route';
import { PREVIEW_COUNT, useData } from '../stores/data';
import { selectBusy, useJobs } from '../stores/jobs';
import { useModels } from '../stores/models';
import { DistillSection } from './DistillSection';

interface LoaderChoice {
  name: string;
  describe: string;
}

/** The folder loaders, read from src/data/loaders on first use (they are not needed before). */
function useLoaders(): LoaderChoice[] {
  const [loaders, setLoaders] = useState<LoaderChoice[]>([]);
  useEffect(() => {
    let live = true;
    import('../../data/loaders').then(
      (m) => {
        if (!live) return;
        setLoaders([
          ...m.DATASETS.map((d) => ({ name: d.name, describe: d.describe })),
          { name: 'recipe', describe: 'recipe-schema JSONL files (one split per file), as the lab and verl exports store them' },
          { name: 'jsonl', describe: 'one JSONL file with a column mapping' },
          { name: 'csv', describe: 'one CSV/TSV file with a column mapping' },
          { name: 'parquet', describe: 'one parquet file with a column mapping' },
        ]);
      },
      () => setLoaders([]),
    );
    return () => {
      live = false;
    };
  }, []);
  return loaders;
}

const GENERIC = ['jsonl', 'csv', 'parquet', 'json'];

export function DataPage() {
  const refresh = useData((s) => s.refresh);
  const refreshModels = useModels((s) => s.refresh);
  useEffect(() => {
    void refresh();
    void refreshModels();
  }, [refresh, refreshModels]);
  return (
    <div className="page">
      <header className="page-head">
        <h1>Data</h1>
        <p className="lede">
          Every item is one multiple-choice question in the recipe's schema. Start with the synthetic curriculum: it needs no download, and a model of a few
          hundred thousand parameters can learn it. Real sets come from a folder on this computer or from the Hugging Face Hub; curation keeps the questions a
          model finds neither trivial nor hopeless.
        </p>
      </header>
      <SynthSection />
      <PreviewSection />
      <DatasetsSection />
      <div className="two-col">
        <ImportFolderSection />
        <ImportHubSection />
      </div>
      <CurationSection />
      <DistillSection />
    </div>
  );
}

function SynthSection() {
  const synth = useData((s) => s.synth);
  const error = useData((s) => s.synthError);
  const setSynth = useData((s) => s.setSynth);
  const show = useData((s) => s.show);
  const sendToRuns = useData((s) => s.sendToRuns);

  // The preview follows the form, a moment after the last keystroke.
  useEffect(() => {
    if (error) return;
    const t = setTimeout(() => void show({ kind: 'synth', options: synth }), 250);
    return () => clearTimeout(t);
  }, [synth, error, show]);

  return (
    <section className="card" data-testid="synth-form">
      <h2>Synthetic curriculum</h2>
      <p className="muted">
        Drawn scans (nodules, effusions, lesions) and text questions (doses, lab values, vital signs) with a teacher's reasoning trace each, generated from a
        seed right here. Held-out (test) items never share content with training items. A run generates its own items from the settings on the Train page, so
        nothing needs saving: <b>Train on these questions</b> copies these settings there.
      </p>
      <div className="fields grid">
        <Labeled label="Kind" htmlFor="synth-kind">
          <select
            id="synth-kind"
            className="input"
            value={synth.kind}
            onChange={(e) => setSynth({ kind: e.target.value as SynthOptions['kind'], templates: undefined })}
          >
            <option value="mixed">mixed (image and text)</option>
            <option value="image">image</option>
            <option value="text">text</option>
          </select>
        </Labeled>
        <Labeled label="Level" htmlFor="synth-level">
          <select id="synth-level" className="input" value={synth.level} onChange={(e) => setSynth({ level: Number(e.target.value) as SynthOptions['level'] })}>
            <option value={1}>1 · easy</option>
            <option value={2}>2 · more options</option>
            <option value={3}>3 · subtle</option>
          </select>
        </Labeled>
        <Labeled label="Items" htmlFor="synth-n">
          <NumberInput id="synth-n" integer min={1} value={synth.n} onChange={(v) => v !== undefined && setSynth({ n: v })} />
        </Labeled>
        <Labeled label="Seed" htmlFor="synth-seed">
          <NumberInput id="synth-seed" integer value={synth.seed} onChange={(v) => v !== undefined && setSynth({ seed: v })} />
        </Labeled>
        <Labeled label="Split" htmlFor="synth-split">
          <select id="synth-split" className="input" value={synth.split} onChange={(e) => setSynth({ split: e.target.value as 'train' | 'test' })}>
            <option value="train">train</option>
            <option value="test">test (held out)</option>
          </select>
        </Labeled>
        <Labeled label="Image size" htmlFor="synth-size" help={`${MIN_IMAGE_SIZE} to ${MAX_IMAGE_SIZE} pixels`}>
          <NumberInput
            id="synth-size"
            integer
            min={MIN_IMAGE_SIZE}
            max={MAX_IMAGE_SIZE}
            value={synth.imageSize}
            onChange={(v) => setSynth({ imageSize: v })}
            optional
          />
        </Labeled>
        <Labeled label="Wrong traces" htmlFor="synth-noisy" help="share of traces that reason to a wrong letter (teacher noise)">
          <NumberInput id="synth-noisy" min={0} max={1} value={synth.noisyFraction} onChange={(v) => setSynth({ noisyFraction: v })} optional />
        </Labeled>
        <Labeled label="Sloppy traces" htmlFor="synth-sloppy" help="share of traces that skip their steps">
          <NumberInput id="synth-sloppy" min={0} max={1} value={synth.sloppyFraction} onChange={(v) => setSynth({ sloppyFraction: v })} optional />
        </Labeled>
      </div>
      <div className="row wrap spread synth-foot">
        <TemplatePicker kind={synth.kind} value={synth.templates} onChange={(templates) => setSynth({ templates })} testId="synth-templates" />
        <button
          className="btn primary"
          data-testid="synth-use"
          disabled={!!error}
          onClick={() => {
            sendToRuns(synth);
            location.hash = hashOf('train');
          }}
        >
          Train on these questions →
        </button>
      </div>
      {error && (
        <p className="form-error" role="status">
          {error}
        </p>
      )}
    </section>
  );
}

function DatasetsSection() {
  const datasets = useData((s) => s.datasets);
  const loaded = useData((s) => s.loaded);
  const show = useData((s) => s.show);
  const remove = useData((s) => s.remove);
  const busy = useJobs(selectBusy);
  return (
    <section className="card">
      <h2>Stored datasets</h2>
      {loaded && datasets.length === 0 && <p className="muted">None yet. Import a folder or a Hub dataset below, or save a curated set.</p>}
      {datasets.length > 0 && (
        <table className="table" data-testid="datasets-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Source</th>
              <th>Splits (items, with images)</th>
              <th>Dropped</th>
              <th>Size</th>
              <th>Imported</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {datasets.map((d) => (
              <tr key={d.name}>
                <td>
                  <b>{d.name}</b>
                </td>
                <td>{d.source}</td>
                <td>
                  {d.splits.map((s) => (
                    <button
                      key={s.name}
                      className="chip"
                      title="browse these items"
                      onClick={() => {
                        void show({ kind: 'dataset', name: d.name, split: s.name });
                        document.getElementById('preview')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
                      }}
                    >
                      {s.name}: {s.items.toLocaleString()}
                      {s.withImages ? ` (${s.withImages.toLocaleString()} img)` : ''}
                    </button>
                  ))}
                </td>
                <td>
                  {Object.keys(d.dropped).length === 0 ? (
                    '—'
                  ) : (
                    <details>
                      <summary>
                        {Object.values(d.dropped)
                          .reduce((a, b) => a + b, 0)
                          .toLocaleString()}
                      </summary>
                      <ul className="plain">
                        {Object.entries(d.dropped).map(([k, n]) => (
                          <li key={k}>
                            {k}: {n}
                          </li>
                        ))}
                      </ul>
                    </details>
                  )}
                </td>
                <td>{formatBytes(d.bytes)}</td>
                <td>{formatWhen(d.importedAt)}</td>
                <td>
                  <button
                    className="btn small danger-outline"
                    disabled={busy}
                    onClick={() => {
                      if (confirm(`Delete dataset ${d.name}?`)) void remove(d.name);
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

function ImportFolderSection() {
  const loaders = useLoaders();
  const datasets = useData((s) => s.datasets);
  const importFolder = useData((s) => s.importFolder);
  const busy = useJobs(selectBusy);
  const [name, setName] = useState('');
  const [loader, setLoader] = useState('vqa-rad');
  const [columns, setColumns] = useState('question = question\noptions = options\nanswerLabel = answer_label');
  const [done, setDone] = useState<DatasetInfo | null>(null);
  const generic = GENERIC.includes(loader);
  const parsed = generic ? parseColumns(columns) : null;
  const problem =
    nameProblem(
      name,
      datasets.map((d) => d.name),
    ) ?? (parsed && 'error' in parsed ? parsed.error : null);
  const about = loaders.find((l) => l.name === loader)?.describe;
  return (
    <section className="card" data-testid="import-folder">
      <h2>Import a folder</h2>
      <p className="muted">
        Read a dataset folder from this computer. The items and their images are copied into the browser's private storage; the folder is not changed.
      </p>
      <div className="fields">
        <Labeled label="Name" htmlFor="imp-name">
          <input id="imp-name" className="input" value={name} placeholder="vqa-rad" onChange={(e) => setName(e.target.value)} />
        </Labeled>
        <Labeled label="Loader" htmlFor="imp-loader" help={about}>
          <select id="imp-loader" className="input" value={loader} onChange={(e) => setLoader(e.target.value)}>
            {loaders.length === 0 && <option value={loader}>{loader}</option>}
            {loaders.map((l) => (
              <option key={l.name} value={l.name}>
                {l.name}
              </option>
            ))}
          </select>
        </Labeled>
        {generic && (
          <Labeled
            label="Columns"
            htmlFor="imp-cols"
            help="key = column lines: question, options or optionColumns (comma-separated), answerLabel or answer, image(s), reasoning; file, split, imageDir, closed = true"
          >
            <textarea id="imp-cols" className="input mono" rows={4} value={columns} onChange={(e) => setColumns(e.target.value)} />
          </Labeled>
        )}
      </div>
      <div className="actions">
        <FolderPicker
          testId="import-folder"
          disabled={busy || !!problem}
          onPick={(files) => {
            void importFolder({ name, loader, files, ...(parsed && 'columns' in parsed ? { columns: parsed.columns } : {}) }).then((info) => {
              // The name is now the dataset's: the form starts afresh instead of calling it taken.
              if (info) {
                setName('');
                setDone(info);
              }
            });
          }}
        />
        {name && problem && <span className="form-error">{problem}</span>}
        {!name && done && <Imported info={done} />}
      </div>
    </section>
  );
}

/** The notice after an import, in place of the form's name check. */
function Imported({ info }: { info: DatasetInfo }) {
  const items = info.splits.reduce((a, x) => a + x.items, 0);
  return (
    <span className="form-ok" data-testid="import-done">
      Imported "{info.name}": {items.toLocaleString()} items ({info.splits.map((x) => `${x.name} ${x.items}`).join(', ')}). Name the next one to import it.
    </span>
  );
}

function ImportHubSection() {
  const datasets = useData((s) => s.datasets);
  const importHub = useData((s) => s.importHub);
  const busy = useJobs(selectBusy);
  const [name, setName] = useState('medvlthinker-eval');
  const [repo, setRepo] = useState('UCSC-VLAA/MedVLThinker-Eval');
  const [split, setSplit] = useState('test');
  const [config, setConfig] = useState('');
  const [endpoint, setEndpoint] = useState('');
  const [done, setDone] = useState<DatasetInfo | null>(null);
  const problem =
    nameProblem(
      name,
      datasets.map((d) => d.name),
    ) ??
    (!repo.includes('/') ? 'the repository is owner/name' : null) ??
    (!split ? 'name a split' : null);
  return (
    <section className="card" data-testid="import-hub">
      <h2>Import from the Hugging Face Hub</h2>
      <p className="muted">Downloads the split's parquet files straight into this browser's storage (the only step that uses the network).</p>
      <div className="fields">
        <Labeled label="Name" htmlFor="hub-name">
          <input id="hub-name" className="input" value={name} onChange={(e) => setName(e.target.value)} />
        </Labeled>
        <Labeled label="Repository" htmlFor="hub-repo">
          <input id="hub-repo" className="input" value={repo} onChange={(e) => setRepo(e.target.value)} />
        </Labeled>
        <Labeled label="Split" htmlFor="hub-split">
          <input id="hub-split" className="input" value={split} onChange={(e) => setSplit(e.target.value)} />
        </Labeled>
        <Labeled label="Config" htmlFor="hub-config" help="subset name, when the repository has several">
          <input id="hub-config" className="input" value={config} placeholder="default" onChange={(e) => setConfig(e.target.value)} />
        </Labeled>
        <Labeled label="Mirror" htmlFor="hub-endpoint" help="base URL of a Hub mirror (default https://huggingface.co)">
          <input id="hub-endpoint" className="input" value={endpoint} placeholder="https://huggingface.co" onChange={(e) => setEndpoint(e.target.value)} />
        </Labeled>
      </div>
      <div className="actions">
        <button
          className="btn"
          disabled={busy || !!problem}
          onClick={() =>
            void importHub({ name, repo, split, ...(config ? { config } : {}), ...(endpoint ? { endpoint } : {}) }).then((info) => {
              if (info) {
                setName('');
                setDone(info);
              }
            })
          }
        >
          Download
        </button>
        {name && problem && <span className="form-error">{problem}</span>}
        {!name && done && <Imported info={done} />}
      </div>
    </section>
  );
}

function CurationSection() {
  const synth = useData((s) => s.synth);
  const datasets = useData((s) => s.datasets);
  const curation = useData((s) => s.curation);
  const curate = useData((s) => s.curate);
  const model = useModels((s) => s.current);
  const busy = useJobs(selectBusy);
  const [source, setSource] = useState('synth');
  const [k, setK] = useState<number | undefined>(8);
  const [lo, setLo] = useState<number | undefined>(1);
  const [hi, setHi] = useState<number | undefined>(7);
  const [order, setOrder] = useState<'shuffle' | 'easy-to-hard'>('shuffle');
  const [seed, setSeed] = useState<number | undefined>(42);
  const [maxNew, setMaxNew] = useState<number | undefined>(64);
  const [limit, setLimit] = useState<number | undefined>(64);
  const [saveAs, setSaveAs] = useState('');

  const data: DataRef | null = useMemo(() => {
    if (source === 'synth') return { kind: 'synth', options: { ...synth, n: Math.min(synth.n, limit || synth.n) } };
    const [name, split] = source.split('::');
    return name ? { kind: 'dataset', name, split, ...(limit ? { limit } : {}) } : null;
  }, [source, synth, limit]);
  const problem = !model
    ? 'choose a model'
    : k === undefined || lo === undefined || hi === undefined || seed === undefined || maxNew === undefined
      ? 'fill every field'
      : lo > hi
        ? 'the kept range is empty (low > high)'
        : hi > k
          ? 'high cannot exceed the samples per question'
          : saveAs
            ? nameProblem(
                saveAs,
                datasets.map((d) => d.name),
              )
            : null;

  const hist = curation?.histogram ?? [];
  return (
    <section className="card" data-testid="curation">
      <h2>Difficulty curation</h2>
      <p className="muted">
        The recipe samples 16 answers per training question from the model and keeps questions it solves 1 to 7 times: those it never solves give GRPO no signal
        (every reward 0), and those it always solves teach nothing new. The histogram shows how many questions fall at each pass count.
      </p>
      <div className="fields grid">
        <Labeled label="Model">
          <ModelPicker disabled={busy} />
        </Labeled>
        <Labeled label="Questions" htmlFor="cur-src">
          <select id="cur-src" className="input" value={source} onChange={(e) => setSource(e.target.value)}>
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
        <Labeled label="At most" htmlFor="cur-limit" help="questions (0 = all)">
          <NumberInput id="cur-limit" integer min={0} value={limit} onChange={setLimit} />
        </Labeled>
        <Labeled label="Samples per question k" htmlFor="cur-k" help="recipe: 16">
          <NumberInput id="cur-k" integer min={1} value={k} onChange={setK} />
        </Labeled>
        <Labeled label="Keep pass counts from" htmlFor="cur-lo">
          <NumberInput id="cur-lo" integer min={0} value={lo} onChange={setLo} />
        </Labeled>
        <Labeled label="to" htmlFor="cur-hi">
          <NumberInput id="cur-hi" integer min={0} value={hi} onChange={setHi} />
        </Labeled>
        <Labeled label="Order" htmlFor="cur-order" help="shuffled (released models) or easiest first (an ablation)">
          <select id="cur-order" className="input" value={order} onChange={(e) => setOrder(e.target.value as 'shuffle' | 'easy-to-hard')}>
            <option value="shuffle">shuffle</option>
            <option value="easy-to-hard">easy to hard</option>
          </select>
        </Labeled>
        <Labeled label="Seed" htmlFor="cur-seed">
          <NumberInput id="cur-seed" integer value={seed} onChange={setSeed} />
        </Labeled>
        <Labeled label="Answer budget" htmlFor="cur-max" help="tokens per sampled answer">
          <NumberInput id="cur-max" integer min={1} value={maxNew} onChange={setMaxNew} />
        </Labeled>
        <Labeled label="Save kept as" htmlFor="cur-save" help="a dataset name (optional)">
          <input id="cur-save" className="input" value={saveAs} placeholder="(don't save)" onChange={(e) => setSaveAs(e.target.value)} />
        </Labeled>
      </div>
      <div className="actions">
        <button
          className="btn primary"
          data-testid="curate-run"
          disabled={busy || !!problem || !data}
          onClick={() => {
            if (!model || !data) return;
            void curate({ model, data, settings: { k: k!, lo: lo!, hi: hi!, order, seed: seed! }, maxNewTokens: maxNew!, ...(saveAs ? { saveAs } : {}) });
          }}
        >
          Run curation
        </button>
        {problem && <span className="form-error">{problem}</span>}
      </div>
      {curation && (
        <div className="curation-result">
          <p>
            <b>{curation.kept.toLocaleString()}</b> of {curation.total.toLocaleString()} questions kept (pass count {curation.request.settings.lo} to{' '}
            {curation.request.settings.hi} of {curation.request.settings.k})
            {curation.saved ? (
              <>
                {' '}
                · saved as <b>{curation.saved.name}</b>
              </>
            ) : null}
            .
          </p>
          <Chart
            testId="curation-histogram"
            title="Pass-count histogram"
            xLabel={`correct answers out of ${curation.request.settings.k}`}
            bars
            caption="Questions per pass count; the kept range is drawn in green."
            x={hist.map((b) => b.pass_count)}
            series={[
              { label: 'dropped', colour: '#9ca3af', values: hist.map((b) => b.items - b.kept) },
              { label: 'kept', colour: '#16a34a', values: hist.map((b) => b.kept) },
            ]}
          />
        </div>
      )}
    </section>
  );
}

function PreviewSection() {
  const preview = useData((s) => s.preview);
  const show = useData((s) => s.show);
  if (!preview) return null;
  const { ref, offset, total, items, loading, error } = preview;
  const title =
    ref.kind === 'synth'
      ? `Synth items (${ref.options.kind}, level ${ref.options.level}, ${ref.options.split})`
      : `${ref.name}${ref.split ? ` · ${ref.split}` : ''}`;
  const page = (o: number) => void show(ref, Math.max(0, o), PREVIEW_COUNT);
  return (
    <section className="card" id="preview" data-testid="preview">
      <div className="row spread">
        <h2>{title}</h2>
        <div className="pager">
          <button className="btn small" disabled={offset === 0 || loading} onClick={() => page(offset - PREVIEW_COUNT)}>
            ← Previous
          </button>
          <span className="muted">
            {total ? `${offset + 1}–${Math.min(total, offset + PREVIEW_COUNT)} of ${total.toLocaleString()}` : loading ? 'loading…' : '0 items'}
          </span>
          <button className="btn small" disabled={offset + PREVIEW_COUNT >= total || loading} onClick={() => page(offset + PREVIEW_COUNT)}>
            Next →
          </button>
        </div>
      </div>
      {error && <p className="form-error">{error}</p>}
      <div className={`items${loading ? ' loading' : ''}`}>
        {items.map((it) => (
          <ItemCard key={`${it.hash}-${it.dataset_index}`} item={it} />
        ))}
      </div>
    </section>
  );
}
