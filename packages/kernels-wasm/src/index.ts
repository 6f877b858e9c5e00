export { compileKernelModule, createWasmKernels, type WasmKernels, type WasmKernelsOptions } from './wasm-kernels.js';
export { kernelFingerprint } from './fingerprint.js';
