export * from './context.js';
export * from './pool-engine.js';
export * from './kernels.js';
