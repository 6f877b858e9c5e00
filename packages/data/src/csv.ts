/**
 * CSV → Dataset, on a string (file reading lives in the node entry point).
 *
 * Format: RFC 4180 — comma-separated, a header row naming every column,
 * fields optionally in double quotes ("" for a quote inside), LF or CRLF line
 * ends, a UTF-8 BOM ignored, blank lines skipped. Every column but the label
 * is a numeric feature. The label column (option `label`; default: a column
 * named "label", else the last column) decides the task:
 *   - every value an integer, or any value not a number → classification:
 *     one output per distinct value, class names sorted (numerically when
 *     all are integers, else by code unit) and reported in `classes`;
 *   - numbers, at least one with a fraction or exponent → regression
 *     (one output). Override with `task`.
 *
 * Split: a seeded random ⌊(1 − testFraction)·n⌋ rows train, the rest test
 * (default 20% test, seed 0), each keeping file order. A sorted file (all of
 * one class last) still gets a representative test set. `split: 'last'`
 * takes the last rows as test instead (time series).
 *
 * Any problem throws a DatasetError naming file, line and column, e.g.
 *   data.csv:17: column "age": expected a number, got "abc"
 * and nothing is returned: the dataset is built only after every row parsed.
 */
import type { Dataset, Split, Task } from './dataset.js';
import { forEachCsvRow } from './csv-tokenize.js';
import { DatasetError, quote } from './errors.js';
import { permutation, streamRng } from './rng.js';

export interface CsvOptions {
  /** Label column name (default: "label" if present, else the last column). */
  label?: string;
  /** Used in error messages and the dataset name (default "csv"). */
  fileName?: string;
  /** Force the task instead of inferring it from the label values. */
  task?: Task;
  /** Fraction of rows held out as test, in [0, 1) (default 0.2). */
  testFraction?: number;
  /** 'seeded' (default): random rows by `seed`; 'last': the final rows. */
  split?: 'seeded' | 'last';
  seed?: number;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;
const SPLIT_STREAM = 0x43535653; // "CSVS"

function fail(code: 'CSV_VALUE' | 'CSV_LABEL' | 'CSV_SYNTAX' | 'CSV_EMPTY', file: string, line: number | undefined, message: string, column?: string): never {
  const where = line === undefined ? file : `${file}:${line}`;
  const what = column === undefined ? message : `column ${quote(column)}: ${message}`;
  throw new DatasetError(code, `${where}: ${what}`, { file, line, column });
}

export function parseCsv(text: string, options: CsvOptions = {}): Dataset {
  const file = options.fileName ?? 'csv';
  const testFraction = options.testFraction ?? 0.2;
  const seed = options.seed ?? 0;
  if (!(testFraction >= 0 && testFraction < 1)) {
    throw new DatasetError('BAD_ARGUMENT', `${file}: testFraction must be in [0, 1), got ${testFraction}`);
  }
  let names: string[] | undefined;
  let labelName = '';
  let labelCol = -1;
  let inputs = 0;
  let n = 0;
  // Features go straight into a growing Float32Array: a large file is never
  // held as millions of field strings at once. Only labels stay as text.
  let x = new Float32Array(1024);
  const rawLabels: string[] = [];
  const labelLines: number[] = [];

  forEachCsvRow(text, file, (fields, line) => {
    if (!names) {
      names = header(fields, line, file);
      labelName = options.label ?? (names.includes('label') ? 'label' : names[names.length - 1]);
      labelCol = names.indexOf(labelName);
      if (labelCol < 0) {
        fail('CSV_LABEL', file, line, `no label column ${quote(labelName)}; columns are: ${names.join(', ')}`);
      }
      inputs = names.length - 1;
      return;
    }
    if (fields.length !== names.length) {
      fail('CSV_SYNTAX', file, line, `expected ${names.length} fields like the header, got ${fields.length}`);
    }
    if ((n + 1) * inputs > x.length) {
      const grown = new Float32Array(Math.max(2 * x.length, (n + 1) * inputs));
      grown.set(x);
      x = grown;
    }
    let k = n * inputs;
    for (let c = 0; c < fields.length; c++) {
      const value = fields[c].trim();
      if (c === labelCol) {
        if (value === '') fail('CSV_LABEL', file, line, 'expected a label, got an empty field', names[c]);
        rawLabels.push(value);
        labelLines.push(line);
        continue;
      }
      if (!NUMBER.test(value)) {
        fail('CSV_VALUE', file, line, value === '' ? 'expected a number, got an empty field' : `expected a number, got ${quote(value)}`, names[c]);
      }
      const v = Number(value);
      if (!Number.isFinite(Math.fround(v))) fail('CSV_VALUE', file, line, `${value} does not fit a float32`, names[c]);
      x[k++] = v;
    }
    n++;
  });
  if (!names) fail('CSV_EMPTY', file, undefined, 'file is empty (expected a header row naming the columns)');
  if (n === 0) fail('CSV_EMPTY', file, undefined, 'no data rows after the header');

  const allNumbers = rawLabels.every((v) => NUMBER.test(v));
  const allIntegers = allNumbers && rawLabels.every((v) => INTEGER.test(v));
  const task: Task = options.task ?? (allNumbers && !allIntegers ? 'regression' : 'classification');
  let outputs: number;
  let y: Float32Array;
  let classes: string[] | undefined;
  if (task === 'regression') {
    const bad = rawLabels.findIndex((v) => !NUMBER.test(v));
    if (bad >= 0) fail('CSV_LABEL', file, labelLines[bad], `regression needs a number, got ${quote(rawLabels[bad])}`, labelName);
    const huge = rawLabels.findIndex((v) => !Number.isFinite(Math.fround(Number(v))));
    if (huge >= 0) fail('CSV_LABEL', file, labelLines[huge], `${rawLabels[huge]} does not fit a float32`, labelName);
    outputs = 1;
    y = Float32Array.from(rawLabels, Number);
  } else {
    const distinct = [...new Set(rawLabels)];
    classes = allIntegers
      ? distinct.sort((a, b) => Number(a) - Number(b) || (a < b ? -1 : a > b ? 1 : 0))
      : distinct.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (classes.length < 2) {
      fail('CSV_LABEL', file, undefined, `every row has the same label ${quote(classes[0])}; classification needs at least 2 classes`, labelName);
    }
    outputs = classes.length;
    const index = new Map(classes.map((c, j) => [c, j]));
    y = new Float32Array(n * outputs);
    for (let r = 0; r < n; r++) y[r * outputs + index.get(rawLabels[r])!] = 1;
  }

  const nTrain = Math.floor(n * (1 - testFraction));
  if (nTrain < 1) fail('CSV_EMPTY', file, undefined, `${n} data row(s) leave none for training with testFraction ${testFraction}`);
  const isTest = new Uint8Array(n);
  if (options.split === 'last') {
    isTest.fill(1, nTrain);
  } else {
    const perm = permutation(n, streamRng(seed, SPLIT_STREAM));
    for (let i = nTrain; i < n; i++) isTest[perm[i]] = 1;
  }
  const take = (wantTest: number, count: number): Split => {
    const sx = new Float32Array(count * inputs);
    const sy = new Float32Array(count * outputs);
    let k = 0;
    for (let r = 0; r < n; r++) {
      if (isTest[r] !== wantTest) continue;
      sx.set(x.subarray(r * inputs, (r + 1) * inputs), k * inputs);
      sy.set(y.subarray(r * outputs, (r + 1) * outputs), k * outputs);
      k++;
    }
    return { n: count, x: sx, y: sy };
  };
  const ds: Dataset = {
    name: `csv:${file}`,
    inputs,
    outputs,
    task,
    train: take(0, nTrain),
    test: take(1, n - nTrain),
  };
  if (classes) ds.classes = classes;
  return ds;
}

function header(fields: string[], line: number, file: string): string[] {
  const names = fields.map((f) => f.trim());
  names.forEach((name, c) => {
    if (name === '') fail('CSV_SYNTAX', file, line, `header: column ${c + 1} has no name`);
    const first = names.indexOf(name);
    if (first !== c) fail('CSV_SYNTAX', file, line, `header: column name ${quote(name)} appears twice (columns ${first + 1} and ${c + 1})`);
  });
  if (names.length < 2) {
    fail('CSV_SYNTAX', file, line, `header has ${names.length} column; need at least one feature and a label (is the file comma-separated?)`);
  }
  return names;
}
