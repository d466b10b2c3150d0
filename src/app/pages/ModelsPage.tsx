import { useEffect, useState } from 'react';
import type { ModelInfo } from '../../lab/api';
import { Labeled } from '../components/Field';
import { FolderPicker, pickWritableFolder } from '../components/FolderPicker';
import { ProgressBar } from '../components/ProgressBar';
import { errorMessage } from '../lib/errors';
import { formatBytes, formatCount } from '../lib/format';
import { freeName, nameProblem } from '../lib/names';
import { selectBusy, useJobs } from '../stores/jobs';
import { hubFormProblem, hubModelName, modelLabel, savedNames, useModels } from '../stores/models';
import { PretrainedModels } from './PretrainedModels';

export function ModelsPage() {
  const refresh = useModels((s) => s.refresh);
  useEffect(() => {
    void refresh();
  }, [refresh]);
  return (
    <div className="page">
      <header className="page-head">
        <h1>Models</h1>
        <p className="lede">
          Saved models and the checkpoints of runs, all kept in this browser's private storage. A model is a Hugging Face folder (<code>config.json</code>,{' '}
          <code>model.safetensors</code>, tokenizer files): export one to share it or load it in transformers, download one from the Hugging Face Hub or import
          one from a folder to continue from it here.
        </p>
      </header>
      <ModelTable />
      <DownloadModel />
      <ImportModel />
      <PretrainedModels />
    </div>
  );
}

function shape(m: ModelInfo): string {
  const t = m.cfg.text;
  const vision = m.cfg.idefics3 ? ', SigLIP vision (SmolVLM)' : m.cfg.vision ? ', vision' : '';
  return `${t.numLayers} layer${t.numLayers === 1 ? '' : 's'} × ${t.hiddenSize}, vocab ${t.vocabSize.toLocaleString()}, context ${t.maxPositionEmbeddings}${vision}`;
}

function ModelTable() {
  const models = useModels((s) => s.models);
  const loaded = useModels((s) => s.loaded);
  const current = useModels((s) => s.current);
  const setCurrent = useModels((s) => s.setCurrent);
  const remove = useModels((s) => s.remove);
  const exportTo = useModels((s) => s.exportTo);
  const alert = useJobs((s) => s.alert);
  const busy = useJobs(selectBusy);
  const [saving, setSaving] = useState<string | null>(null);
  return (
    <section className="card">
      <h2>Models and checkpoints</h2>
      {loaded && !models.length && <p className="muted">Nothing yet: a run's checkpoints appear here as it trains.</p>}
      {models.length > 0 && (
        <div className="table-scroll">
          <table className="table" data-testid="models-table">
            <thead>
              <tr>
                <th>Model</th>
                <th>Shape</th>
                <th>Parameters</th>
                <th>On disk</th>
                <th title="estimated GPU memory to train it / to answer with it">GPU memory train / run</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <tr key={m.path} className={m.path === current ? 'selected' : undefined} data-testid="model-row">
                  <td>
                    <b>{modelLabel(m)}</b>
                    {m.path === current && <span className="badge plain">current</span>}
                    <div className="muted small mono nowrap">{m.path}</div>
                  </td>
                  <td className="small shape-cell">{shape(m)}</td>
                  <td className="nowrap">{formatCount(m.params)}</td>
                  <td className="nowrap">{formatBytes(m.bytes)}</td>
                  <td className="nowrap">
                    {formatBytes(m.trainBytes)} / {formatBytes(m.inferBytes)}
                  </td>
                  <td className="row-actions">
                    {m.path !== current && (
                      <button className="btn small" onClick={() => setCurrent(m.path)}>
                        Use
                      </button>
                    )}
                    {m.run && (
                      <button className="btn small" disabled={busy} onClick={() => setSaving(saving === m.path ? null : m.path)}>
                        Save as model
                      </button>
                    )}
                    <button
                      className="btn small"
                      disabled={busy}
                      onClick={async () => {
                        try {
                          const dir = await pickWritableFolder();
                          if (dir && (await exportTo(m.path, dir))) alert(`Exported ${m.path} as a Hugging Face folder into "${dir.name}".`, 'info');
                        } catch (e) {
                          alert(errorMessage(e));
                        }
                      }}
                    >
                      Export…
                    </button>
                    <button
                      className="btn small danger-outline"
                      disabled={busy}
                      onClick={() => {
                        if (confirm(`Delete ${m.path}?`)) void remove(m.path);
                      }}
                    >
                      Delete
                    </button>
                    {saving === m.path && <SaveAs from={m} onDone={() => setSaving(null)} />}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function SaveAs({ from, onDone }: { from: ModelInfo; onDone: () => void }) {
  const models = useModels((s) => s.models);
  const save = useModels((s) => s.save);
  const taken = models.filter((m) => !m.run).map((m) => m.path.replace(/^models\//, ''));
  const [name, setName] = useState(() => freeName(from.run?.name ?? 'model', taken));
  const problem = nameProblem(name, taken);
  return (
    <div className="inline-form">
      <input className="input" value={name} onChange={(e) => setName(e.target.value)} aria-label="model name" />
      <button
        className="btn small primary"
        disabled={!!problem}
        onClick={async () => {
          await save(from.path, name);
          onDone();
        }}
      >
        Save
      </button>
      {problem && <span className="form-error">{problem}</span>}
    </div>
  );
}

function ImportModel() {
  const models = useModels((s) => s.models);
  const importFrom = useModels((s) => s.importFrom);
  const busy = useJobs(selectBusy);
  const [name, setName] = useState('');
  const problem = nameProblem(name, savedNames(models));
  return (
    <section className="card" data-testid="import-model">
      <h2>Import a model folder</h2>
      <p className="muted">
        A Hugging Face folder of the lab's model family (Llama or Qwen2 text decoder with an optional lab vision encoder, or Idefics3 / SmolVLM) with its
        tokenizer. It is checked before anything is stored.
      </p>
      <div className="row wrap">
        <input className="input" placeholder="name" value={name} onChange={(e) => setName(e.target.value)} aria-label="model name" />
        <FolderPicker testId="import-model" disabled={busy || !!problem} onPick={(from) => void importFrom(name, from)} />
        {name && problem && <span className="form-error">{problem}</span>}
      </div>
    </section>
  );
}

/** A model repository from the Hub into models/NAME: the form's state and the call live in the models store. */
function DownloadModel() {
  const form = useModels((s) => s.hub);
  const setHub = useModels((s) => s.setHub);
  const download = useModels((s) => s.download);
  const downloaded = useModels((s) => s.downloaded);
  const models = useModels((s) => s.models);
  const job = useJobs((s) => s.job);
  const busy = useJobs(selectBusy);
  const cancel = useJobs((s) => s.cancel);
  const problem = hubFormProblem(form, savedNames(models));
  const running = job?.kind === 'download' ? job : null;
  // Right after a download (until the form is edited) its notice stands in for the form's check: the name it took is taken now.
  const justDone = !running && downloaded !== null;
  const p = running?.progress;
  return (
    <section className="card" data-testid="download-model">
      <h2>Download from the Hugging Face Hub</h2>
      <p className="muted">
        A model repository of the lab's family (Llama or Qwen2 text models, Idefics3 / SmolVLM) straight into this browser's storage; only this button uses the
        network. <code>config.json</code> comes first, and a model this GPU cannot hold is refused with the numbers before its weights are fetched. A download
        that is cut off or cancelled keeps what arrived: Download again resumes it.
      </p>
      <div className="fields grid">
        <Labeled label="Repository" htmlFor="hubm-repo" help="owner/name on the Hub">
          <input id="hubm-repo" className="input" data-testid="download-model-repo" value={form.repo} onChange={(e) => setHub({ repo: e.target.value })} />
        </Labeled>
        <Labeled label="Name" htmlFor="hubm-name" help="in this lab (models/NAME)">
          <input
            id="hubm-name"
            className="input"
            data-testid="download-model-name"
            value={form.name}
            placeholder={hubModelName({ repo: form.repo, name: '' })}
            onChange={(e) => setHub({ name: e.target.value })}
          />
        </Labeled>
        <Labeled label="Revision" htmlFor="hubm-rev" help="branch, tag or commit">
          <input id="hubm-rev" className="input" value={form.revision} placeholder="main" onChange={(e) => setHub({ revision: e.target.value })} />
        </Labeled>
        <Labeled label="Mirror" htmlFor="hubm-endpoint" help="optional Hub mirror">
          <input
            id="hubm-endpoint"
            className="input"
            value={form.endpoint}
            placeholder="https://huggingface.co"
            onChange={(e) => setHub({ endpoint: e.target.value })}
          />
        </Labeled>
        <Labeled label="Token" htmlFor="hubm-token" help="for gated or private models; kept in this tab only">
          <input
            id="hubm-token"
            className="input"
            type="password"
            autoComplete="off"
            value={form.token}
            placeholder="hf_…"
            onChange={(e) => setHub({ token: e.target.value })}
          />
        </Labeled>
      </div>
      <div className="actions">
        <button className="btn primary" data-testid="download-model-start" disabled={busy || !!problem} onClick={() => void download()}>
          Download
        </button>
        {running && (
          <button className="btn danger" data-testid="download-model-cancel" disabled={running.cancelling} onClick={() => void cancel()}>
            {running.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
        {form.repo && problem && !justDone && <span className="form-error">{problem}</span>}
        {justDone && (
          <span className="form-ok" data-testid="download-model-done">
            Downloaded {downloaded.path}: {formatCount(downloaded.params)} parameters, {formatBytes(downloaded.bytes)}. Use it from the table above; another
            name downloads it again.
          </span>
        )}
      </div>
      {running && (
        <ProgressBar
          label={p?.phase ?? running.label}
          done={p?.done ?? 0}
          total={p?.total ?? 0}
          secondsLeft={p?.secondsLeft}
          testId="download-model-progress"
        />
      )}
    </section>
  );
}
