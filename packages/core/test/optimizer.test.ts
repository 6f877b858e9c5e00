import { describe, expect, test } from 'vitest';
import { OPTIMIZERS, Optimizer, optimizerStateSize, type OptimizerConfig } from '@gradmesh/core';
import { firstBitDifference } from './fixtures.js';

// Each update rule is recomputed here by hand, in float64, from the formulas
// (PyTorch conventions), and compared after rounding to float32.
const p0 = [0.5, -1.25, 2];
const gradSums = [
  [0.4, -0.8, 1.2],
  [-0.2, 0.6, 0.1],
  [1.0, 0.0, -0.3],
];
const B = 4;

function run(cfg: OptimizerConfig, steps = 3): Float32Array {
  const opt = new Optimizer(cfg, 3);
  const p = Float32Array.from(p0);
  for (let t = 0; t < steps; t++) opt.apply(p, Float32Array.from(gradSums[t]), B);
  expect(opt.t).toBe(steps);
  return p;
}

/** Float64 replay of the rules, reading back float32-rounded state like the real buffers do. */
function byHand(cfg: OptimizerConfig, steps = 3): number[] {
  const f = Math.fround;
  const p = p0.map(f);
  const gs32 = gradSums.map((g) => g.map(f));
  const mu = cfg.momentum ?? 0.9;
  const b1 = cfg.beta1 ?? 0.9;
  const b2 = cfg.beta2 ?? 0.999;
  const eps = cfg.eps ?? 1e-8;
  const wd = cfg.weightDecay ?? 0;
  const v = [0, 0, 0];
  const m = [0, 0, 0];
  for (let t = 0; t < steps; t++) {
    const lr = cfg.lr;
    let g = gs32[t].map((x) => x / B);
    if (cfg.clipNorm !== undefined) {
      const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
      if (norm > cfg.clipNorm) g = g.map((x) => (x * cfg.clipNorm!) / norm);
    }
    for (let i = 0; i < 3; i++) {
      let gi = g[i];
      if (cfg.kind !== 'adamw' && wd !== 0) gi += wd * p[i];
      switch (cfg.kind) {
        case 'sgd':
          p[i] = f(p[i] - lr * gi);
          break;
        case 'momentum':
          v[i] = f(mu * v[i] + gi);
          p[i] = f(p[i] - lr * v[i]);
          break;
        case 'nesterov':
          v[i] = f(mu * v[i] + gi);
          p[i] = f(p[i] - lr * (gi + mu * v[i]));
          break;
        case 'adam':
        case 'adamw': {
          m[i] = f(b1 * m[i] + (1 - b1) * gi);
          v[i] = f(b2 * v[i] + (1 - b2) * gi * gi);
          const mhat = m[i] / (1 - b1 ** (t + 1));
          const vhat = v[i] / (1 - b2 ** (t + 1));
          const decayed = cfg.kind === 'adamw' ? p[i] - lr * wd * p[i] : p[i];
          p[i] = f(decayed - (lr * mhat) / (Math.sqrt(vhat) + eps));
          break;
        }
      }
    }
  }
  return p;
}

describe('optimizers against hand-computed updates', () => {
  const configs: OptimizerConfig[] = [
    { kind: 'sgd', lr: 0.1 },
    { kind: 'sgd', lr: 0.1, weightDecay: 0.05 },
    { kind: 'momentum', lr: 0.1 },
    { kind: 'momentum', lr: 0.05, momentum: 0.5, weightDecay: 0.01 },
    { kind: 'nesterov', lr: 0.1 },
    { kind: 'adam', lr: 0.01 },
    { kind: 'adam', lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 },
    { kind: 'adamw', lr: 0.01, weightDecay: 0.1 },
    { kind: 'sgd', lr: 0.1, clipNorm: 0.1 },
    { kind: 'adam', lr: 0.01, clipNorm: 0.05 },
  ];
  for (const cfg of configs) {
    test(JSON.stringify(cfg), () => {
      const got = run(cfg);
      const want = byHand(cfg);
      for (let i = 0; i < 3; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(2 ** -22 * Math.abs(want[i]));
    });
  }

  test('plain gradient descent is exactly a ← a − γ·(gradSum/B)', () => {
    const opt = new Optimizer({ kind: 'sgd', lr: 0.3 }, 3);
    const p = Float32Array.from(p0);
    const g = Float32Array.from(gradSums[0]);
    const want = Array.from(p, (a, i) => Math.fround(a - 0.3 * (g[i] / B)));
    opt.apply(p, g, B);
    expect(Array.from(p)).toEqual(want);
  });

  test('adam and adamw differ once weight decay is on (L2 vs decoupled)', () => {
    const a = run({ kind: 'adam', lr: 0.01, weightDecay: 0.1 });
    const w = run({ kind: 'adamw', lr: 0.01, weightDecay: 0.1 });
    expect(firstBitDifference(a, w)).not.toBe(-1);
  });

  test('the first adam step moves every coordinate by about lr (bias correction)', () => {
    const opt = new Optimizer({ kind: 'adam', lr: 0.001 }, 3);
    const p = Float32Array.from(p0);
    opt.apply(p, Float32Array.from(gradSums[0]), B);
    for (let i = 0; i < 3; i++) expect(Math.abs(p[i] - p0[i])).toBeCloseTo(0.001, 6);
  });

  test('clipping rescales the mean gradient to clipNorm and leaves small gradients alone', () => {
    const opt = new Optimizer({ kind: 'sgd', lr: 1, clipNorm: 1 }, 2);
    const p = new Float32Array(2);
    opt.apply(p, Float32Array.of(30, 40), 10); // mean (3, 4), norm 5 → (0.6, 0.8)
    expect(p[0]).toBeCloseTo(-0.6, 6);
    expect(p[1]).toBeCloseTo(-0.8, 6);
    const q = new Float32Array(2);
    new Optimizer({ kind: 'sgd', lr: 1, clipNorm: 10 }, 2).apply(q, Float32Array.of(30, 40), 10);
    expect(Array.from(q)).toEqual([-3, -4]);
  });

  test('state buffer sizes: none, velocity, or m and v', () => {
    expect(OPTIMIZERS.map((k) => optimizerStateSize(k, 10))).toEqual([0, 10, 10, 20, 20]);
    expect(new Optimizer({ kind: 'adamw', lr: 1 }, 7).state.length).toBe(14);
  });

  test('getState/setState resumes every kind bit for bit', () => {
    for (const kind of OPTIMIZERS) {
      const cfg: OptimizerConfig = { kind, lr: 0.05, weightDecay: 0.01, schedule: { kind: 'cosine', totalSteps: 5 }, warmupSteps: 1 };
      const a = new Optimizer(cfg, 3);
      const pa = Float32Array.from(p0);
      a.apply(pa, Float32Array.from(gradSums[0]), B);
      a.apply(pa, Float32Array.from(gradSums[1]), B);
      const saved = a.getState();
      const b = new Optimizer(cfg, 3);
      b.setState(saved);
      const pb = pa.slice();
      saved.state.fill(99); // getState returned a copy: mutating it must not matter
      a.apply(pa, Float32Array.from(gradSums[2]), B);
      b.apply(pb, Float32Array.from(gradSums[2]), B);
      expect(firstBitDifference(pa, pb), kind).toBe(-1);
      expect(b.t).toBe(3);
    }
  });

  test('applyRange over any partition, in any order, then advance() gives apply bits (every element-wise kind)', () => {
    const P = 37;
    const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    const r = rng(7);
    const start = Float32Array.from({ length: P }, r);
    const grads = [0, 1, 2].map(() => Float32Array.from({ length: P }, r));
    const cfgs: OptimizerConfig[] = [
      ...OPTIMIZERS.map((kind): OptimizerConfig => ({ kind, lr: 0.05, weightDecay: 0.01, schedule: { kind: 'cosine', totalSteps: 5 }, warmupSteps: 1 })),
      { kind: 'sgd', lr: 0.1 }, // the axpy path (power-of-two batch)
      { kind: 'momentum', lr: 0.1 }, // the branch-free momentum loop
    ];
    for (const cfg of cfgs) {
      for (const batch of [8, 3]) {
        const whole = new Optimizer(cfg, P);
        const split = new Optimizer(cfg, P);
        expect(split.elementwise).toBe(true);
        const pw = start.slice();
        const ps = start.slice();
        for (const g of grads) {
          whole.apply(pw, g, batch);
          // three ranges, the last first
          for (const [lo, hi] of [[30, 37], [0, 11], [11, 30]] as const) split.applyRange(ps, g, batch, lo, hi);
          split.advance();
        }
        expect(firstBitDifference(pw, ps), `${cfg.kind} lr ${cfg.lr} batch ${batch}`).toBe(-1);
        expect(firstBitDifference(whole.state, split.state), cfg.kind).toBe(-1);
        expect(split.t).toBe(3);
      }
    }
    const clipped = new Optimizer({ kind: 'sgd', lr: 1, clipNorm: 1 }, 3);
    expect(clipped.elementwise).toBe(false);
    expect(() => clipped.applyRange(new Float32Array(3), new Float32Array(3), 1, 0, 3)).toThrow(/global norm/);
    const opt = new Optimizer({ kind: 'sgd', lr: 1 }, 3);
    expect(() => opt.applyRange(new Float32Array(3), new Float32Array(3), 1, 2, 4)).toThrow(/\[2, 4\) is not inside/);
  });

  test('refuses bad configs and mismatched buffers', () => {
    expect(() => new Optimizer({ kind: 'rmsprop' as never, lr: 1 }, 3)).toThrow(/kind must be one of/);
    expect(() => new Optimizer({ kind: 'sgd', lr: -1 }, 3)).toThrow(/lr must be/);
    expect(() => new Optimizer({ kind: 'momentum', lr: 1, momentum: 1 }, 3)).toThrow(/momentum must be in/);
    expect(() => new Optimizer({ kind: 'adam', lr: 1, clipNorm: 0 }, 3)).toThrow(/clipNorm/);
    expect(() => new Optimizer({ kind: 'sgd', lr: 1, schedule: { kind: 'step', every: 0, gamma: 0.5 } }, 3)).toThrow(/every/);
    const opt = new Optimizer({ kind: 'sgd', lr: 1 }, 3);
    expect(() => opt.apply(new Float32Array(2), new Float32Array(3), 1)).toThrow(/params has 2/);
    expect(() => opt.apply(new Float32Array(3), new Float32Array(3), 0)).toThrow(/batchSize/);
    expect(() => opt.setState({ state: new Float32Array(1), t: 0 })).toThrow(/state has 1/);
  });
});

describe('learning-rate schedules', () => {
  const lrs = (cfg: OptimizerConfig, ts: number[]) => {
    const o = new Optimizer(cfg, 1);
    return ts.map((t) => o.lrAt(t));
  };
  test('constant', () => {
    expect(lrs({ kind: 'sgd', lr: 0.1 }, [0, 5, 1000])).toEqual([0.1, 0.1, 0.1]);
  });
  test('step decays by gamma every `every` steps', () => {
    const got = lrs({ kind: 'sgd', lr: 1, schedule: { kind: 'step', every: 10, gamma: 0.5 } }, [0, 9, 10, 19, 20, 35]);
    expect(got).toEqual([1, 1, 0.5, 0.5, 0.25, 0.125]);
  });
  test('cosine runs from lr to minLr over totalSteps and stays there', () => {
    const got = lrs({ kind: 'sgd', lr: 1, schedule: { kind: 'cosine', totalSteps: 100, minLr: 0.1 } }, [0, 25, 50, 100, 500]);
    const want = [1, 0.1 + 0.9 * (1 + Math.cos(Math.PI / 4)) / 2, 0.55, 0.1, 0.1];
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
  });
  test('warmup ramps linearly to the scheduled rate, starting above zero', () => {
    const got = lrs({ kind: 'sgd', lr: 0.4, warmupSteps: 4 }, [0, 1, 2, 3, 4, 10]);
    got.forEach((v, i) => expect(v).toBeCloseTo([0.1, 0.2, 0.3, 0.4, 0.4, 0.4][i], 12));
  });
  test('apply uses the scheduled rate of the current step', () => {
    const opt = new Optimizer({ kind: 'sgd', lr: 1, schedule: { kind: 'step', every: 1, gamma: 0.5 } }, 1);
    const p = new Float32Array(1);
    for (let t = 0; t < 3; t++) opt.apply(p, Float32Array.of(1), 1);
    expect(p[0]).toBe(-(1 + 0.5 + 0.25));
  });
});
