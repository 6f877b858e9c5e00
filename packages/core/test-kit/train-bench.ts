// Whole single-thread SGD training throughput through @gradmesh/core's Model
// (forward, softmax cross-entropy, backward, optimizer step) with a given
// kernel set: the number the kernel targets are about. Shared by core's
// bench/train.ts (Node, every kernel set) and kernels-wasm's Chromium bench.
import { Optimizer, Rng, createModel, type Kernels, type Model, type ModelSpec } from '../src/index.js';

export interface TrainCase {
  name: string;
  sizes: number[];
  batch: number;
  target?: number;
}

export const TRAIN_CASES: TrainCase[] = [
  { name: '784-128-10 b64', sizes: [784, 128, 10], batch: 64, target: 90_000 },
  { name: '784-512-512-10 b256', sizes: [784, 512, 512, 10], batch: 256, target: 15_000 },
];

function spec(sizes: number[]): ModelSpec {
  return {
    inputs: sizes[0],
    layers: sizes.slice(1).map((units, i) => ({ units, activation: i === sizes.length - 2 ? 'softmax' : 'relu' })),
    loss: 'softmax_xent',
  };
}

/** A model, its buffers and a pool of 16 synthetic dense batches; `step()` runs one SGD step on the next batch. */
function trainer(kernels: Kernels, c: TrainCase, buffers: (n: number) => Float32Array) {
  const model = createModel(spec(c.sizes), kernels);
  const params = buffers(model.paramCount);
  const grad = buffers(model.paramCount);
  model.initParams(params, new Rng(1));
  const opt = new Optimizer({ kind: 'sgd', lr: 0.01 }, model.paramCount, kernels);
  const pool = 16;
  const inputs = c.sizes[0];
  const outputs = c.sizes[c.sizes.length - 1];
  const x = buffers(pool * c.batch * inputs);
  const y = buffers(pool * c.batch * outputs);
  const rng = new Rng(2);
  for (let i = 0; i < x.length; i++) x[i] = rng.next();
  for (let r = 0; r < pool * c.batch; r++) y[r * outputs + (r % outputs)] = 1;
  let b = 0;
  const next = () => {
    const i = b;
    b = (b + 1) % pool;
    return {
      xs: x.subarray(i * c.batch * inputs, (i + 1) * c.batch * inputs),
      ys: y.subarray(i * c.batch * outputs, (i + 1) * c.batch * outputs),
    };
  };
  return { model, params, grad, opt, next };
}

/**
 * Median samples/s over `samples` timed runs of ≥ minMs each. `buffers`
 * allocates params, gradients and the data pool (kernels.alloc puts them in
 * WASM memory, so no gemm operand has to be copied).
 */
export function trainThroughput(
  kernels: Kernels, c: TrainCase, buffers: (n: number) => Float32Array = (n) => new Float32Array(n),
  samples = 7, minMs = 300, now: () => number = () => performance.now(),
): { median: number; best: number } {
  const { model, params, grad, opt, next } = trainer(kernels, c, buffers);
  const run = () => {
    const { xs, ys } = next();
    model.lossAndGrad(params, xs, ys, c.batch, grad);
    opt.apply(params, grad, c.batch);
  };
  const t0 = now();
  while (now() - t0 < Math.max(minMs, 1000)) run(); // warm-up: tiers up JS and WASM
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    let steps = 0;
    const t1 = now();
    while (now() - t1 < minMs) {
      run();
      steps++;
    }
    rates.push((steps * c.batch * 1000) / (now() - t1));
  }
  rates.sort((a, b) => a - b);
  return { median: rates[rates.length >> 1], best: rates[rates.length - 1] };
}

export interface StepBreakdown {
  /** µs per step, from the fastest sample (the least disturbed on a shared machine) */
  total: number;
  gemm: number;
  optimizer: number;
  /** lossAndGrad minus its gemm calls: bias, activations, loss, column sums, bookkeeping */
  other: number;
}

/**
 * Where a training step's time goes: the kernels' gemm calls are timed by a
 * wrapper (wall clock, ~0.1 µs per call), the optimizer step separately.
 */
export function trainBreakdown(
  kernels: Kernels, c: TrainCase, buffers: (n: number) => Float32Array = (n) => new Float32Array(n),
  samples = 7, stepsPerSample = 200,
): StepBreakdown {
  let gemmMs = 0;
  const timed: Kernels = Object.create(kernels, {
    gemm: {
      value: (...args: Parameters<Kernels['gemm']>) => {
        const t = performance.now();
        kernels.gemm(...args);
        gemmMs += performance.now() - t;
      },
    },
  });
  const { model, params, grad, opt, next } = trainer(timed, c, buffers);
  const run = (m: Model, times: { opt: number }) => {
    const { xs, ys } = next();
    m.lossAndGrad(params, xs, ys, c.batch, grad);
    const t = performance.now();
    opt.apply(params, grad, c.batch);
    times.opt += performance.now() - t;
  };
  const w0 = performance.now();
  while (performance.now() - w0 < 1000) run(model, { opt: 0 });
  const rows: StepBreakdown[] = [];
  for (let s = 0; s < samples; s++) {
    gemmMs = 0;
    const times = { opt: 0 };
    const t0 = performance.now();
    for (let i = 0; i < stepsPerSample; i++) run(model, times);
    const total = performance.now() - t0;
    const us = (ms: number) => (ms * 1000) / stepsPerSample;
    rows.push({ total: us(total), gemm: us(gemmMs), optimizer: us(times.opt), other: us(total - gemmMs - times.opt) });
  }
  return rows.reduce((best, r) => (r.total < best.total ? r : best));
}
