import type { Dataset, Split } from '../dataset.js';
import { detmath } from '@gradmesh/core';
import { streamRng, type Rng } from '../rng.js';
import { checkInt } from './check.js';

export interface SineOptions {
  /** Training samples (default 1000). */
  n?: number;
  /** Test samples (default ⌈n/5⌉). */
  nTest?: number;
  seed?: number;
}

const TRAIN_STREAM = 1;
const TEST_STREAM = 2;

/** Regression: x uniform in [−π, π], y = sin x (1 input, 1 output). */
export function sine(options: SineOptions = {}): Dataset {
  const { n = 1000, seed = 0 } = options;
  const nTest = options.nTest ?? Math.ceil(n / 5);
  checkInt('sine: n', n, 1, 1e8);
  checkInt('sine: nTest', nTest, 0, 1e8);
  return {
    name: n === 1000 ? 'sine' : `sine:${n}`,
    inputs: 1,
    outputs: 1,
    task: 'regression',
    train: draw(n, streamRng(seed, TRAIN_STREAM)),
    test: draw(nTest, streamRng(seed, TEST_STREAM)),
  };
}

function draw(n: number, rng: Rng): Split {
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // y is the sine of the stored (float32) x, so the pair is exactly consistent.
    const xi = Math.fround(-Math.PI + 2 * Math.PI * rng.next());
    x[i] = xi;
    y[i] = detmath.sinPi(xi / Math.PI); // deterministic sin (see core's detmath)
  }
  return { n, x, y };
}
