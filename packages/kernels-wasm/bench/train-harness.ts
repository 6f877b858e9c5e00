// Whole single-thread SGD training throughput through @gradmesh/core's Model
// (forward, softmax cross-entropy, backward, optimizer step) with a given
// kernel set: the number the kernel targets are about.
import { Optimizer, Rng, createModel, type Kernels, type ModelSpec } from '@gradmesh/core';

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

/**
 * Median samples/s over `samples` timed runs of ≥ minMs each. `buffers`
 * allocates params, gradients and the data pool (kernels.alloc puts them in
 * WASM memory, so no gemm operand has to be copied).
 */
export function trainThroughput(
  kernels: Kernels, c: TrainCase, buffers: (n: number) => Float32Array = (n) => new Float32Array(n),
  samples = 7, minMs = 300, now: () => number = () => performance.now(),
): { median: number; best: number } {
  const model = createModel(spec(c.sizes), kernels);
  const params = buffers(model.paramCount);
  const grad = buffers(model.paramCount);
  model.initParams(params, new Rng(1));
  const opt = new Optimizer({ kind: 'sgd', lr: 0.01 }, model.paramCount);
  const pool = 16;
  const inputs = c.sizes[0];
  const outputs = c.sizes[c.sizes.length - 1];
  const x = buffers(pool * c.batch * inputs);
  const y = buffers(pool * c.batch * outputs);
  const rng = new Rng(2);
  for (let i = 0; i < x.length; i++) x[i] = rng.next();
  for (let r = 0; r < pool * c.batch; r++) y[r * outputs + (r % outputs)] = 1;
  let step = 0;
  const run = () => {
    const b = step++ % pool;
    const xs = x.subarray(b * c.batch * inputs, (b + 1) * c.batch * inputs);
    const ys = y.subarray(b * c.batch * outputs, (b + 1) * c.batch * outputs);
    model.lossAndGrad(params, xs, ys, c.batch, grad);
    opt.apply(params, grad, c.batch);
  };
  const t0 = now();
  while (now() - t0 < minMs) run(); // warm-up, tiers up the WASM
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
