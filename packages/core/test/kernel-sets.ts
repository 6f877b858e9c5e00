/**
 * The kernel sets core's correctness suite runs over (issue 8: the same
 * finite-difference, TensorFlow.js-oracle and shard-additivity tests for
 * every kernel set): the JS reference, WASM SIMD128 and the native addon's
 * best ISA here, when it loads (skipped with the printed reason otherwise).
 *
 * Tolerances differ because the gemms do: the JS kernels sum in double and
 * round once, the WASM and native ones keep one float32 accumulator per
 * element (k roundings, ~k·2⁻²⁴ relative before any cancellation).
 * `gradRelError` bounds gradCheck's relative error against float64 central
 * differences (floor 1e-3 of the largest gradient); `lossRelError` the
 * model's loss against the float64 reference loss. Measured worst cases (the
 * data are seeded, so these are exact) are in the comments: all three are
 * dominated by a component that cancels, where float32 rounding of the
 * activations matters as much as the gemm's; the float32 sets get 5× their
 * worst case, the JS set keeps its original bound. The shard-additivity and
 * TensorFlow.js-oracle bounds are the same for every set (see those tests).
 */
import { jsKernels, type Kernels } from '@gradmesh/core';
import { createWasmKernels } from '@gradmesh/kernels-wasm';
import { tryLoadNativeKernels } from '@gradmesh/kernels-native';

export interface KernelSet {
  name: string;
  make: () => Kernels;
  gradRelError: number;
  lossRelError: number;
}

export const KERNEL_SETS: KernelSet[] = [
  // worst: gradient 3.0e-5 (identity → relu/mse_sum), loss 6.3e-8
  { name: 'js', make: () => jsKernels, gradRelError: 1e-4, lossRelError: 1e-5 },
  // worst: gradient 3.2e-5 (tanh → softmax/softmax_xent), loss 1.3e-7
  { name: 'wasm-simd128', make: () => createWasmKernels({ initialMiB: 16 }), gradRelError: 2e-4, lossRelError: 1e-5 },
];

const native = tryLoadNativeKernels();
if (native.kernels) {
  const isa = native.kernels.isa;
  // native-avx2 worst: gradient 3.9e-5 (softmax → softmax/mse_sum), loss 1.4e-7
  KERNEL_SETS.push({ name: native.kernels.name, make: () => tryLoadNativeKernels({ isa }).kernels!, gradRelError: 2e-4, lossRelError: 1e-5 });
} else {
  console.log(`core tests: native kernels skipped: ${native.reason}`);
}
