// GFLOP/s of the native kernels on the training shapes, and samples/s
// estimates. Run: node --conditions=@gradmesh/source --import tsx bench/gemm.ts [isa…]
// The machine is shared: numbers are medians and still noisy.
// The harness is shared with the WASM benchmarks (@gradmesh/core/test-kit).
import { nativeIsas, tryLoadNativeKernels, type NativeIsa } from '../src/index.js';
import { benchKernels, cpuClock } from '@gradmesh/core/test-kit/gemm-bench';

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('--')) as NativeIsa[];
const isas = wanted.length ? wanted : nativeIsas();
if (!isas.length) {
  console.error(tryLoadNativeKernels().reason);
  process.exit(1);
}
for (const isa of isas) {
  const r = tryLoadNativeKernels({ isa });
  if (!r.kernels) {
    console.error(`${isa}: ${r.reason}`);
    continue;
  }
  benchKernels(r.kernels, { clock: process.argv.includes('--wall') ? undefined : cpuClock() });
}
