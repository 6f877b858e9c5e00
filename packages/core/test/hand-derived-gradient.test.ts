import { expect, test } from 'vitest';
import { Model, Rng } from '@gradmesh/core';

// f(x) = g(A¹ s(A² x)), s = sigmoid, g = identity, R = Σ_i ‖y_i − f(x_i)‖².
// With z_i = A² x_i and h_i = s(z_i) (so f_i = A¹ h_i), the chain rule gives
//   ∂R/∂A¹_jk = Σ_i −2 (y_ij − f_ij) · h_ik                       (h_i = s(A²x_i), NOT z_i)
//   ∂R/∂A²_kl = Σ_i Σ_j −2 (y_ij − f_ij) · A¹_jk · s'(z_ik) · x_il,  s'(z) = s(z)(1 − s(z))
// computed below with explicit loops in float64, sharing nothing with the model.
// The model stores layer weights as W (fanIn×fanOut) with Z = X·W, so
// W₁ = (A²)ᵀ and W₂ = (A¹)ᵀ; biases are set to 0 to match the formula.

const d = 3; // inputs
const h = 4; // hidden units
const o = 2; // outputs
const n = 7;

function setup() {
  const rng = new Rng(2024);
  const A2 = Array.from({ length: h }, () => Array.from({ length: d }, () => Math.fround(rng.normal())));
  const A1 = Array.from({ length: o }, () => Array.from({ length: h }, () => Math.fround(rng.normal())));
  const X = Array.from({ length: n }, () => Array.from({ length: d }, () => Math.fround(rng.normal())));
  const Y = Array.from({ length: n }, () => Array.from({ length: o }, () => Math.fround(rng.normal())));
  return { A1, A2, X, Y };
}

function handGradients(A1: number[][], A2: number[][], X: number[][], Y: number[][], useZInsteadOfH = false) {
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const gA1 = Array.from({ length: o }, () => new Array(h).fill(0));
  const gA2 = Array.from({ length: h }, () => new Array(d).fill(0));
  let R = 0;
  for (let i = 0; i < n; i++) {
    const z = A2.map((row) => row.reduce((s, a, l) => s + a * X[i][l], 0));
    const hi = z.map(sig);
    const f = A1.map((row) => row.reduce((s, a, k) => s + a * hi[k], 0));
    for (let j = 0; j < o; j++) {
      const r = Y[i][j] - f[j];
      R += r * r;
      for (let k = 0; k < h; k++) {
        gA1[j][k] += -2 * r * (useZInsteadOfH ? z[k] : hi[k]);
        const sPrime = hi[k] * (1 - hi[k]);
        for (let l = 0; l < d; l++) gA2[k][l] += -2 * r * A1[j][k] * sPrime * X[i][l];
      }
    }
  }
  return { gA1, gA2, R };
}

function backprop(A1: number[][], A2: number[][], X: number[][], Y: number[][]) {
  const model = new Model({ inputs: d, layers: [{ units: h, activation: 'sigmoid' }, { units: o, activation: 'identity' }], loss: 'mse_sum' });
  const [L1, L2] = model.layers;
  const params = new Float32Array(model.paramCount); // biases stay 0
  for (let k = 0; k < h; k++) for (let l = 0; l < d; l++) params[L1.wOffset + l * h + k] = A2[k][l];
  for (let j = 0; j < o; j++) for (let k = 0; k < h; k++) params[L2.wOffset + k * o + j] = A1[j][k];
  const grad = new Float32Array(model.paramCount);
  const R = model.lossAndGrad(params, Float32Array.from(X.flat()), Float32Array.from(Y.flat()), n, grad);
  const gA2 = Array.from({ length: h }, (_, k) => Array.from({ length: d }, (_, l) => grad[L1.wOffset + l * h + k]));
  const gA1 = Array.from({ length: o }, (_, j) => Array.from({ length: h }, (_, k) => grad[L2.wOffset + k * o + j]));
  return { gA1, gA2, R };
}

function maxRelDiff(a: number[][], b: number[][]): number {
  const scale = Math.max(...b.flat().map(Math.abs));
  return Math.max(...a.flat().map((v, i) => Math.abs(v - b.flat()[i]))) / scale;
}

test('backprop equals the hand-derived chain rule for a sigmoid hidden layer under mse_sum', () => {
  const { A1, A2, X, Y } = setup();
  const hand = handGradients(A1, A2, X, Y);
  const bp = backprop(A1, A2, X, Y);
  expect(Math.abs(bp.R - hand.R) / hand.R).toBeLessThan(1e-6);
  expect(maxRelDiff(bp.gA1, hand.gA1)).toBeLessThan(1e-5);
  expect(maxRelDiff(bp.gA2, hand.gA2)).toBeLessThan(1e-5);
});

test('the commonly quoted formula with z_i in place of s(A²x_i) does not match', () => {
  const { A1, A2, X, Y } = setup();
  const wrong = handGradients(A1, A2, X, Y, true);
  const bp = backprop(A1, A2, X, Y);
  expect(maxRelDiff(bp.gA1, wrong.gA1)).toBeGreaterThan(0.1);
});
