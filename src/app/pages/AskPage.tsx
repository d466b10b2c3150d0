import { useEffect, useState } from 'react';
import type { DataRef } from '../../lab/api';
import { Labeled, NumberInput } from '../components/Field';
import { BlobImage } from '../components/ItemCard';
import { BackendPicker, useBackendBusy } from '../components/BackendPicker';
import { splitAnswer } from '../lib/answer';
import { errorMessage } from '../lib/errors';
import { clip } from '../lib/format';
import { getEngine } from '../engine-client';
import { parseOptions, useAsk } from '../stores/ask';
import { useData } from '../stores/data';
import { useJobs } from '../stores/jobs';
import { useModels } from '../stores/models';
import { usePretrained } from '../stores/pretrained';

export function AskPage() {
  const refreshData = useData((s) => s.refresh);
  const refreshModels = useModels((s) => s.refresh);
  useEffect(() => {
    void refreshData();
    void refreshModels();
  }, [refreshData, refreshModels]);
  return (
    <div className="page">
      <header className="page-head">
        <h1>Ask</h1>
        <p className="lede">Open an image from this computer, ask a question, and watch the model think token by token.</p>
        <p className="privacy" data-testid="privacy-note">
          <b>Private:</b> nothing leaves this machine. The image and the question go only to the model running in this tab, on your GPU.
        </p>
      </header>
      <div className="two-col wide-right">
        <AskForm />
        <Answer />
      </div>
    </div>
  );
}

function AskForm() {
  const form = useAsk((s) => s.form);
  const setForm = useAsk((s) => s.setForm);
  const ask = useAsk((s) => s.ask);
  const askPretrained = useAsk((s) => s.askPretrained);
  const model = useModels((s) => s.current);
  const info = useModels((s) => s.models.find((m) => m.path === s.current));
  const backend = usePretrained((s) => s.backend);
  const pretrained = usePretrained((s) => s.loaded);
  const busy = useBackendBusy();
  const [imageError, setImageError] = useState<string | null>(null);
  const blind = !!form.image && (backend === 'lab' ? !!info && !info.cfg.vision : pretrained?.kind === 'text');
  const problem =
    backend === 'lab' && !model
      ? 'choose a model'
      : backend === 'pretrained' && !pretrained
        ? 'load a pretrained model on the Models page'
        : !form.question.trim()
          ? 'type a question'
          : blind
            ? 'this model reads no images: remove the image, or choose a model that has a vision encoder'
            : null;
  return (
    <section className="card" data-testid="ask-form">
      <div className="fields">
        <Labeled label="Model">
          <BackendPicker />
        </Labeled>
        <Labeled label="Image" help="PNG or JPEG; optional. The model must have a vision encoder to use it.">
          <div className="image-pick">
            {form.image && <BlobImage bytes={form.image.bytes} mime={form.image.mime} alt="the image you opened" className="ask-image" />}
            <div className="row wrap">
              {/* The native input says "No file chosen" once it is cleared for the next pick; the button and the name say what is open. */}
              <label className="btn small">
                {form.image ? 'Open another image…' : 'Open an image…'}
                <input
                  type="file"
                  accept="image/png,image/jpeg"
                  hidden
                  data-testid="ask-image"
                  onChange={async (e) => {
                    const f = e.target.files?.[0];
                    e.target.value = '';
                    if (!f) return;
                    if (f.type !== 'image/png' && f.type !== 'image/jpeg') {
                      setImageError(`${f.name} is not a PNG or JPEG image`);
                      return;
                    }
                    setImageError(null);
                    setForm({ image: { name: f.name, mime: f.type, bytes: new Uint8Array(await f.arrayBuffer()) } });
                  }}
                />
              </label>
              {form.image && (
                <span className="file-name" data-testid="ask-image-name">
                  {form.image.name}
                </span>
              )}
              {form.image && (
                <button className="linklike" onClick={() => setForm({ image: null })}>
                  remove
                </button>
              )}
            </div>
            {imageError && <span className="form-error">{imageError}</span>}
          </div>
        </Labeled>
        <Labeled label="Question" htmlFor="ask-q">
          <textarea
            id="ask-q"
            className="input"
            rows={3}
            data-testid="ask-question"
            value={form.question}
            onChange={(e) => setForm({ question: e.target.value })}
            placeholder="Is there a pleural effusion?"
          />
        </Labeled>
        <Labeled label="Options" htmlFor="ask-o" help={'one per line, e.g. "A. Yes"; leave empty for a free question'}>
          <textarea
            id="ask-o"
            className="input"
            rows={4}
            data-testid="ask-options"
            value={form.optionsText}
            onChange={(e) => setForm({ optionsText: e.target.value })}
            placeholder={'A. Yes\nB. No'}
          />
        </Labeled>
        <Labeled
          label="Recipe prompt"
          htmlFor="ask-recipe"
          help="Wrap the question in the recipe's instruction, so a trained model thinks in <think> tags and answers in <answer> tags."
        >
          <input
            type="checkbox"
            id="ask-recipe"
            data-testid="ask-recipe"
            checked={form.recipePrompt}
            onChange={(e) => setForm({ recipePrompt: e.target.checked })}
          />
        </Labeled>
        <div className="fields grid">
          <Labeled label="Max tokens" htmlFor="ask-max">
            <NumberInput id="ask-max" integer min={1} value={form.maxNewTokens} onChange={(v) => v !== undefined && setForm({ maxNewTokens: v })} />
          </Labeled>
          <Labeled label="Temperature" htmlFor="ask-t" help="0 = greedy">
            <NumberInput id="ask-t" min={0} value={form.temperature} onChange={(v) => v !== undefined && setForm({ temperature: v })} />
          </Labeled>
        </div>
      </div>
      <div className="actions">
        <button
          className="btn primary"
          data-testid="ask-run"
          disabled={busy || !!problem}
          onClick={() => {
            if (backend === 'pretrained') {
              if (pretrained) void askPretrained(pretrained.id);
            } else if (model) void ask(model);
          }}
        >
          Ask
        </button>
        {problem && <span className="form-error">{problem}</span>}
        {parseOptions(form.optionsText) && <span className="muted small">{Object.keys(parseOptions(form.optionsText)!).length} options</span>}
      </div>
      <ItemPicker />
    </section>
  );
}

/** Fill the form from a dataset item (its question, options and image). */
function ItemPicker() {
  const datasets = useData((s) => s.datasets);
  const synth = useData((s) => s.synth);
  const fromItem = useAsk((s) => s.fromItem);
  const [source, setSource] = useState('synth');
  const [index, setIndex] = useState<number | undefined>(0);
  const [error, setError] = useState<string | null>(null);
  const ref: DataRef =
    source === 'synth'
      ? { kind: 'synth', options: { ...synth, split: 'test' } }
      : { kind: 'dataset', name: source.split('::')[0], split: source.split('::')[1] };
  return (
    <details className="item-picker">
      <summary>Or take a question from a dataset</summary>
      <div className="row wrap">
        <select className="input" aria-label="Where the question comes from" value={source} onChange={(e) => setSource(e.target.value)}>
          <option value="synth">synth held-out items (Data page settings)</option>
          {datasets.flatMap((d) =>
            d.splits.map((s) => (
              <option key={`${d.name}::${s.name}`} value={`${d.name}::${s.name}`}>
                {d.name} · {s.name}
              </option>
            )),
          )}
        </select>
        <label className="inline">
          item # <NumberInput integer min={0} value={index} onChange={setIndex} />
        </label>
        <button
          className="btn small"
          data-testid="ask-load-item"
          disabled={index === undefined}
          onClick={async () => {
            try {
              const { items, total } = await getEngine().previewItems(ref, index ?? 0, 1);
              if (!items.length) {
                setError(`there are only ${total} items`);
                return;
              }
              setError(null);
              fromItem(items[0]);
            } catch (e) {
              setError(errorMessage(e));
            }
          }}
        >
          Load
        </button>
      </div>
      {error && <p className="form-error">{error}</p>}
    </details>
  );
}

function Answer() {
  const text = useAsk((s) => s.text);
  const reply = useAsk((s) => s.reply);
  const asking = useAsk((s) => s.asking);
  const cancel = useJobs((s) => s.cancel);
  const engineJob = useJobs((s) => s.job);
  const pretrainedJob = useJobs((s) => s.pretrainedJob);
  const job = engineJob?.kind === 'ask' ? engineJob : pretrainedJob?.kind === 'ask' ? pretrainedJob : null;
  const parts = splitAnswer(text);
  return (
    <section className="card answer-card">
      <div className="row spread">
        <h2>Answer</h2>
        {asking && job && (
          <button className="btn small danger" onClick={() => void cancel(job === engineJob ? 'engine' : 'pretrained')} disabled={job.cancelling}>
            Stop
          </button>
        )}
      </div>
      <div className="answer" data-testid="ask-answer" aria-live="polite">
        {!text && !asking && <span className="muted">The answer appears here as the model writes it.</span>}
        {!text && asking && <span className="muted">Reading the question…</span>}
        {parts.before && <span>{parts.before}</span>}
        {parts.think !== null && (
          <div className="think">
            <span className="tag">&lt;think&gt;</span>
            {parts.think}
            {parts.between !== '' || parts.answer !== null ? <span className="tag">&lt;/think&gt;</span> : null}
          </div>
        )}
        {parts.between && <span>{parts.between}</span>}
        {parts.answer !== null &&
          (parts.after !== '' || text.endsWith('</answer>') || asking ? (
            <div className="final">
              <span className="tag">&lt;answer&gt;</span>
              <b>{parts.answer}</b>
              {parts.after !== '' || text.endsWith('</answer>') ? <span className="tag">&lt;/answer&gt;</span> : null}
            </div>
          ) : (
            // Finished without </answer>: not an answer the grader reads, so not shown as one.
            <div className="final unclosed" data-testid="ask-unclosed">
              <span className="tag">&lt;answer&gt;</span>
              {parts.answer}
              <span className="badge no">never closed</span>
            </div>
          ))}
        {parts.after && <span>{parts.after}</span>}
        {asking && <span className="cursor" />}
      </div>
      {reply && (
        <p className="muted small" data-testid="ask-summary">
          {reply.tokens} tokens
          {reply.format !== undefined && <> · format {reply.format ? 'ok' : "not the recipe's"}</>}
          {reply.letter !== undefined && (
            <>
              {' '}
              · the grader read {reply.extracted ? <q data-testid="ask-extracted">{clip(reply.extracted, 60)}</q> : 'nothing'}:{' '}
              {reply.letter ? `option ${reply.letter}` : 'no option'}
            </>
          )}
        </p>
      )}
      {reply?.why && (
        <p className="notice small" data-testid="ask-why">
          {reply.why}.
        </p>
      )}
    </section>
  );
}
