// Node and Chromium must compute the same bits (SIMD128 without relaxed-simd
// is deterministic), or distributed training with browser workers would not
// reproduce a single-process run bit for bit.
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { chromiumAvailable, runInChromiumWorker } from '../bench/browser-run.js';
import { createWasmKernels, kernelFingerprint } from '../src/index.js';

test.skipIf(!chromiumAvailable())('Chromium (in a Web Worker) and Node compute identical bits', async () => {
  const browser = await runInChromiumWorker<string>(fileURLToPath(new URL('../bench/fingerprint-entry.ts', import.meta.url)));
  expect(browser).toBe(kernelFingerprint(createWasmKernels()));
}, 120_000);
