// GFLOP/s of the WASM SIMD128 kernels on the training shapes, and samples/s
// estimates. Run: node --conditions=@gradmesh/source --import tsx bench/gemm.ts
// The machine is shared: numbers are medians and still noisy.
import { createWasmKernels } from '../src/index.js';
import { benchKernels, cpuClock } from '@gradmesh/core/test-kit/gemm-bench';

benchKernels(createWasmKernels(), { clock: process.argv.includes('--wall') ? undefined : cpuClock() });
