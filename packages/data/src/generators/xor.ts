import type { Dataset } from '../dataset.js';

/**
 * The four XOR points as a 2-class problem (one-hot outputs, classes "0" and
 * "1"). Train and test hold the same points (in separate arrays).
 */
export function xor(): Dataset {
  const x = [0, 0, 0, 1, 1, 0, 1, 1];
  const y = [1, 0, 0, 1, 0, 1, 1, 0];
  const split = () => ({ n: 4, x: Float32Array.from(x), y: Float32Array.from(y) });
  return {
    name: 'xor',
    inputs: 2,
    outputs: 2,
    task: 'classification',
    classes: ['0', '1'],
    train: split(),
    test: split(),
  };
}
