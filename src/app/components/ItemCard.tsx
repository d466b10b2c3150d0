import { useEffect, useState } from 'react';
import type { ItemView } from '../../lab/api';

/** An encoded image shown through a Blob URL that is released with the element. */
export function BlobImage({ bytes, mime, alt, className }: { bytes: Uint8Array; mime: string; alt: string; className?: string }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    const u = URL.createObjectURL(new Blob([bytes as BlobPart], { type: mime }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [bytes, mime]);
  return url ? <img src={url} alt={alt} className={className} /> : null;
}

/** One multiple-choice item: images, question, options with the gold one marked, the trace folded. */
export function ItemCard({ item, onPick, pickLabel }: { item: ItemView; onPick?: (item: ItemView) => void; pickLabel?: string }) {
  return (
    <article className="item" data-testid="item">
      {item.images.length > 0 && (
        <div className="item-images">
          {item.images.map((im) => (
            <BlobImage key={im.name} bytes={im.bytes} mime={im.mime} alt={`image of item ${item.dataset_index}`} className="item-image" />
          ))}
        </div>
      )}
      <div className="item-body">
        <div className="item-meta">
          {item.dataset_name} #{item.dataset_index}
          {item.split ? ` · ${item.split}` : ''}
        </div>
        <p className="item-question">{item.question}</p>
        <ol className="item-options">
          {Object.entries(item.options).map(([k, v]) => (
            <li key={k} className={k === item.answer_label ? 'gold' : undefined}>
              <b>{k}.</b> {v}
              {k === item.answer_label && (
                <span className="gold-mark" title="gold answer">
                  {' '}
                  ✓
                </span>
              )}
            </li>
          ))}
        </ol>
        {item.reasoning && (
          <details className="item-trace">
            <summary>teacher trace</summary>
            <p>{item.reasoning}</p>
          </details>
        )}
        {onPick && (
          <button className="btn small" onClick={() => onPick(item)}>
            {pickLabel ?? 'Use'}
          </button>
        )}
      </div>
    </article>
  );
}
