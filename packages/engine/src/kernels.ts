import { jsKernels, type Kernels } from '@gradmesh/core';
import { createWasmKernels } from '@gradmesh/kernels-wasm';

/**
 * Kernel families. Within a family every member gives the same bits:
 * `wasm` (WebAssembly SIMD in Node and browsers, and the native addon's
 * portable build) — the default, so any mix of Node workers and browsers
 * computes identical gradients; `native` (AVX2/AVX-512 via a Node addon) —
 * the fastest, Node only, different last bits; `js` — the reference.
 */
export const KERNEL_CHOICES = ['wasm', 'native', 'js', 'auto'] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

/**
 * Reserve WASM memory for what one model needs: parameters, a handful of
 * gradient buffers for the reduction tree, activations. (WASM memory cannot
 * grow once views into it exist.)
 */
export function wasmMiBFor(paramCount: number): number {
  return Math.ceil((paramCount * 4 * 24) / 2 ** 20) + 64;
}

/** The isomorphic part: js and wasm (a browser's choices). */
export function loadPortableKernels(choice: 'js' | 'wasm', paramCount: number): Kernels {
  return choice === 'js' ? jsKernels : createWasmKernels({ initialMiB: wasmMiBFor(paramCount) });
}
