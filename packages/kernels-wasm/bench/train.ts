// Training throughput (samples/s, single thread) with the WASM kernels vs the
// JS reference kernels. Run: node --conditions=@gradmesh/source --import tsx bench/train.ts
import { jsKernels } from '@gradmesh/core';
import { createWasmKernels } from '../src/index.js';
import { cpuClock } from './harness.js';
import { TRAIN_CASES, trainThroughput } from './train-harness.js';

// CPU time unless --wall: the machine is shared (see harness.ts).
const clock = process.argv.includes('--wall') ? undefined : cpuClock();

console.log(`samples/s by ${clock ? 'CPU' : 'wall'} time\n`);
console.log('| model | kernels | samples/s (median) | best | Node target |');
console.log('|---|---|---:|---:|---:|');
for (const c of TRAIN_CASES) {
  const rows: [string, { median: number; best: number }][] = [];
  rows.push(['js (core reference)', trainThroughput(jsKernels, c, undefined, 3, 300, clock)]);
  rows.push(['wasm, plain Float32Array buffers (copied per gemm)', trainThroughput(createWasmKernels(), c, undefined, 7, 300, clock)]);
  const k = createWasmKernels();
  rows.push(['wasm, buffers from kernels.alloc (no copies)', trainThroughput(k, c, (n) => k.alloc(n), 7, 300, clock)]);
  for (const [name, r] of rows) {
    console.log(`| ${c.name} | ${name} | ${Math.round(r.median).toLocaleString('en')} | ${Math.round(r.best).toLocaleString('en')} | ${c.target?.toLocaleString('en')} |`);
  }
}
