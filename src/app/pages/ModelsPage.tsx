import { useEffect, useState } from 'react';
import type { ModelInfo } from '../../lab/api';
import { FolderPicker, pickWritableFolder } from '../components/FolderPicker';
import { errorMessage } from '../lib/errors';
import { formatBytes, formatCount } from '../lib/format';
import { freeName, nameProblem } from '../lib/names';
import { selectBusy, useJobs } from '../stores/jobs';
import { modelLabel, useModels } from '../stores/models';
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
          <code>model.safetensors</code>, tokenizer files): export one to share it or load it in transformers, import one to continue from it here.
        </p>
      </header>
      <ModelTable />
      <ImportModel />
      <PretrainedModels />
    </div>
  );
}

function shape(m: ModelInfo): string {
  const t = m.cfg.text;
  return `${t.numLayers} layer${t.numLayers === 1 ? '' : 's'} × ${t.hiddenSize}, vocab ${t.vocabSize.toLocaleString()}, context ${t.maxPositionEmbeddings}${m.cfg.vision ? ', vision' : ''}`;
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
  const problem = nameProblem(
    name,
    models.filter((m) => !m.run).map((m) => m.path.replace(/^models\//, '')),
  );
  return (
    <section className="card" data-testid="import-model">
      <h2>Import a model folder</h2>
      <p className="muted">
        A Hugging Face folder of the lab's model family (Llama or Qwen2 text decoder, optional lab vision encoder) with its tokenizer. It is checked before
        anything is stored.
      </p>
      <div className="row wrap">
        <input className="input" placeholder="name" value={name} onChange={(e) => setName(e.target.value)} aria-label="model name" />
        <FolderPicker testId="import-model" disabled={busy || !!problem} onPick={(from) => void importFrom(name, from)} />
        {name && problem && <span className="form-error">{problem}</span>}
      </div>
    </section>
  );
}
