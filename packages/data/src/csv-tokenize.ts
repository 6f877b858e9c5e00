/**
 * RFC 4180 tokeniser: calls `onRow(fields, line)` for each record, with the
 * 1-based line the record starts on. Fields may be quoted ("" is a quote
 * inside; a quoted field may span lines); LF, CRLF and lone CR end a record;
 * a UTF-8 BOM is skipped; lines holding only whitespace are skipped.
 *
 * Unquoted fields are cut with one `slice` each rather than built a character
 * at a time: this runs over every byte of the file.
 */
import { DatasetError, quote } from './errors.js';

const COMMA = 44;
const QUOTE = 34;
const LF = 10;
const CR = 13;

function syntax(file: string, line: number, message: string): never {
  throw new DatasetError('CSV_SYNTAX', `${file}:${line}: ${message}`, { file, line });
}

export function forEachCsvRow(text: string, file: string, onRow: (fields: string[], line: number) => void): void {
  const n = text.length;
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  while (i < n) {
    const rowLine = line;
    const fields: string[] = [];
    let sawQuote = false;
    // One record: fields separated by commas, up to a line end or the end of text.
    for (;;) {
      let j = i;
      let c = text.charCodeAt(j);
      while (j < n && c !== COMMA && c !== LF && c !== CR && c !== QUOTE) c = text.charCodeAt(++j);
      if (j < n && c === QUOTE) {
        if (text.slice(i, j).trim() !== '') syntax(file, line, `unexpected '"' inside an unquoted field (quote the whole field)`);
        // Quoted field: up to the closing quote; "" stands for one quote.
        sawQuote = true;
        const startLine = line;
        let value = '';
        let k = j + 1;
        for (;;) {
          const close = text.indexOf('"', k);
          if (close < 0) syntax(file, startLine, 'quoted field is never closed');
          const chunk = text.slice(k, close);
          for (let p = chunk.indexOf('\n'); p >= 0; p = chunk.indexOf('\n', p + 1)) line++;
          value += chunk;
          if (text.charCodeAt(close + 1) === QUOTE) {
            value += '"';
            k = close + 2;
            continue;
          }
          k = close + 1;
          break;
        }
        c = text.charCodeAt(k);
        if (k < n && c !== COMMA && c !== LF && c !== CR) {
          syntax(file, line, `unexpected ${quote(text[k])} after a closing quote (expected "," or end of line)`);
        }
        fields.push(value);
        j = k;
      } else {
        fields.push(text.slice(i, j));
      }
      if (j < n && c === COMMA) {
        i = j + 1;
        continue;
      }
      // Line end or end of text closes the record.
      i = j < n ? (c === CR && text.charCodeAt(j + 1) === LF ? j + 2 : j + 1) : n;
      if (j < n) line++;
      break;
    }
    if (fields.length === 1 && !sawQuote && fields[0].trim() === '') continue; // blank line
    onRow(fields, rowLine);
  }
}
