// The Models page's second half: pretrained vision-language models run by transformers.js in
// their own worker. The curated list shows, before anything downloads, the precision chosen for
// this adapter, the download size and the memory need (or why a model cannot run here); any hub id
// or mirror can be typed, or a local folder read with no network at all.
import { useState } from 'react';
import type { CatalogView, Dtype, PretrainedLoadReq } from '../../pretrained/api';
import { FolderPicker } from '../components/FolderPicker';
import { Labeled } from '../components/Field';
import { formatBytes } from '../lib/format';
import { selectPretrainedBusy, useJobs } from '../stores/jobs';
import { loadProblem, usePretrained } from '../stores/pretrained';

const DTYPES: Dtype[] = ['q4f16', 'fp16', 'q4', 'q8', 'fp32'];
const KIND_LABEL = { chat: 'images and text', caption: 'captions only', text: 'text only' } as const;

export function PretrainedModels() {
  const ready = usePretrained((s) => s.ready);
  const refresh = usePretrained((s) => s.refresh);
  return (
    <section className="card" data-testid="pretrained">
      <h2>Pretrained models</h2>
      <p className="muted">
        Real vision-language models, run by transformers.js on this GPU in a worker of their own (training keeps going meanwhile). Ask them about your own
        images, score them on the benchmarks beside the lab's models, or let one write the reasoning traces SFT distils. Files are downloaded only when you
        press a button, kept in this browser's cache for offline use, and your images and questions never leave this machine.
      </p>
      {!ready ? (
        <button className="btn" data-testid="pretrained-start" onClick={() => void refresh()}>
          Show pretrained models
        </button>
      ) : (
        <>
          <AdapterLine />
          <LoadedLine />
          <CatalogTable />
          <CustomLoad />
          <CacheTable />
        </>
      )}
    </section>
  );
}

function AdapterLine() {
  const a = usePretrained((s) => s.adapter);
  if (!a) return null;
  const g = a.webgpu;
  return (
    <p className="small" data-testid="pretrained-adapter">
      {g ? (
        <>
          WebGPU: <b>{g.description || `${g.vendor} ${g.architecture}`.trim() || 'an adapter'}</b>, {g.features.includes('shader-f16') ? 'with' : 'without'}{' '}
          shader-f16, largest buffer {formatBytes(Math.min(g.maxBufferSize, g.maxStorageBufferBindingSize))}
        </>
      ) : (
        <>No WebGPU here: models run on the CPU (WebAssembly), slowly.</>
      )}
      {a.memoryBytes ? <> · the browser reports {formatBytes(a.memoryBytes)} of memory</> : null}
    </p>
  );
}

function LoadedLine() {
  const loaded = usePretrained((s) => s.loaded);
  const unload = usePretrained((s) => s.unload);
  const busy = useJobs(selectPretrainedBusy);
  const files = usePretrained((s) => s.files);
  const job = useJobs((s) => s.pretrainedJob);
  return (
    <>
      {loaded && (
        <div className="loaded-model row wrap" data-testid="pretrained-loaded">
          <span>
            Loaded: <b>{loaded.id}</b> · {KIND_LABEL[loaded.kind]} · {loaded.dtype ?? 'default dtype'} on {loaded.device} · {formatBytes(loaded.bytes)} in{' '}
            {loaded.files.length} files ({loaded.downloaded ? `${loaded.downloaded} downloaded` : 'none downloaded: all from the cache or a folder'})
          </span>
          <button className="btn small" disabled={busy} data-testid="pretrained-unload" onClick={() => void unload()}>
            Unload
          </button>
        </div>
      )}
      {job?.kind === 'download' && files.length > 0 && (
        <ul className="file-progress small" data-testid="pretrained-files">
          {files.map((f) => (
            <li key={f.file}>
              <span className="mono">{f.file}</span> {f.done ? 'done' : f.total ? `${formatBytes(f.loaded)} / ${formatBytes(f.total)}` : formatBytes(f.loaded)}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function CatalogTable() {
  const catalog = usePretrained((s) => s.catalog);
  const cached = usePretrained((s) => s.cached);
  const load = usePretrained((s) => s.load);
  const busy = useJobs(selectPretrainedBusy);
  const inCache = (m: CatalogView) => cached.find((c) => c.id === m.id && c.complete && c.loaded?.dtype === m.choice?.dtype);
  return (
    <table className="table" data-testid="pretrained-catalog">
      <thead>
        <tr>
          <th>Model</th>
          <th>On this machine</th>
          <th>Download</th>
          <th>Memory</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {catalog.map((m) => {
          const have = inCache(m);
          return (
            <tr key={m.id} data-testid="catalog-row">
              <td>
                <b>{m.label}</b>{' '}
                <span className="muted small">
                  {m.params} · {KIND_LABEL[m.kind]}
                  {m.community ? ' · community upload' : ''}
                </span>
                <div className="muted small mono">{m.id}</div>
                <div className="small">{m.notes}</div>
              </td>
              <td className="small">
                {m.choice ? (
                  <>
                    <b>{m.choice.dtype}</b> on {m.choice.device}
                    <div className="muted">{m.choice.why}</div>
                  </>
                ) : (
                  <span className="form-error" data-testid="catalog-refusal">
                    {m.refusal}
                  </span>
                )}
              </td>
              <td className="nowrap">{m.choice ? `≈ ${formatBytes(m.choice.need.downloadBytes)}` : '—'}</td>
              <td className="nowrap">{m.choice ? `≈ ${formatBytes(m.choice.need.memoryBytes)}` : '—'}</td>
              <td className="row-actions">
                <button
                  className="btn small primary"
                  disabled={busy || !m.choice}
                  title={m.refusal ?? undefined}
                  data-testid={`load-${m.id}`}
                  onClick={() => void load({ model: m.id, dtype: m.choice!.dtype, device: m.choice!.device, ...(have ? { offline: true } : {}) })}
                >
                  {have ? 'Load (cached)' : 'Download and load'}
                </button>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function CustomLoad() {
  const load = usePretrained((s) => s.load);
  const busy = useJobs(selectPretrainedBusy);
  const [model, setModel] = useState('');
  const [endpoint, setEndpoint] = useState('');
  const [dtype, setDtype] = useState<Dtype | ''>('');
  const [offline, setOffline] = useState(false);
  const problem = loadProblem(model, endpoint);
  const req = (): PretrainedLoadReq => ({
    model: model.trim(),
    ...(endpoint.trim() ? { endpoint: endpoint.trim() } : {}),
    ...(dtype ? { dtype } : {}),
    ...(offline ? { offline } : {}),
  });
  return (
    <div className="custom-load" data-testid="pretrained-custom">
      <h3>Any model id, a mirror, or a folder</h3>
      <div className="fields grid">
        <Labeled label="Model id" htmlFor="pt-id" help="owner/name on the hub, e.g. onnx-community/… with ONNX weights">
          <input
            id="pt-id"
            className="input"
            data-testid="pretrained-id"
            value={model}
            placeholder="HuggingFaceTB/SmolVLM-256M-Instruct"
            onChange={(e) => setModel(e.target.value)}
          />
        </Labeled>
        <Labeled label="Hub mirror" htmlFor="pt-ep" help="optional; default https://huggingface.co">
          <input
            id="pt-ep"
            className="input"
            data-testid="pretrained-endpoint"
            value={endpoint}
            placeholder="https://huggingface.co"
            onChange={(e) => setEndpoint(e.target.value)}
          />
        </Labeled>
        <Labeled label="Precision" htmlFor="pt-dtype" help="automatic: chosen from this adapter's features">
          <select id="pt-dtype" className="input" value={dtype} onChange={(e) => setDtype(e.target.value as Dtype | '')}>
            <option value="">automatic</option>
            {DTYPES.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </Labeled>
        <Labeled label="Cache only" help="no network: load what an earlier download stored">
          <input type="checkbox" checked={offline} onChange={(e) => setOffline(e.target.checked)} />
        </Labeled>
      </div>
      <div className="actions">
        <button className="btn primary" data-testid="pretrained-load" disabled={busy || !!problem} onClick={() => void load(req())}>
          Load
        </button>
        {model && problem && (
          <span className="form-error" data-testid="pretrained-problem">
            {problem}
          </span>
        )}
        <span className="muted">or read a model folder from this computer (config.json, onnx/, tokenizer files), with no network:</span>
        <FolderPicker
          testId="pretrained-folder"
          disabled={busy}
          label="Open a model folder…"
          onPick={(folder) => void load({ model: Array.isArray(folder) ? folder[0]?.webkitRelativePath.split('/')[0] || 'folder' : folder.name, folder })}
        />
      </div>
    </div>
  );
}

function CacheTable() {
  const cached = usePretrained((s) => s.cached);
  const remove = usePretrained((s) => s.deleteCached);
  const busy = useJobs(selectPretrainedBusy);
  const total = cached.reduce((a, c) => a + c.bytes, 0);
  return (
    <div data-testid="pretrained-cache">
      <h3>Stored in this browser {cached.length > 0 && <span className="muted small">· {formatBytes(total)}</span>}</h3>
      {!cached.length ? (
        <p className="muted small">No model files cached yet.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>Model</th>
              <th>From</th>
              <th>Files</th>
              <th>Size</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {cached.map((c) => (
              <tr key={`${c.host}/${c.id}`} data-testid="cache-row">
                <td className="mono">{c.id}</td>
                <td className="small">{c.host || 'local'}</td>
                <td>{c.files.length}</td>
                <td className="nowrap">{formatBytes(c.bytes)}</td>
                <td className="small">
                  {c.complete ? `complete${c.loaded?.dtype ? ` (${c.loaded.dtype})` : ''}: loads offline` : 'incomplete: a load will download the rest'}
                </td>
                <td className="row-actions">
                  <button
                    className="btn small danger-outline"
                    disabled={busy}
                    data-testid={`uncache-${c.id}`}
                    onClick={() => {
                      if (confirm(`Delete the cached files of ${c.id} (${formatBytes(c.bytes)})?`)) void remove(c.id);
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
    </div>
  );
}
