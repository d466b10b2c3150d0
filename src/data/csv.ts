// RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks (MMLU's questions and
// PMC-VQA's captions do), so a split on lines and commas miscounts. Each record keeps the line it
// starts on, for error messages.

import { InputError } from '../engine/errors';

export interface CsvRecord {
  /** 1-based line number where the record starts. */
  line: number;
  fields: string[];
}

/**
 * Parse CSV text. Blank lines are skipped; a quote that is never closed is an InputError naming the
 * line it opened on. A stray quote inside an unquoted field, or text after a closing quote, is kept
 * as text, as spreadsheet programs do.
 */
export function parseCsv(text: string, where: string, delimiter = ','): CsvRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const out: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let quoted = false;
  let quoteLine = 0;
  // Per field: has anything (a character or an opening quote) been read? Per record: anything at all?
  let fieldStarted = false;
  let recordStarted = false;
  const endRecord = () => {
    fields.push(field);
    if (recordStarted) out.push({ line: recordLine, fields });
    fields = [];
    field = '';
    fieldStarted = false;
    recordStarted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = recordStarted = true;
      quoteLine = line;
    } else if (c === delimiter) {
      fields.push(field);
      field = '';
      fieldStarted = false;
      recordStarted = true;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      field += c;
      fieldStarted = recordStarted = true;
    }
  }
  if (quoted) throw new InputError(`${where}:${quoteLine}`, 'a quoted CSV field is never closed');
  if (recordStarted) endRecord();
  return out;
}

export interface JsonlLine {
  line: number;
  value?: unknown;
  error?: string;
}

/** The lines of a JSON Lines text, parsed one by one so one bad line does not lose the rest. */
export function parseJsonl(text: string): JsonlLine[] {
  const out: JsonlLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i].replace(/\r$/, '');
    if (s.trim() === '') continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(s) });
    } catch (e) {
      out.push({ line: i + 1, error: `not valid JSON (${(e as Error).message})` });
    }
  }
  return out;
}
