// @gradmesh/data/node — Node-only: reading files and the MNIST cache.
export { loadDataset, loadCsv, type LoadOptions } from './load.js';
export {
  loadMnist,
  buildMnistFromJson,
  buildMnistBinary,
  writeFileAtomic,
  MNIST_CACHE_FILE,
  MNIST_INPUTS,
  MNIST_SIDE,
  MNIST_TRAIN_FRACTION,
  type MnistOptions,
} from './mnist.js';
