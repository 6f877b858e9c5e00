// The WASM kernels' GFLOP/s and samples/s estimates in headless Chromium (a
// dedicated worker, as the browser worker runs them), plus the bit
// fingerprint next to Node's. Run: node --import tsx bench/browser.ts
import { fileURLToPath } from 'node:url';
import { createWasmKernels, kernelFingerprint } from '../src/index.js';
import { CHROMIUM, chromiumAvailable, runInChromiumWorker } from './browser-run.js';
import type { BenchResult } from '@gradmesh/core/test-kit/gemm-bench';

if (!chromiumAvailable()) {
  console.error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  process.exit(1);
}
const r = await runInChromiumWorker<{ fingerprint: string; result: BenchResult; userAgent: string }>(
  fileURLToPath(new URL('./browser-entry.ts', import.meta.url)),
  (line) => console.log(line),
);
console.log(`\n${r.userAgent}`);
const node = kernelFingerprint(createWasmKernels());
console.log(`bit fingerprint: Chromium ${r.fingerprint}, Node ${node} — ${r.fingerprint === node ? 'identical' : 'DIFFERENT'}`);
