/**
 * The kernel sets gradmesh can run on here. JS always; WASM through the
 * engine's loader, as the CLI and the workers get them; native when its
 * package loads (found by path, so the bench says why it is missing, an
 * addon that failed to build, rather than failing to start).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { jsKernels, type Kernels } from '@gradmesh/core';
import { REPO } from './paths.js';

export const KERNEL_NAMES = ['js', 'wasm', 'native'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

const PACKAGES: Record<'native', { dir: string; factories: string[] }> = {
  native: { dir: 'packages/kernels-native', factories: ['loadNativeKernels'] },
};

async function importPackage(dir: string): Promise<Record<string, unknown>> {
  const pkgPath = join(REPO, dir, 'package.json');
  if (!existsSync(pkgPath)) throw new Error(`${dir} does not exist`);
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports?: Record<string, Record<string, string> | string> };
  const dot = pkg.exports?.['.'];
  const rel = typeof dot === 'string' ? dot : (dot?.['@gradmesh/source'] ?? dot?.['default']);
  if (!rel) throw new Error(`${dir}/package.json has no "." export`);
  const file = join(REPO, dir, rel);
  if (!existsSync(file)) throw new Error(`${dir}: ${rel} does not exist yet`);
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/**
 * One kernel set, or the reason it cannot be used here. `paramCount` sizes
 * the WASM memory up front as the engine does (WASM memory cannot grow once
 * views into it exist).
 */
export async function loadKernels(name: KernelName, paramCount = 1_000_000): Promise<{ kernels: Kernels | null; reason: string | null }> {
  if (name === 'js') return { kernels: jsKernels, reason: null };
  if (name === 'wasm') {
    // As the CLI and the workers load them (compiled by V8's optimizing tier up front, see the engine's loadKernels).
    try {
      const { loadKernels: load } = await import('@gradmesh/engine/node');
      return { kernels: load('wasm', paramCount).kernels, reason: null };
    } catch (err) {
      return { kernels: null, reason: (err as Error).message.split('\n')[0]! };
    }
  }
  const { dir, factories } = PACKAGES[name];
  try {
    const mod = await importPackage(dir);
    const factory = factories.map((f) => mod[f]).find((f) => typeof f === 'function') as ((o?: unknown) => unknown) | undefined;
    if (!factory) throw new Error(`${dir} exports none of ${factories.join(', ')}`);
    const k = (await factory()) as Kernels | null;
    if (!k) {
      const why = typeof mod.tryLoadNativeKernels === 'function' ? (mod.tryLoadNativeKernels as () => { reason: string | null })().reason : null;
      return { kernels: null, reason: `${factories[0]}() returned null${why ? `: ${why}` : ''}` };
    }
    if (typeof k.gemm !== 'function' || typeof k.alloc !== 'function') throw new Error(`${dir} returned something that is not a kernel set`);
    return { kernels: k, reason: null };
  } catch (err) {
    return { kernels: null, reason: (err as Error).message.split('\n')[0]! };
  }
}

/** Every kernel set that loads, and a note for each that does not. */
export async function availableKernels(): Promise<{ names: Array<{ name: KernelName; label: string }>; notes: string[] }> {
  const names: Array<{ name: KernelName; label: string }> = [];
  const notes: string[] = [];
  for (const n of KERNEL_NAMES) {
    const r = await loadKernels(n);
    if (r.kernels) names.push({ name: n, label: r.kernels.name });
    else notes.push(`gradmesh ${n} kernels skipped: ${r.reason}`);
  }
  return { names, notes };
}

/**
 * Whether the thread pool and Node workers can compute with a chosen kernel
 * set (ContextSpec.kernels / RunInfo.kernels are honoured once the engine
 * exports KERNEL_CHOICES); before that they always run the js kernels.
 */
export async function engineKernelChoices(): Promise<readonly string[] | null> {
  const engine = (await import('@gradmesh/engine')) as Record<string, unknown>;
  return Array.isArray(engine.KERNEL_CHOICES) ? (engine.KERNEL_CHOICES as string[]) : null;
}
