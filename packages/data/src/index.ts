// @gradmesh/data — isomorphic entry point: no `node:` imports, no DOM globals.
// File access (MNIST cache, CSV files) lives in '@gradmesh/data/node'.
export type { Dataset, Split, Task } from './dataset.js';
export { gatherBatch, argmaxRow, validateDataset, oneHot } from './dataset.js';
export { DatasetError, type DatasetErrorCode, type DatasetErrorDetails } from './errors.js';
export { xor } from './generators/xor.js';
export { spirals, type SpiralsOptions } from './generators/spirals.js';
export { sine, type SineOptions } from './generators/sine.js';
export { synthetic } from './generators/synthetic.js';
export { parseCsv, type CsvOptions } from './csv.js';
export { encodeDatasetBinary, decodeDatasetBinary, GMDS_VERSION } from './binary.js';
export {
  parseDatasetName,
  datasetFromName,
  DATASET_NAMES,
  SYNTHETIC_DEFAULT_N,
  type DatasetSpec,
  type GenerateOptions,
} from './names.js';
export {
  epochPermutation,
  stepsPerEpoch,
  batchIndices,
  splitShards,
  splitShardsAligned,
  splitWithFloor,
  evenUnlessSlower,
  EVEN_SLACK,
  medianOf,
  type BatchAt,
  type Shard,
} from './batching.js';
