import { readFileSync } from 'node:fs';
import { createModel, decodeModel } from '@gradmesh/core';
import { parseCsv } from '@gradmesh/data';
import { z } from 'zod';
import { flag, helpText, parseFlags, type Options } from '../flags.js';
import { evaluateSplit } from '../evaluate.js';
import { RunError, UsageError } from '../errors.js';
import { loadDatasetOrUsage } from './train.js';

const options: Options = {
  model: { type: 'string', valueName: 'FILE', help: 'a model saved by gradmesh train --save (required)' },
  dataset: { type: 'string', valueName: 'NAME', help: 'evaluate on this dataset (as in gradmesh train)' },
  label: { type: 'string', valueName: 'COLUMN', help: 'label column for csv: datasets' },
  split: { type: 'string', valueName: 'test|train', help: 'which split to evaluate (default test)' },
  input: { type: 'string', valueName: 'FILE.csv', help: 'print one prediction per row of this CSV (feature columns only, header row)' },
  json: { type: 'boolean', help: 'print results as JSON' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const predictHelp = helpText(
  'usage: gradmesh predict --model FILE (--dataset NAME [--split test|train] | --input FILE.csv)',
  'Evaluates a saved model on a dataset split (accuracy and loss), or predicts each row of a CSV file.',
  options,
);

export async function predictCommand(argv: string[]): Promise<number> {
  const v = parseFlags(argv, options);
  if (v.help) {
    process.stdout.write(predictHelp);
    return 0;
  }
  if (typeof v.model !== 'string') throw new UsageError('--model FILE is required (a model saved with gradmesh train --save)');
  if ((v.dataset === undefined) === (v.input === undefined)) throw new UsageError('give exactly one of --dataset NAME or --input FILE.csv');
  let saved;
  try {
    saved = decodeModel(new Uint8Array(readFileSync(v.model)));
  } catch (err) {
    throw new RunError(`--model: cannot load ${v.model}: ${(err as Error).message.split('\n')[0]}`);
  }
  const model = createModel(saved.spec);
  const meta = saved.meta as { config?: { dataset?: string }; classes?: string[] } | undefined;
  if (typeof v.dataset === 'string') {
    const split = flag('split', (v.split as string | undefined) ?? 'test', z.enum(['test', 'train']), 'test|train');
    const ds = await loadDatasetOrUsage(v.dataset, v.label as string | undefined);
    if (ds.inputs !== model.inputs || ds.outputs !== model.outputs) {
      throw new UsageError(`--dataset: ${ds.name} has ${ds.inputs} inputs and ${ds.outputs} outputs; the model expects ${model.inputs} and ${model.outputs}`);
    }
    const r = evaluateSplit(model, saved.params, ds[split]);
    const out = { dataset: ds.name, split, samples: ds[split].n, loss: r.loss, accuracy: ds.task === 'classification' ? r.accuracy : null };
    if (v.json) process.stdout.write(`${JSON.stringify(out)}\n`);
    else process.stdout.write(`${ds.name} ${split}: ${out.samples} samples, loss ${r.loss.toFixed(4)}${out.accuracy === null ? '' : `, accuracy ${(100 * r.accuracy).toFixed(2)}%`}\n`);
    return 0;
  }
  const file = v.input as string;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RunError(`--input: cannot read ${file}: ${(err as Error).message}`);
  }
  // Parse features with the same validating CSV reader: a dummy label column lets it check every value.
  const lines = text.split(/\r?\n/);
  const withLabel = lines.map((l, i) => (l.trim() === '' ? l : i === 0 ? `${l},__gradmesh_row` : `${l},0`)).join('\n');
  let ds;
  try {
    ds = parseCsv(withLabel, { label: '__gradmesh_row', fileName: file, task: 'regression', testFraction: 0 });
  } catch (err) {
    throw new RunError((err as Error).message);
  }
  if (ds.inputs !== model.inputs) throw new UsageError(`--input: ${file} has ${ds.inputs} feature columns; the model expects ${model.inputs}`);
  const out = model.predict(saved.params, ds.train.x, ds.train.n);
  const classes = meta?.classes;
  const rows: string[] = [];
  for (let i = 0; i < ds.train.n; i++) {
    const row = out.subarray(i * model.outputs, (i + 1) * model.outputs);
    if (model.outputs > 1) {
      let best = 0;
      for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
      rows.push(v.json ? JSON.stringify({ row: i + 1, class: classes?.[best] ?? best, probabilities: Array.from(row) }) : `${classes?.[best] ?? best}`);
    } else rows.push(v.json ? JSON.stringify({ row: i + 1, value: row[0] }) : `${row[0]}`);
  }
  process.stdout.write(`${rows.join('\n')}\n`);
  return 0;
}
