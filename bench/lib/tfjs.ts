/**
 * TensorFlow.js set up the way a Node user without tfjs-node gets it: the
 * pure-JS CPU backend, or the WebAssembly backend (XNNPACK, SIMD) loaded from
 * the .wasm files inside node_modules. Single-threaded: tfjs-backend-wasm
 * reports no multithread support under Node (WASM_HAS_MULTITHREAD_SUPPORT is
 * false when IS_NODE), so it loads tfjs-backend-wasm-simd.wasm.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type TfBackend = 'cpu' | 'wasm';
export type Tf = typeof import('@tensorflow/tfjs-core');
export type Tfl = typeof import('@tensorflow/tfjs-layers');

const require = createRequire(import.meta.url);

/** The folder holding tfjs-backend-wasm's .wasm files, as a path prefix ending in '/' (Emscripten reads it with fs under Node). */
export function wasmDir(): string {
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
}

/** Loads tfjs-core + layers and activates one backend; returns the namespace and what was loaded. */
export async function loadTf(backend: TfBackend): Promise<{ tf: Tf; tfl: Tfl; detail: string }> {
  // tfjs-core greets Node users on stdout; keep the bench's output clean.
  const log = console.log;
  console.log = () => {};
  try {
    const core = await import('@tensorflow/tfjs-core');
    const layers = await import('@tensorflow/tfjs-layers');
    let detail = '';
    if (backend === 'cpu') {
      await import('@tensorflow/tfjs-backend-cpu');
      detail = 'tfjs-backend-cpu (pure JS)';
    } else {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      wasm.setWasmPaths(wasmDir());
      wasm.setThreadsCount(1);
      const simd = await core.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      const mt = await core.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
      detail = `tfjs-backend-wasm (${simd ? 'SIMD' : 'no SIMD'}, ${mt ? 'threads' : 'single thread'})`;
    }
    if (!(await core.setBackend(backend))) throw new Error(`TensorFlow.js could not initialise the ${backend} backend`);
    await core.ready();
    core.enableProdMode();
    return { tf: core, tfl: layers, detail };
  } finally {
    console.log = log;
  }
}
