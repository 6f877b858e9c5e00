// Web Worker side of test/browser.test.ts.
import { createWasmKernels, kernelFingerprint } from '../src/index.js';

const post = (m: unknown) => (globalThis as unknown as { postMessage(m: unknown): void }).postMessage(m);
try {
  post({ result: kernelFingerprint(createWasmKernels()) });
} catch (err) {
  post({ error: String(err) });
}
