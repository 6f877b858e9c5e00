// Training throughput (samples/s, single thread) with each native kernel set
// vs the JS reference kernels. Run: node --conditions=@gradmesh/source --import tsx bench/train.ts
// The harness is shared with the WASM benchmarks (same shapes, same tables).
import { jsKernels } from '@gradmesh/core';
import { loadNativeKernels, nativeIsas } from '../src/index.js';
import { cpuClock } from '../../kernels-wasm/bench/harness.js';
import { TRAIN_CASES, trainThroughput } from '../../kernels-wasm/bench/train-harness.js';

// CPU time unless --wall: the machine is shared (see harness.ts).
const clock = process.argv.includes('--wall') ? undefined : cpuClock();

console.log(`samples/s by ${clock ? 'CPU' : 'wall'} time\n`);
console.log('| model | kernels | samples/s (median) | best | Node target |');
console.log('|---|---|---:|---:|---:|');
for (const c of TRAIN_CASES) {
  const rows: [string, { median: number; best: number }][] = [];
  if (!process.argv.includes('--no-js')) rows.push(['js (core reference)', trainThroughput(jsKernels, c, undefined, 3, 300, clock)]);
  for (const isa of nativeIsas()) rows.push([`native-${isa}`, trainThroughput(loadNativeKernels({ isa })!, c, undefined, 7, 300, clock)]);
  for (const [name, r] of rows) {
    console.log(`| ${c.name} | ${name} | ${Math.round(r.median).toLocaleString('en')} | ${Math.round(r.best).toLocaleString('en')} | ${c.target?.toLocaleString('en')} |`);
  }
}
