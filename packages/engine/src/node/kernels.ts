import type { Kernels } from '@gradmesh/core';
import { tryLoadNativeKernels } from '@gradmesh/kernels-native';
import { loadPortableKernels, type KernelChoice } from '../kernels.js';

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
