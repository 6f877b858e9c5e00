// Web Worker side of bench/browser.ts: gemm GFLOP/s, then whole training
// throughput through @gradmesh/core's Model, as a browser worker would run it.
import { createWasmKernels, kernelFingerprint } from '../src/index.js';
import { benchKernels } from '@gradmesh/core/test-kit/gemm-bench';
import { BROWSER_TARGETS } from '@gradmesh/core/test-kit/bench-shapes';
import { TRAIN_CASES, trainThroughput } from '@gradmesh/core/test-kit/train-bench';

const post = (m: unknown) => (globalThis as unknown as { postMessage(m: unknown): void }).postMessage(m);
try {
  const fingerprint = kernelFingerprint(createWasmKernels());
  const log = (line: string) => post({ log: line });
  const result = benchKernels(createWasmKernels(), { log, targets: BROWSER_TARGETS, targetLabel: 'browser target' });
  log('\nTraining through core\'s Model (samples/s, wall time, median and best of 7 × 300 ms):\n');
  log('| model | kernels | samples/s (median) | best | browser target |');
  log('|---|---|---:|---:|---:|');
  for (const c of TRAIN_CASES) {
    const k = createWasmKernels();
    const rows: [string, { median: number; best: number }][] = [
      ['wasm, plain Float32Array buffers (copied per gemm)', trainThroughput(createWasmKernels(), c)],
      ['wasm, buffers from kernels.alloc (no copies)', trainThroughput(k, c, (n) => k.alloc(n))],
    ];
    for (const [name, r] of rows) {
      log(`| ${c.name} | ${name} | ${Math.round(r.median).toLocaleString('en')} | ${Math.round(r.best).toLocaleString('en')} | ${BROWSER_TARGETS[c.name]?.toLocaleString('en')} |`);
    }
  }
  post({ result: { fingerprint, result, userAgent: navigator.userAgent } });
} catch (err) {
  post({ error: String(err) });
}
