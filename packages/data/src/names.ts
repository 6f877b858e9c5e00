/**
 * Dataset names as users type them (`--dataset spirals`, `synthetic:784x10`).
 * Generated datasets can be built anywhere from the name alone (a browser
 * worker builds its own spirals); mnist and csv need files, so they are
 * loaded by `loadDataset` in '@gradmesh/data/node' (or, in a browser, by
 * decoding the GMDS file the coordinator serves).
 */
import type { Dataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { sine } from './generators/sine.js';
import { spirals } from './generators/spirals.js';
import { synthetic } from './generators/synthetic.js';
import { xor } from './generators/xor.js';

export type DatasetSpec =
  | { kind: 'mnist' }
  | { kind: 'xor' }
  /** n: training points per class. */
  | { kind: 'spirals'; n?: number }
  | { kind: 'sine'; n?: number }
  | { kind: 'synthetic'; inputs: number; classes: number; n: number }
  | { kind: 'csv'; path: string };

export const DATASET_NAMES = 'mnist, xor, spirals[:N], sine[:N], synthetic:INPUTSxCLASSES[:N], csv:PATH';

/** Training samples of `synthetic:IxC` when N is not given. */
export const SYNTHETIC_DEFAULT_N = 10000;

function badName(name: string, why: string): never {
  throw new DatasetError('BAD_NAME', `unknown dataset ${JSON.stringify(name)}: ${why}; expected one of ${DATASET_NAMES}`);
}

function positiveInt(name: string, what: string, text: string): number {
  if (!/^[1-9]\d*$/.test(text) || !Number.isSafeInteger(Number(text))) badName(name, `${what} must be a positive integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** Parse a dataset name; throws a one-line DatasetError (code BAD_NAME) listing the allowed forms. */
export function parseDatasetName(name: string): DatasetSpec {
  const colon = name.indexOf(':');
  const kind = colon < 0 ? name : name.slice(0, colon);
  const rest = colon < 0 ? undefined : name.slice(colon + 1);
  switch (kind) {
    case 'mnist':
    case 'xor':
      if (rest !== undefined) badName(name, `${kind} takes no parameters`);
      return { kind };
    case 'spirals':
    case 'sine':
      return rest === undefined ? { kind } : { kind, n: positiveInt(name, 'N', rest) };
    case 'synthetic': {
      const m = rest === undefined ? null : /^([^:x]+)x([^:]+)(?::(.*))?$/.exec(rest);
      if (!m) badName(name, 'synthetic needs a shape like synthetic:784x10');
      const inputs = positiveInt(name, 'INPUTS', m[1]);
      const classes = positiveInt(name, 'CLASSES', m[2]);
      if (classes < 2) badName(name, 'CLASSES must be at least 2');
      const n = m[3] === undefined ? SYNTHETIC_DEFAULT_N : positiveInt(name, 'N', m[3]);
      return { kind, inputs, classes, n };
    }
    case 'csv':
      if (!rest) badName(name, 'csv needs a path, e.g. csv:data.csv');
      return { kind, path: rest };
    default:
      return badName(name, kind === '' ? 'empty name' : `no dataset kind ${JSON.stringify(kind)}`);
  }
}

export interface GenerateOptions {
  /**
   * Seed of the generated data (default 0). This is the dataset's identity,
   * not the training seed: every process must use the same one.
   */
  seed?: number;
}

/**
 * Build a generated dataset (xor, spirals, sine, synthetic) from its name.
 * Pure computation: works in browsers and worker threads.
 */
export function datasetFromName(name: string, options: GenerateOptions = {}): Dataset {
  const spec = parseDatasetName(name);
  const seed = options.seed ?? 0;
  let ds: Dataset;
  switch (spec.kind) {
    case 'xor':
      ds = xor();
      break;
    case 'spirals':
      ds = spirals({ n: spec.n, seed });
      break;
    case 'sine':
      ds = sine({ n: spec.n, seed });
      break;
    case 'synthetic':
      ds = synthetic(spec.inputs, spec.classes, spec.n, seed);
      break;
    case 'mnist':
    case 'csv':
      throw new DatasetError(
        'BAD_NAME',
        `dataset ${JSON.stringify(name)} is read from files: use loadDataset from '@gradmesh/data/node', or decodeDatasetBinary on the coordinator's GMDS file`,
      );
  }
  ds.name = name;
  return ds;
}
