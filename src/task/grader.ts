// The grader behind the paper's reported numbers (recipe §6), reproduced rule for rule so that an
// accuracy in the lab means what it means in the paper. The released code is Python; where Python
// and JavaScript regular expressions differ, the Python meaning is kept: `.` (without DOTALL) stops
// only at '\n' (JavaScript's also stops at '\r', U+2028, U+2029), and `\s` / str.strip() use
// Python's whitespace set (JavaScript's lacks U+001C-U+001F and U+0085 and adds U+FEFF).

/** Python's str.isspace() characters, as a regex character-class body. */
export const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');

/** Python's str.strip() with no arguments. */
export const pyStrip = (s: string) => s.replace(STRIP, '');

const ANSWER_BLOCK = /<answer>([\s\S]*?)<\/answer>/g;

// Tried in order; each takes its last match. `[^\n]` is Python's `.`; the `\s*` before it may cross
// line breaks, as in Python ("Answer:\nB" gives "B").
const FALLBACKS = [
  new RegExp(`answer:[${PY_WS}]*([^\\n]*)`, 'gi'),
  new RegExp(`answer is:[${PY_WS}]*([^\\n]*)`, 'gi'),
  new RegExp(`answer is[${PY_WS}]*([^\\n]*)`, 'gi'),
  new RegExp(`is:[${PY_WS}]*([^\\n]*)`, 'gi'),
];

const TAGS = ['<think>', '</think>', '<answer>', '</answer>'];

type AnswerSource = 'answer block' | 'fallback' | 'whole response';

/** What extractAnswer reads, where it found it, and where the last closed <answer> block ends (0: none). */
function readAnswer(response: string): { extracted: string; source: AnswerSource; lastClose: number } {
  const blocks = [...response.matchAll(ANSWER_BLOCK)];
  let text = response;
  let source: AnswerSource = 'whole response';
  let lastClose = 0;
  if (blocks.length > 0) {
    const last = blocks[blocks.length - 1];
    text = last[1].split('\n').find((line) => pyStrip(line) !== '') ?? '';
    source = 'answer block';
    lastClose = last.index! + last[0].length;
  } else {
    for (const re of FALLBACKS) {
      const ms = [...response.matchAll(re)];
      if (ms.length > 0) {
        text = ms[ms.length - 1][1];
        source = 'fallback';
        break;
      }
    }
  }
  for (const t of TAGS) text = text.split(t).join('');
  return { extracted: pyStrip(text), source, lastClose };
}

/**
 * The answer text the grader reads from a response: the last <answer>...</answer> block (may span
 * lines) and its first non-empty line; with no block, the last match of the first fallback pattern
 * that matches anywhere, else the whole response; then the four tags removed and the ends stripped.
 */
export function extractAnswer(response: string): string {
  return readAnswer(response).extracted;
}

/** Whether an extracted answer names option `letter` with text `text`: the letter, "L. text" or the text. */
export function answerMatches(extracted: string, letter: string, text: string): boolean {
  const p = pyStrip(extracted).toLowerCase();
  return p === pyStrip(letter).toLowerCase() || p === pyStrip(`${letter}. ${text}`).toLowerCase() || p === pyStrip(text).toLowerCase();
}

export interface Grade {
  extracted: string;
  /** The first option (in the options' order) the answer matches, or null. */
  predLetter: string | null;
  correct: boolean;
}

/** Grade one response against a multiple-choice item (recipe §6). */
export function gradeAnswer(response: string, options: Record<string, string>, answerLabel: string, answer?: string): Grade {
  return gradeExtracted(extractAnswer(response), options, answerLabel, answer);
}

function gradeExtracted(extracted: string, options: Record<string, string>, answerLabel: string, answer?: string): Grade {
  const gold = answer ?? options[answerLabel] ?? '';
  let predLetter: string | null = null;
  for (const [letter, text] of Object.entries(options)) {
    if (answerMatches(extracted, letter, text)) {
      predLetter = letter;
      break;
    }
  }
  return { extracted, predLetter, correct: answerMatches(extracted, answerLabel, gold) };
}

/** What the grader read and, for a response that scored 0, why: what the UI shows beside a record. */
export interface GradeExplained extends Grade {
  /** Where the extracted text came from. */
  source: AnswerSource;
  /** An `<answer>` that is opened after the last closed block and never closed. */
  unclosed: boolean;
  /** Why the response scored 0, in words; null when it is correct (or there is no gold to compare with). */
  why: string | null;
}

const quote = (s: string) => `«${s.length > 40 ? `${s.slice(0, 39)}…` : s}»`;

/**
 * gradeAnswer with its reasons. `answerLabel` '' (a question without a gold answer, as in Ask)
 * explains only how the answer was read.
 */
export function explainGrade(response: string, options: Record<string, string>, answerLabel: string, answer?: string): GradeExplained {
  const { extracted, source, lastClose } = readAnswer(response);
  const g = gradeExtracted(extracted, options, answerLabel, answer);
  const unclosed = response.indexOf('<answer>', lastClose) >= 0;
  let why: string | null = null;
  const graded = answerLabel !== '';
  if (graded ? !g.correct : unclosed || g.predLetter === null) {
    const read =
      source === 'answer block'
        ? `the last <answer> block reads ${quote(g.extracted)}`
        : source === 'fallback'
          ? `with no closed <answer> block the grader read the text after "answer", ${quote(g.extracted)}`
          : `with no closed <answer> block the grader read the whole response`;
    const lead = unclosed ? `<answer> is never closed: ${read}` : read;
    if (g.extracted === '') why = `${lead}: it is empty`;
    else if (g.predLetter === null) why = `${lead}, which matches no option${source === 'whole response' ? '' : ' (a letter, "L. text" or an option\'s text)'}`;
    else why = graded ? `${lead}, which is option ${g.predLetter}; the gold answer is ${answerLabel}` : lead;
  }
  return { ...g, source, unclosed, why };
}
