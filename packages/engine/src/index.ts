export * from './tree.js';
export * from './microbatch.js';
export * from './task.js';
export * from './buffer-pool.js';
export * from './shard-engine.js';
export * from './local-engine.js';
export * from './trainer.js';
export * from './wire.js';
