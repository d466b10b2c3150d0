// Results the user asked to keep, saved as a file through the browser's download (a blob URL:
// nothing leaves the machine).
import type { EvalRecord } from '../../eval/run';

/** Graded records as `thinker eval` writes records.jsonl: one JSON object per line. */
export const recordsJsonl = (records: readonly EvalRecord[]): string => records.map((r) => `${JSON.stringify(r)}\n`).join('');

/** A file name safe on every OS from a label such as "models/x (pretrained)". */
export const fileSafe = (label: string): string => label.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'results';

export function downloadText(name: string, text: string, type = 'application/x-ndjson'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
