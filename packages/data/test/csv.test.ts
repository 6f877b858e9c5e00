import { describe, expect, it } from 'vitest';
import { argmaxRow, DatasetError, parseCsv, validateDataset } from '../src/index.js';

function errorOf(text: string, options: Parameters<typeof parseCsv>[1] = {}): DatasetError {
  try {
    parseCsv(text, { fileName: 'data.csv', ...options });
  } catch (err) {
    if (err instanceof DatasetError) return err;
    throw err;
  }
  throw new Error('expected parseCsv to throw');
}

const iris = [
  'sepal,petal,species',
  '5.1,1.4,setosa',
  '7.0,4.7,versicolor',
  '6.3,6.0,virginica',
  '4.9,1.4,setosa',
  '6.4,4.5,versicolor',
].join('\n');

describe('parseCsv: good files', () => {
  it('makes string labels into sorted classes with one-hot rows', () => {
    const ds = parseCsv(iris, { fileName: 'iris.csv', testFraction: 0 });
    validateDataset(ds);
    expect(ds).toMatchObject({ name: 'csv:iris.csv', inputs: 2, outputs: 3, task: 'classification' });
    expect(ds.classes).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(ds.train.n).toBe(5);
    expect(Array.from(ds.train.x.subarray(0, 4))).toEqual([Math.fround(5.1), Math.fround(1.4), 7, Math.fround(4.7)]);
    expect([0, 1, 2, 3, 4].map((i) => argmaxRow(ds.train.y, 3, i))).toEqual([0, 1, 2, 0, 1]);
  });

  it('sorts integer labels numerically and treats them as classes', () => {
    const ds = parseCsv('a,label\n1,10\n2,2\n3,10\n4,1\n', { testFraction: 0 });
    expect(ds.task).toBe('classification');
    expect(ds.classes).toEqual(['1', '2', '10']);
  });

  it('makes a fractional numeric label a regression target', () => {
    const ds = parseCsv('x,y\n1,0.5\n2,1\n3,1.5e0\n4,2\n5,2.5\n', { label: 'y', testFraction: 0 });
    expect(ds).toMatchObject({ task: 'regression', outputs: 1 });
    expect(ds.classes).toBeUndefined();
    expect(Array.from(ds.train.y)).toEqual([0.5, 1, 1.5, 2, 2.5]);
  });

  it('lets the caller force the task', () => {
    const ds = parseCsv('x,y\n1,100\n2,200\n3,300\n', { task: 'regression', testFraction: 0 });
    expect(ds.task).toBe('regression');
  });

  it('takes a label column from anywhere, by name, and "label" by default', () => {
    const ds = parseCsv('label,a,b\ncat,1,2\ndog,3,4\n', { testFraction: 0 });
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect(Array.from(ds.train.x)).toEqual([1, 2, 3, 4]);
    const named = parseCsv('a,kind,b\n1,x,2\n3,y,4\n', { label: 'kind', testFraction: 0 });
    expect(Array.from(named.train.x)).toEqual([1, 2, 3, 4]);
  });

  it('reads quotes, CRLF, a BOM, blank lines and no final newline', () => {
    const text = '\uFEFF"a","the, label"\r\n1,"say ""hi"""\r\n\r\n2,"multi\nline"\r\n3,"say ""hi"""';
    const ds = parseCsv(text, { testFraction: 0 });
    expect(ds.classes).toEqual(['multi\nline', 'say "hi"']);
    expect(ds.train.n).toBe(3);
  });

  it('splits 80/20 by a seeded shuffle, keeping file order within each split', () => {
    const rows = Array.from({ length: 100 }, (_, i) => `${i},${i < 50 ? 'a' : 'b'}`);
    const ds = parseCsv(['i,label', ...rows].join('\n'), { seed: 3 });
    expect([ds.train.n, ds.test.n]).toEqual([80, 20]);
    const ids = (x: Float32Array) => Array.from(x);
    const all = [...ids(ds.train.x), ...ids(ds.test.x)].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(ids(ds.test.x)).toEqual([...ids(ds.test.x)].sort((a, b) => a - b));
    expect(ids(ds.test.x).some((i) => i < 50)).toBe(true); // not just the tail
    expect(parseCsv(['i,label', ...rows].join('\n'), { seed: 3 })).toEqual(ds);
    expect(ids(parseCsv(['i,label', ...rows].join('\n'), { seed: 4 }).test.x)).not.toEqual(ids(ds.test.x));
  });

  it("split 'last' holds out the final rows", () => {
    const rows = Array.from({ length: 10 }, (_, i) => `${i},${i % 2}`);
    const ds = parseCsv(['i,label', ...rows].join('\n'), { split: 'last' });
    expect(Array.from(ds.test.x)).toEqual([8, 9]);
  });
});

describe('parseCsv: bad files name file, line and column', () => {
  it('a non-number in a feature column', () => {
    const lines = ['id,age,label', ...Array.from({ length: 15 }, (_, i) => `${i},30,a`), '15,abc,b'];
    const err = errorOf(lines.join('\n'));
    expect(err.message).toBe('data.csv:17: column "age": expected a number, got "abc"');
    expect(err).toMatchObject({ code: 'CSV_VALUE', file: 'data.csv', line: 17, column: 'age' });
  });

  it('an empty feature field, and numbers JS would accept but CSV should not', () => {
    expect(errorOf('a,b,label\n1,,x\n').message).toBe('data.csv:2: column "b": expected a number, got an empty field');
    expect(errorOf('a,label\n0x10,x\n').message).toBe('data.csv:2: column "a": expected a number, got "0x10"');
    expect(errorOf('a,label\nInfinity,x\n').message).toMatch(/^data.csv:2: column "a": expected a number/);
    expect(errorOf('a,label\n1e39,x\n').message).toBe('data.csv:2: column "a": 1e39 does not fit a float32');
  });

  it('ragged rows', () => {
    expect(errorOf('a,b,label\n1,2,x\n1,2\n').message).toBe('data.csv:3: expected 3 fields like the header, got 2');
    expect(errorOf('a,b,label\n1,2,x,4\n').message).toBe('data.csv:2: expected 3 fields like the header, got 4');
  });

  it('line numbers count physical lines, through blank lines and quoted newlines', () => {
    expect(errorOf('a,label\n1,"x\ny"\n\n\nq,z\n').message).toBe('data.csv:6: column "a": expected a number, got "q"');
  });

  it('missing label column, listing the columns', () => {
    const err = errorOf('a,b,c\n1,2,3\n', { label: 'target' });
    expect(err.message).toBe('data.csv:1: no label column "target"; columns are: a, b, c');
    expect(err.code).toBe('CSV_LABEL');
  });

  it('empty file, header only, single column', () => {
    expect(errorOf('').message).toBe('data.csv: file is empty (expected a header row naming the columns)');
    expect(errorOf('\n\n').code).toBe('CSV_EMPTY');
    expect(errorOf('a,label\n').message).toBe('data.csv: no data rows after the header');
    expect(errorOf('a;b;label\n1;2;3\n').message).toMatch(/^data.csv:1: header has 1 column.*comma-separated/);
  });

  it('quoting mistakes', () => {
    expect(errorOf('a,label\n1,"open\n2,x\n').message).toBe('data.csv:2: quoted field is never closed');
    expect(errorOf('a,label\n1,ab"c\n').message).toMatch(/^data.csv:2: unexpected '"' inside an unquoted field/);
    expect(errorOf('a,label\n1,"ab"c\n').message).toMatch(/^data.csv:2: unexpected "c" after a closing quote/);
  });

  it('duplicate or empty header names', () => {
    expect(errorOf('a,a,label\n1,2,x\n').message).toBe('data.csv:1: header: column name "a" appears twice (columns 1 and 2)');
    expect(errorOf('a,,label\n1,2,x\n').message).toBe('data.csv:1: header: column 2 has no name');
  });

  it('labels: empty, single class, non-numeric for forced regression', () => {
    expect(errorOf('a,label\n1,\n').message).toBe('data.csv:2: column "label": expected a label, got an empty field');
    expect(errorOf('a,label\n1,x\n2,x\n').message).toMatch(/^data.csv: column "label": every row has the same label "x"/);
    expect(errorOf('a,label\n1,0.5\n2,high\n', { task: 'regression' }).message).toBe(
      'data.csv:3: column "label": regression needs a number, got "high"',
    );
  });

  it('too few rows for a train split', () => {
    expect(errorOf('a,label\n1,0.5\n').message).toBe('data.csv: 1 data row(s) leave none for training with testFraction 0.2');
    expect(errorOf('a,label\n1,x\n2,y\n', { testFraction: 1 }).code).toBe('BAD_ARGUMENT');
  });
});

describe('CSV tokeniser', () => {
  it('reads back any table written with RFC 4180 quoting, whatever the line ends', async () => {
    const { forEachCsvRow } = await import('../src/csv-tokenize.js');
    const fc = (await import('fast-check')).default;
    const cell = fc.string({ unit: fc.constantFrom('a', 'b', ' ', ',', '"', '\n', '1', '.', 'é') });
    fc.assert(
      fc.property(
        fc.array(fc.array(cell, { minLength: 2, maxLength: 2 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom('\n', '\r\n', '\r'),
        (table, eol) => {
          // Quote every cell (blank rows would otherwise be skipped as blank lines).
          const text = table.map((row) => row.map((c) => `"${c.replaceAll('"', '""')}"`).join(',')).join(eol);
          const back: string[][] = [];
          forEachCsvRow(text, 't.csv', (fields) => back.push(fields));
          expect(back).toEqual(table);
        },
      ),
    );
  });

  it('parses a 20,000-row file quickly', () => {
    const rows = Array.from({ length: 20000 }, (_, i) => `${Array.from({ length: 50 }, (_, k) => ((i * k) % 97) / 7).join(',')},c${i % 3}`);
    const text = [`${Array.from({ length: 50 }, (_, k) => `f${k}`).join(',')},label`, ...rows].join('\n');
    const t0 = performance.now();
    const ds = parseCsv(text);
    const ms = performance.now() - t0;
    expect(ds.train.n + ds.test.n).toBe(20000);
    expect(ds.classes).toEqual(['c0', 'c1', 'c2']);
    expect(ms).toBeLessThan(5000);
  });
});
