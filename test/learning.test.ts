import { describe, expect, test } from 'vitest';
import { Model, Optimizer, Rng, permutation, type ModelSpec, type OptimizerConfig } from '@gradmesh/core';

// End-to-end: @gradmesh/core's model + optimizer learn small problems from
// fixed seeds. Datasets are generated here with core's Rng (no @gradmesh/data).

interface Data {
  x: Float32Array;
  y: Float32Array;
  n: number;
}

/** Minibatch training with a fresh seeded permutation every epoch; returns the trained params. */
function train(spec: ModelSpec, data: Data, opt: OptimizerConfig, epochs: number, batch: number, seed: number): { model: Model; params: Float32Array } {
  const model = new Model(spec);
  const rng = new Rng(seed);
  const params = new Float32Array(model.paramCount);
  model.initParams(params, rng);
  const optimizer = new Optimizer(opt, model.paramCount);
  const grad = new Float32Array(model.paramCount);
  const { inputs, outputs } = model;
  const xb = new Float32Array(batch * inputs);
  const yb = new Float32Array(batch * outputs);
  for (let e = 0; e < epochs; e++) {
    const order = batch >= data.n ? null : permutation(data.n, rng);
    for (let start = 0; start < data.n; start += batch) {
      const n = Math.min(batch, data.n - start);
      if (order === null) {
        model.lossAndGrad(params, data.x, data.y, n, grad);
      } else {
        for (let r = 0; r < n; r++) {
          const i = order[start + r];
          xb.set(data.x.subarray(i * inputs, (i + 1) * inputs), r * inputs);
          yb.set(data.y.subarray(i * outputs, (i + 1) * outputs), r * outputs);
        }
        model.lossAndGrad(params, xb, yb, n, grad);
      }
      optimizer.apply(params, grad, n);
    }
  }
  return { model, params };
}

function xor(): Data {
  return { x: Float32Array.of(0, 0, 0, 1, 1, 0, 1, 1), y: Float32Array.of(0, 1, 1, 0), n: 4 };
}

/** cs231n's spiral: `perClass` points per arm, radius 0→1, angle noise σ. */
function spiral(perClass: number, classes: number, noise: number, rng: Rng): Data {
  const n = perClass * classes;
  const x = new Float32Array(n * 2);
  const y = new Float32Array(n * classes);
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      const s = c * perClass + i;
      const r = i / (perClass - 1);
      const t = c * 4 + (4 * i) / (perClass - 1) + noise * rng.normal();
      x[2 * s] = r * Math.sin(t);
      x[2 * s + 1] = r * Math.cos(t);
      y[s * classes + c] = 1;
    }
  }
  return { x, y, n };
}

function sine(n: number, rng: Rng): Data {
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = (rng.next() * 2 - 1) * Math.PI;
    y[i] = Math.sin(x[i]);
  }
  return { x, y, n };
}

describe('learning', () => {
  const xorSpec: ModelSpec = { inputs: 2, layers: [{ units: 8, activation: 'tanh' }, { units: 1, activation: 'sigmoid' }], loss: 'sigmoid_bce' };
  const xorRuns: OptimizerConfig[] = [
    { kind: 'sgd', lr: 1 },
    { kind: 'momentum', lr: 0.3 },
    { kind: 'nesterov', lr: 0.3 },
  ];
  for (const opt of xorRuns) {
    test(`XOR reaches 100% accuracy with ${opt.kind}`, () => {
      const data = xor();
      const { model, params } = train(xorSpec, data, opt, 1000, 4, 1);
      const ev = model.evaluate(params, data.x, data.y, data.n);
      expect(ev.correct).toBe(4);
      expect(ev.lossSum / 4).toBeLessThan(0.1);
    });
  }

  test('a three-arm spiral (300 points, noise 0.2) reaches ≥ 97% training accuracy with adam', () => {
    const data = spiral(100, 3, 0.2, new Rng(7));
    const spec: ModelSpec = { inputs: 2, layers: [{ units: 64, activation: 'relu' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
    const { model, params } = train(spec, data, { kind: 'adam', lr: 0.02 }, 300, 50, 2);
    const ev = model.evaluate(params, data.x, data.y, data.n);
    console.log(`spiral: ${((100 * ev.correct) / data.n).toFixed(1)}% training accuracy, mean loss ${(ev.lossSum / data.n).toFixed(4)}`);
    expect(ev.correct / data.n).toBeGreaterThanOrEqual(0.97);
  });

  test('sin(x) on [−π, π] is fitted to MSE < 0.01 with adamw, warmup and a cosine schedule', () => {
    const data = sine(200, new Rng(8));
    const spec: ModelSpec = { inputs: 1, layers: [{ units: 32, activation: 'tanh' }, { units: 1, activation: 'identity' }], loss: 'mse_mean' };
    const { model, params } = train(spec, data, { kind: 'adamw', lr: 0.02, weightDecay: 1e-4, warmupSteps: 50, schedule: { kind: 'cosine', totalSteps: 3000, minLr: 0.001 } }, 300, 20, 3);
    const mse = model.evaluate(params, data.x, data.y, data.n).lossSum / data.n;
    console.log(`sine: training MSE ${mse.toExponential(3)}`);
    expect(mse).toBeLessThan(0.01);
  });

  test('training is reproducible: the same seeds give the same bits', () => {
    const data = spiral(30, 3, 0.2, new Rng(9));
    const spec: ModelSpec = { inputs: 2, layers: [{ units: 16, activation: 'tanh' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
    const a = train(spec, data, { kind: 'nesterov', lr: 0.1 }, 20, 16, 4).params;
    const b = train(spec, data, { kind: 'nesterov', lr: 0.1 }, 20, 16, 4).params;
    const c = train(spec, data, { kind: 'nesterov', lr: 0.1 }, 20, 16, 5).params;
    expect(Array.from(new Uint32Array(b.buffer))).toEqual(Array.from(new Uint32Array(a.buffer)));
    expect(Array.from(new Uint32Array(c.buffer))).not.toEqual(Array.from(new Uint32Array(a.buffer)));
  });

  test('an untrained network does not pass these bars (the checks can fail)', () => {
    const data = spiral(100, 3, 0.2, new Rng(7));
    const spec: ModelSpec = { inputs: 2, layers: [{ units: 64, activation: 'relu' }, { units: 3, activation: 'softmax' }], loss: 'softmax_xent' };
    const { model, params } = train(spec, data, { kind: 'adam', lr: 0 }, 1, 50, 2);
    expect(model.evaluate(params, data.x, data.y, data.n).correct / data.n).toBeLessThan(0.8);
  });
});
