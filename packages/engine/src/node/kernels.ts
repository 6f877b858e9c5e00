import { setFlagsFromString } from 'node:v8';
import type { Kernels } from '@gradmesh/core';
import { tryLoadNativeKernels } from '@gradmesh/kernels-native';
import { compileKernelModule } from '@gradmesh/kernels-wasm';
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
    compileWasmOptimized();
    return { kernels: loadPortableKernels('wasm', paramCount), family: 'wasm', note: `native kernels unavailable (${r.reason}); using wasm` };
  }
  if (choice === 'wasm') compileWasmOptimized();
  return { kernels: loadPortableKernels(choice, paramCount), family: choice };
}

/** V8 flags that set how WebAssembly compiles, as the process was started with them (execArgv or NODE_OPTIONS). */
const given = (flag: string): boolean => [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a === `--${flag}` || a === `--no-${flag}`);

/**
 * Compiles the WASM kernels with V8's optimizing compiler up front, every
 * function at once, instead of its default: baseline code (Liftoff) first,
 * each hot function recompiled (TurboFan) in the background and swapped in
 * at its next call. On a machine whose cores are all computing, that
 * background job can wait seconds: 1 in 12 fresh processes here ran
 * 784-512-512-10 at 60 ms a step (Liftoff alone: 69 ms) for its first
 * ~60 steps instead of 30–35 ms. The flags are set around this one
 * compilation (a few ms for the 5 KB module) and restored after, unless the
 * process was started with its own.
 */
function compileWasmOptimized(): void {
  const lazy = !given('wasm-lazy-compilation');
  const liftoff = !given('liftoff');
  if (lazy) setFlagsFromString('--no-wasm-lazy-compilation');
  if (liftoff) setFlagsFromString('--no-liftoff');
  try {
    compileKernelModule();
  } finally {
    if (liftoff) setFlagsFromString('--liftoff');
    if (lazy) setFlagsFromString('--wasm-lazy-compilation');
  }
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
