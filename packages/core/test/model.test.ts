import { describe, expect, test } from 'vitest';
import { Model, Optimizer, Rng, createModel, jsKernels, referenceLoss, type Kernels, type ModelSpec } from '@gradmesh/core';
import { firstBitDifference, randomBatch, randomParams } from './fixtures.js';
import { KERNEL_SETS } from './kernel-sets.js';

const mnistLike: ModelSpec = { inputs: 784, layers: [{ units: 128, activation: 'relu' }, { units: 10, activation: 'softmax' }], loss: 'softmax_xent' };

function countingKernels(): Kernels & { allocs: number; gemms: number } {
  const k = {
    name: 'counting',
    allocs: 0,
    gemms: 0,
    alloc(length: number) {
      k.allocs++;
      return jsKernels.alloc(length);
    },
    gemm(...args: Parameters<Kernels['gemm']>) {
      k.gemms++;
      jsKernels.gemm(...args);
    },
  };
  return k;
}

describe('Model', () => {
  test('reports inputs, outputs and parameter count; createModel is the same thing', () => {
    const m = createModel(mnistLike);
    expect(m).toBeInstanceOf(Model);
    expect([m.inputs, m.outputs, m.paramCount]).toEqual([784, 10, 101_770]);
    expect(m.kernels).toBe(jsKernels);
  });

  test('every matrix product goes through the injected kernels, and workspaces are reused', () => {
    const k = countingKernels();
    const m = new Model({ inputs: 5, layers: [{ units: 6, activation: 'tanh' }, { units: 4, activation: 'relu' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' }, k);
    const rng = new Rng(1);
    const p = randomParams(m, rng);
    const g = new Float32Array(m.paramCount);
    const big = randomBatch(m, 40, rng);
    m.lossAndGrad(p, big.x, big.y, 40, g);
    // 3 forward (NN) + 3 weight gradients (TN) + 2 input gradients (NT): layer 0 needs no dX
    expect(k.gemms).toBe(8);
    const allocsAfterFirst = k.allocs;
    expect(allocsAfterFirst).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) m.lossAndGrad(p, big.x, big.y, 40 - i * 7, g);
    expect(k.allocs).toBe(allocsAfterFirst); // steady state: nothing new
    const b41 = randomBatch(m, 41, rng);
    m.lossAndGrad(p, b41.x, b41.y, 41, g);
    const allocsAfterGrowth = k.allocs;
    expect(allocsAfterGrowth).toBeGreaterThan(allocsAfterFirst); // grows when n grows ...
    for (let n = 42; n <= 80; n++) {
      const b = randomBatch(m, n, rng);
      m.lossAndGrad(p, b.x, b.y, n, g);
    }
    expect(k.allocs).toBe(allocsAfterGrowth); // ... geometrically, not on every larger n
  });

  test('lossAndGrad overwrites grad and is bit-for-bit repeatable', () => {
    const m = new Model(mnistLike);
    const rng = new Rng(2);
    const p = randomParams(m, rng);
    const { x, y } = randomBatch(m, 16, rng);
    const g1 = new Float32Array(m.paramCount);
    const g2 = new Float32Array(m.paramCount).fill(123);
    const l1 = m.lossAndGrad(p, x, y, 16, g1);
    m.lossAndGrad(p, randomBatch(m, 7, rng).x, randomBatch(m, 7, rng).y, 7, new Float32Array(m.paramCount));
    const l2 = m.lossAndGrad(p, x, y, 16, g2);
    expect(l2).toBe(l1);
    expect(firstBitDifference(g2, g1)).toBe(-1);
  });

  test('n = 0 gives zero loss and an all-zero gradient', () => {
    const m = new Model(mnistLike);
    const g = new Float32Array(m.paramCount).fill(5);
    expect(m.lossAndGrad(randomParams(m, new Rng(3)), new Float32Array(0), new Float32Array(0), 0, g)).toBe(0);
    expect(g.every((v) => v === 0)).toBe(true);
  });

  test('refuses mismatched buffers with a clear reason', () => {
    const m = new Model(mnistLike);
    const p = new Float32Array(m.paramCount);
    const g = new Float32Array(m.paramCount);
    expect(() => m.lossAndGrad(new Float32Array(3), new Float32Array(784), new Float32Array(10), 1, g)).toThrow(/params has 3 entries/);
    expect(() => m.lossAndGrad(p, new Float32Array(700), new Float32Array(10), 1, g)).toThrow(/x has 700 values/);
    expect(() => m.lossAndGrad(p, new Float32Array(784), new Float32Array(9), 1, g)).toThrow(/y has 9 values/);
    expect(() => m.lossAndGrad(p, new Float32Array(784), new Float32Array(10), 1, new Float32Array(1))).toThrow(/grad has 1 entries/);
    expect(() => m.lossAndGrad(p, new Float32Array(784), new Float32Array(10), 1.5, g)).toThrow(/non-negative integer/);
  });

  test('fused losses stay finite and exact for extreme logits', () => {
    const xent = new Model({ inputs: 1, layers: [{ units: 3, activation: 'softmax' }], loss: 'softmax_xent' });
    // W = [1000, -1000, 0], b = 0, x = 1: the true class (index 1) has logit −1000
    const p = Float32Array.of(1000, -1000, 0, 0, 0, 0);
    const g = new Float32Array(6);
    const loss = xent.lossAndGrad(p, Float32Array.of(1), Float32Array.of(0, 1, 0), 1, g);
    expect(loss).toBeCloseTo(2000, 3); // −log softmax = lse − z₁ = 1000 − (−1000)
    expect(Array.from(g.subarray(0, 3))).toEqual([1, -1, 0]);

    const bce = new Model({ inputs: 1, layers: [{ units: 1, activation: 'sigmoid' }], loss: 'sigmoid_bce' });
    const g2 = new Float32Array(2);
    expect(bce.lossAndGrad(Float32Array.of(-800, 0), Float32Array.of(1), Float32Array.of(1), 1, g2)).toBeCloseTo(800, 6);
    expect(Array.from(g2)).toEqual([-1, -1]);
    expect(bce.lossAndGrad(Float32Array.of(800, 0), Float32Array.of(1), Float32Array.of(1), 1, g2)).toBe(0);
  });

  test('predict returns post-activation outputs; evaluate agrees with the float64 reference loss', () => {
    const spec: ModelSpec = { inputs: 3, layers: [{ units: 5, activation: 'tanh' }, { units: 4, activation: 'softmax' }], loss: 'softmax_xent' };
    const m = new Model(spec);
    const rng = new Rng(4);
    const p = randomParams(m, rng);
    const n = 1100; // more than one internal chunk
    const { x, y } = randomBatch(m, n, rng);
    const out = m.predict(p, x, n);
    expect(out.length).toBe(n * 4);
    for (let s = 0; s < n; s++) {
      const row = out.subarray(s * 4, s * 4 + 4);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    let correct = 0;
    for (let s = 0; s < n; s++) {
      const row = Array.from(out.subarray(s * 4, s * 4 + 4));
      if (y[s * 4 + row.indexOf(Math.max(...row))] === 1) correct++;
    }
    const ev = m.evaluate(p, x, y, n);
    expect(ev.correct).toBe(correct);
    expect(ev.correct).toBeGreaterThan(0);
    expect(ev.lossSum / referenceLoss(spec, Float64Array.from(p), x, y, n)).toBeCloseTo(1, 5);
  });

  test('evaluate thresholds a single sigmoid output at 0.5 and counts nothing for regression', () => {
    const clf = new Model({ inputs: 1, layers: [{ units: 1, activation: 'sigmoid' }], loss: 'sigmoid_bce' });
    const p = Float32Array.of(1, 0); // σ(x)
    const x = Float32Array.of(-2, -1, 1, 2);
    expect(clf.evaluate(p, x, Float32Array.of(0, 1, 1, 1), 4).correct).toBe(3);
    const reg = new Model({ inputs: 1, layers: [{ units: 1, activation: 'identity' }], loss: 'mse_sum' });
    const ev = reg.evaluate(p, x, Float32Array.of(-2, -1, 1, 3), 4);
    expect(ev.correct).toBe(0);
    expect(ev.lossSum).toBe(1);
  });

  test('initParams: He for relu, Xavier for tanh, biases zero, same seed same bits', () => {
    const spec: ModelSpec = { inputs: 400, layers: [{ units: 300, activation: 'relu' }, { units: 200, activation: 'tanh' }], loss: 'mse_sum' };
    const m = new Model(spec);
    const p = new Float32Array(m.paramCount);
    m.initParams(p, new Rng(10));
    const [a, b] = m.layers;
    const std = (lo: number, hi: number) => {
      let s = 0;
      for (let i = lo; i < hi; i++) s += p[i] * p[i];
      return Math.sqrt(s / (hi - lo));
    };
    expect(std(a.wOffset, a.bOffset) / Math.sqrt(2 / 400)).toBeCloseTo(1, 1);
    expect(std(b.wOffset, b.bOffset) / Math.sqrt(2 / 500)).toBeCloseTo(1, 1);
    expect(p.subarray(a.bOffset, a.bOffset + 300).every((v) => v === 0)).toBe(true);
    const q = new Float32Array(m.paramCount);
    m.initParams(q, new Rng(10));
    expect(firstBitDifference(q, p)).toBe(-1);
    const forcedXavier = new Model({ ...spec, init: 'xavier' });
    const r = new Float32Array(m.paramCount);
    forcedXavier.initParams(r, new Rng(10));
    expect(r[0] / p[0]).toBeCloseTo(Math.sqrt(2 / 700) / Math.sqrt(2 / 400), 5);
  });
});

describe('the optional element-wise kernel passes change no bit of training', () => {
  // relu, reluBackwardColSums and axpy must reproduce core's JS loops exactly:
  // a kernel set with them and the same set reduced to its gemm train alike.
  const spec: ModelSpec = {
    inputs: 30,
    layers: [{ units: 17, activation: 'relu' }, { units: 9, activation: 'relu' }, { units: 4, activation: 'softmax' }],
    loss: 'softmax_xent',
  };
  const withPasses = KERNEL_SETS.map((s) => s.make()).filter((k) => k.relu || k.reluBackwardColSums || k.axpy);
  test('wasm and native implement them', () => {
    expect(withPasses.map((k) => k.name.split('-')[0])).toEqual(KERNEL_SETS.length > 2 ? ['wasm', 'native'] : ['wasm']);
  });
  for (const full of withPasses) {
    test(`${full.name}: with and without them, loss, gradient and SGD steps are bit-identical`, () => {
      const gemmOnly: Kernels = { name: `${full.name} (gemm only)`, alloc: (n) => full.alloc(n), gemm: (...a) => full.gemm(...a) };
      const run = (k: Kernels) => {
        const m = new Model(spec, k);
        const rng = new Rng(77);
        const p = randomParams(m, rng);
        const g = new Float32Array(m.paramCount);
        const opt = new Optimizer({ kind: 'sgd', lr: 0.05 }, m.paramCount, k);
        const losses: number[] = [];
        for (const n of [16, 13, 32, 7]) { // batches of 16 and 32 take SGD's axpy path, 13 and 7 its division
          const { x, y } = randomBatch(m, n, rng);
          losses.push(m.lossAndGrad(p, x, y, n, g));
          opt.apply(p, g, n);
        }
        return { losses, p, g };
      };
      const a = run(full);
      const b = run(gemmOnly);
      expect(a.losses).toEqual(b.losses);
      expect(firstBitDifference(a.g, b.g)).toBe(-1);
      expect(firstBitDifference(a.p, b.p)).toBe(-1);
    });
  }
});
