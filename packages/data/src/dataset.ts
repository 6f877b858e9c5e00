import { DatasetError } from './errors.js';

/** One split of a dataset: n samples stored row-major. */
export interface Split {
  n: number;
  /** n × inputs, row-major. */
  x: Float32Array;
  /** n × outputs, row-major; one-hot rows for classification. */
  y: Float32Array;
}

export type Task = 'classification' | 'regression';

export interface Dataset {
  /**
   * The registry name it was loaded as (`mnist`, `spirals:200`, `csv:a.csv`);
   * with the same options and seed, loading that name gives the same data.
   */
  name: string;
  inputs: number;
  outputs: number;
  task: Task;
  /** Class names, index = output column (classification only). */
  classes?: string[];
  train: Split;
  test: Split;
}

/**
 * Copy rows `indices` of `split` into the batch buffers: row i of the batch is
 * sample indices[i]. The buffers must hold at least indices.length rows; any
 * rows past that are left untouched.
 *
 * Hot path (runs once per shard per step): one typed-array `set` per row is a
 * memcpy, several times faster than an element loop for MNIST-sized rows.
 */
export function gatherBatch(
  split: Split,
  indices: ArrayLike<number>,
  xOut: Float32Array,
  yOut: Float32Array,
): void {
  const count = indices.length;
  if (count === 0) return;
  const inputs = split.x.length / split.n;
  const outputs = split.y.length / split.n;
  if (xOut.length < count * inputs || yOut.length < count * outputs) {
    throw new DatasetError(
      'BAD_ARGUMENT',
      `gatherBatch: buffers hold ${xOut.length / inputs | 0} x-rows and ${yOut.length / outputs | 0} y-rows, need ${count}`,
    );
  }
  const { x, y, n } = split;
  for (let i = 0; i < count; i++) {
    const r = indices[i];
    if (!(r >= 0 && r < n && Number.isInteger(r))) {
      throw new DatasetError('BAD_ARGUMENT', `gatherBatch: index ${r} at position ${i} is outside 0..${n - 1}`);
    }
    xOut.set(x.subarray(r * inputs, r * inputs + inputs), i * inputs);
    yOut.set(y.subarray(r * outputs, r * outputs + outputs), i * outputs);
  }
}

/** Index of the largest entry of row `row` (the class of a one-hot label). */
export function argmaxRow(values: Float32Array, width: number, row: number): number {
  let best = 0;
  let bestValue = values[row * width];
  for (let j = 1; j < width; j++) {
    const v = values[row * width + j];
    if (v > bestValue) {
      bestValue = v;
      best = j;
    }
  }
  return best;
}

/**
 * Check a dataset's shapes agree (array lengths, class count, one-hot rows).
 * Throws a DatasetError naming the first inconsistency.
 */
export function validateDataset(ds: Dataset): void {
  const fail = (what: string): never => {
    throw new DatasetError('BAD_ARGUMENT', `dataset "${ds.name}": ${what}`);
  };
  if (!(Number.isInteger(ds.inputs) && ds.inputs > 0)) fail(`inputs must be a positive integer, got ${ds.inputs}`);
  if (!(Number.isInteger(ds.outputs) && ds.outputs > 0)) fail(`outputs must be a positive integer, got ${ds.outputs}`);
  if (ds.task !== 'classification' && ds.task !== 'regression') fail(`unknown task ${String(ds.task)}`);
  if (ds.task === 'classification') {
    if (!ds.classes) fail('classification needs class names');
    else if (ds.classes.length !== ds.outputs) fail(`${ds.classes.length} class names for ${ds.outputs} outputs`);
  }
  for (const [label, s] of [['train', ds.train], ['test', ds.test]] as const) {
    if (!(Number.isInteger(s.n) && s.n >= 0)) fail(`${label}.n must be a non-negative integer, got ${s.n}`);
    if (s.x.length !== s.n * ds.inputs) fail(`${label}.x has ${s.x.length} values, expected ${s.n}×${ds.inputs}`);
    if (s.y.length !== s.n * ds.outputs) fail(`${label}.y has ${s.y.length} values, expected ${s.n}×${ds.outputs}`);
  }
}

/** Build a classification split's one-hot y from class indices. */
export function oneHot(labels: ArrayLike<number>, classes: number): Float32Array {
  const y = new Float32Array(labels.length * classes);
  for (let i = 0; i < labels.length; i++) y[i * classes + labels[i]] = 1;
  return y;
}
