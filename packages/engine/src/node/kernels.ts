import type { Kernels } from '@gradmesh/core';
import { tryLoadNativeKernels } from '@gradmesh/kernels-native';
import { loadPortableKernels, type KernelChoice } from '../kernels.js';
import { kernelAdd, type AddFn } from '../tree.js';

export interface LoadedKernels {
  kernels: Kernels;
  /** The family actually used: what a run must name so workers compute the same bits. */
  family: 'js' | 'wasm' | 'native';
  /** Why the choice fell back, if it did. */
  note?: string;
}

/** Resolves --kernels: `auto` is the fastest that loads (native, else wasm); `native` fails with the reason when the addon is missing. */
export function loadKernels(choice: KernelChoice, paramCount: number): LoadedKernels {
  if (choice === 'native' || choice === 'auto') {
    const r = tryLoadNativeKernels();
    if (r.kernels) return { kernels: r.kernels, family: 'native' };
    if (choice === 'native') throw new Error(`native kernels unavailable: ${r.reason}`);
    return { kernels: loadPortableKernels('wasm', paramCount), family: 'wasm', note: `native kernels unavailable (${r.reason}); using wasm` };
  }
  return { kernels: loadPortableKernels(choice, paramCount), family: choice };
}

/**
 * The fastest AddFn this process has for buffers anywhere in memory: the
 * native addon's axpy when it loads, the JS loop otherwise. Either gives the
 * bits of every other AddFn (see tree.ts), so it serves any kernel family.
 */
export function nodeAdd(): AddFn {
  return kernelAdd(tryLoadNativeKernels().kernels ?? undefined);
}

/**
 * Kernels for the optimizer step on a plain Float32Array: the native addon's
 * when it loads (its axpy gives the bits of every other kernel set's, see
 * core's Kernels), else `fallback`. WASM kernels would copy the parameters in
 * and out of their memory on every step.
 */
export function updateKernels(fallback: Kernels): Kernels {
  return tryLoadNativeKernels().kernels ?? fallback;
}

/**
 * The fastest "no NaN or ±Infinity" check this process has: the native
 * addon's SIMD pass when it loads (~10× the JS loop), else `fallback`.
 */
export function nodeAllFinite(fallback: (x: Float32Array) => boolean): (x: Float32Array) => boolean {
  const check = tryLoadNativeKernels().kernels?.allFinite;
  return check === undefined ? fallback : (x) => check(x.length, x);
}
