import { readFile } from 'node:fs/promises';
import { parseCsv, type CsvOptions } from '../csv.js';
import type { Dataset } from '../dataset.js';
import { DatasetError } from '../errors.js';
import { datasetFromName, parseDatasetName, type GenerateOptions } from '../names.js';
import { loadMnist, type MnistOptions } from './mnist.js';

/** Read and parse a CSV file (see parseCsv for the format and split). */
export async function loadCsv(path: string, options: Omit<CsvOptions, 'fileName'> = {}): Promise<Dataset> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DatasetError('IO', `${path}: cannot read file: ${(err as Error).message}`, { file: path }, { cause: err });
  }
  return parseCsv(text, { ...options, fileName: path });
}

export interface LoadOptions extends GenerateOptions, MnistOptions, Omit<CsvOptions, 'fileName' | 'seed'> {}

/**
 * Load a dataset by name: mnist, xor, spirals[:N], sine[:N],
 * synthetic:INPUTSxCLASSES[:N], csv:PATH (PATH relative to the working
 * directory; options.label names its label column). `seed` seeds generated
 * data and the CSV train/test split (default 0).
 */
export async function loadDataset(name: string, options: LoadOptions = {}): Promise<Dataset> {
  const spec = parseDatasetName(name);
  switch (spec.kind) {
    case 'mnist':
      return loadMnist({ cacheFile: options.cacheFile });
    case 'csv': {
      const ds = await loadCsv(spec.path, options);
      ds.name = name;
      return ds;
    }
    default:
      return datasetFromName(name, { seed: options.seed });
  }
}
