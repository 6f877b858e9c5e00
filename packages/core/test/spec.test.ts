import { describe, expect, test } from 'vitest';
import { ACTIVATIONS, LOSSES, validateSpec, paramLayout, type ModelSpec } from '@gradmesh/core';

const ok: ModelSpec = { inputs: 4, layers: [{ units: 3, activation: 'tanh' }, { units: 2, activation: 'softmax' }], loss: 'softmax_xent' };

describe('validateSpec', () => {
  test('accepts every activation in hidden layers and any output activation with mse', () => {
    for (const h of ACTIVATIONS) {
      for (const o of ACTIVATIONS) {
        for (const loss of ['mse_sum', 'mse_mean'] as const) {
          expect(() => validateSpec({ inputs: 2, layers: [{ units: 3, activation: h }, { units: 2, activation: o }], loss })).not.toThrow();
        }
      }
    }
    expect(LOSSES.length).toBe(4);
  });

  const bad: [string, unknown, RegExp][] = [
    ['softmax_xent without a softmax output', { ...ok, layers: [{ units: 2, activation: 'sigmoid' }] }, /softmax_xent requires the last layer's activation to be 'softmax'/],
    ['sigmoid_bce without a sigmoid output', { ...ok, loss: 'sigmoid_bce' }, /sigmoid_bce requires the last layer's activation to be 'sigmoid'/],
    ['a 1-way softmax_xent', { ...ok, layers: [{ units: 1, activation: 'softmax' }] }, /at least 2 output units/],
    ['no layers', { ...ok, layers: [] }, /non-empty/],
    ['fractional inputs', { ...ok, inputs: 2.5 }, /inputs must be a positive integer/],
    ['zero units', { ...ok, layers: [{ units: 0, activation: 'relu' }, ok.layers[1]] }, /layer 0 units/],
    ['unknown activation', { ...ok, layers: [{ units: 3, activation: 'gelu' }, ok.layers[1]] }, /layer 0 activation must be one of/],
    ['unknown loss', { ...ok, loss: 'hinge' }, /loss must be one of/],
    ['unknown init', { ...ok, init: 'orthogonal' }, /init must be one of/],
    ['negative leaky slope', { ...ok, leakySlope: -0.1 }, /leakySlope/],
    ['not an object', null, /must be an object/],
  ];
  for (const [what, spec, message] of bad) {
    test(`refuses ${what} with a one-line reason`, () => {
      let err: Error | undefined;
      try {
        validateSpec(spec as ModelSpec);
      } catch (e) {
        err = e as Error;
      }
      expect(err).toBeInstanceOf(Error);
      expect(err!.message).toMatch(message);
      expect(err!.message).not.toContain('\n');
    });
  }
});

describe('paramLayout', () => {
  test('puts each layer\'s W (fanIn×fanOut) then its biases, layers back to back', () => {
    const { layers, paramCount } = paramLayout({ inputs: 784, layers: [{ units: 128, activation: 'relu' }, { units: 10, activation: 'softmax' }], loss: 'softmax_xent' });
    expect(layers).toEqual([
      { wOffset: 0, bOffset: 784 * 128, fanIn: 784, fanOut: 128, activation: 'relu' },
      { wOffset: 784 * 128 + 128, bOffset: 784 * 128 + 128 + 1280, fanIn: 128, fanOut: 10, activation: 'softmax' },
    ]);
    expect(paramCount).toBe(784 * 128 + 128 + 128 * 10 + 10);
  });
});
