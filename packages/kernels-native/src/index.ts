import { createRequire } from 'node:module';
import type { Kernels } from '@gradmesh/core';

/** Instruction sets the addon has kernels for, fastest first. */
export type NativeIsa = 'avx512' | 'avx2' | 'generic';

export interface NativeKernels extends Kernels {
  /** The kernel set in use; part of `name` too (`native-avx512`). */
  readonly isa: NativeIsa;
  /** True when x[0..length) holds no NaN or ±Infinity (one SIMD pass; for input checks, not part of Kernels). */
  readonly allFinite?: (length: number, x: Float32Array) => boolean;
}

export interface NativeLoadOptions {
  /**
   * Force an instruction set (default: the env var GRADMESH_NATIVE_ISA, else
   * the best one this CPU runs). Forcing one the CPU lacks is a load failure.
   */
  isa?: NativeIsa;
}

export type NativeLoadResult =
  | { kernels: NativeKernels; reason: null }
  | { kernels: null; reason: string };

type GemmFn = Kernels['gemm'];
interface Addon {
  isas: NativeIsa[];
  [fn: `gemm_${string}`]: GemmFn | undefined;
  [fn: `relu_${string}`]: Kernels['relu'];
  [fn: `reluBackwardColSums_${string}`]: Kernels['reluBackwardColSums'];
  [fn: `axpy_${string}`]: Kernels['axpy'];
  [fn: `gemmTnBlocks_${string}`]: Kernels['gemmTnBlocks'];
  [fn: `allFinite_${string}`]: ((length: number, x: Float32Array) => boolean) | undefined;
  [fn: `momentum_${string}`]: Kernels['momentum'];
  [fn: `adam_${string}`]: Kernels['adam'];
}

const ISAS: readonly NativeIsa[] = ['avx512', 'avx2', 'generic'];
// Relative to src/ and to dist/ alike, so source and built JS find the addon.
const ADDON_PATH = '../build/Release/gradmesh_kernels.node';

let addon: Addon | null = null;
let addonError: string | null = null;

function loadAddon(): Addon | null {
  if (addon || addonError) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    addonError = `addon not built or not loadable (${why}); run \`pnpm --filter @gradmesh/kernels-native build:native\``;
  }
  return addon;
}

/**
 * Native gemm kernels, or null with the reason they are unavailable (addon
 * not built at install, unsupported platform, forced ISA not supported).
 */
export function tryLoadNativeKernels(options: NativeLoadOptions = {}): NativeLoadResult {
  const lib = loadAddon();
  if (!lib) return { kernels: null, reason: addonError ?? 'addon not loadable' };

  const forced = options.isa ?? readEnvIsa();
  if (forced !== undefined && !ISAS.includes(forced)) {
    return { kernels: null, reason: `unknown ISA "${forced}" (expected one of ${ISAS.join(', ')})` };
  }
  const isa = forced ?? lib.isas[0];
  const gemm = isa === undefined ? undefined : lib[`gemm_${isa}`];
  if (isa === undefined || !gemm) {
    return {
      kernels: null,
      reason: `this CPU cannot run the ${isa} kernels (supported: ${lib.isas.join(', ')})`,
    };
  }
  const kernels: NativeKernels = {
    name: `native-${isa}`,
    isa,
    alloc: (length: number) => new Float32Array(length),
    // The addon function itself: no JS wrapper between the caller and N-API.
    // It validates arguments and throws TypeError/RangeError with a code.
    gemm,
    // core's optional element-wise passes, the same bits as its JS loops on
    // every ISA (csrc/elementwise.inc); absent from an addon built before them.
    relu: lib[`relu_${isa}`],
    reluBackwardColSums: lib[`reluBackwardColSums_${isa}`],
    axpy: lib[`axpy_${isa}`],
    // Block plans fused into the weight-gradient gemm (csrc/driver.inc).
    gemmTnBlocks: lib[`gemmTnBlocks_${isa}`],
    allFinite: lib[`allFinite_${isa}`],
    momentum: lib[`momentum_${isa}`],
    adam: lib[`adam_${isa}`],
  };
  return { kernels, reason: null };
}

/** Native kernels, or null when unavailable (see `tryLoadNativeKernels` for why). */
export function loadNativeKernels(options: NativeLoadOptions = {}): NativeKernels | null {
  return tryLoadNativeKernels(options).kernels;
}

/** ISAs the addon can run on this CPU, best first; empty when it is not built. */
export function nativeIsas(): NativeIsa[] {
  return loadAddon()?.isas.slice() ?? [];
}

function readEnvIsa(): NativeIsa | undefined {
  const v = typeof process === 'undefined' ? undefined : process.env.GRADMESH_NATIVE_ISA;
  return v ? (v.toLowerCase() as NativeIsa) : undefined;
}
