// Whole single-thread training throughput (samples/s) of the benchmark models
// with every kernel set that loads here: js (the reference), wasm-simd128 and
// native-<isa>. Run from packages/core:
//   node --conditions=@gradmesh/source --import tsx bench/train.ts [--wall] [--breakdown] [--only js,wasm,native-avx2]
// CPU time by default: the machine is shared, and wall time also counts the
// time this process waits for a core. Medians of 7 samples of ≥ 300 ms after a
// ≥ 1 s warm-up; still expect ±10–30 % between runs under load.
import { jsKernels, type Kernels } from '../src/index.js';
import { cpuClock } from '../test-kit/gemm-bench.js';
import { TRAIN_CASES, trainBreakdown, trainThroughput } from '../test-kit/train-bench.js';
import { createWasmKernels } from '@gradmesh/kernels-wasm';
import { loadNativeKernels, nativeIsas, tryLoadNativeKernels } from '@gradmesh/kernels-native';

interface Entry {
  name: string;
  make: () => { kernels: Kernels; buffers?: (n: number) => Float32Array };
}

const entries: Entry[] = [
  { name: 'js', make: () => ({ kernels: jsKernels }) },
  {
    name: 'wasm',
    make: () => {
      const k = createWasmKernels({ initialMiB: 256 });
      return { kernels: k, buffers: (n) => k.alloc(n) };
    },
  },
  { name: 'wasm-plain', make: () => ({ kernels: createWasmKernels() }) },
];
const native = tryLoadNativeKernels();
if (native.kernels) {
  for (const isa of nativeIsas()) entries.push({ name: `native-${isa}`, make: () => ({ kernels: loadNativeKernels({ isa })! }) });
} else {
  console.log(`native kernels skipped: ${native.reason}`);
}

const arg = (flag: string) => {
  const i = process.argv.indexOf(flag);
  return i < 0 ? undefined : process.argv[i + 1];
};
const only = arg('--only')?.split(',');
const wanted = entries.filter((e) => (only ? only.includes(e.name) : e.name !== 'wasm-plain'));
const clock = process.argv.includes('--wall') ? undefined : cpuClock();
const fmt = (x: number) => Math.round(x).toLocaleString('en');

if (process.argv.includes('--breakdown')) {
  console.log('µs per step (the fastest of 7 samples of 200 steps, wall time; gemm timed by a wrapper)\n');
  console.log('| model | kernels | total | gemm | optimizer | other (bias, act, loss, col sums) |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const c of TRAIN_CASES) {
    for (const e of wanted) {
      const { kernels, buffers } = e.make();
      const b = trainBreakdown(kernels, c, buffers, 7, e.name === 'js' ? 20 : 200);
      console.log(`| ${c.name} | ${e.name} | ${fmt(b.total)} | ${fmt(b.gemm)} | ${fmt(b.optimizer)} | ${fmt(b.other)} |`);
    }
  }
} else {
  console.log(`samples/s by ${clock ? 'CPU' : 'wall'} time (median and best of 7 × 300 ms)\n`);
  console.log('| model | kernels | samples/s (median) | best | Node target |');
  console.log('|---|---|---:|---:|---:|');
  for (const c of TRAIN_CASES) {
    for (const e of wanted) {
      const { kernels, buffers } = e.make();
      const r = trainThroughput(kernels, c, buffers, 7, 300, clock);
      console.log(`| ${c.name} | ${e.name} | ${fmt(r.median)} | ${fmt(r.best)} | ${c.target ? fmt(c.target) : '—'} |`);
    }
  }
}
