import type { Dataset, Split } from '../dataset.js';
import { detmath } from '@gradmesh/core';
import { streamRng, type Rng } from '../rng.js';
import { checkInt, checkNonNegative } from './check.js';

export interface SpiralsOptions {
  /** Training points per class (default 100, as in cs231n: 300 in all for 3 classes). */
  n?: number;
  /** Test points per class (default: n). */
  nTest?: number;
  /** Number of arms / classes (default 3). */
  classes?: number;
  /** Standard deviation of the angle noise in radians (default 0.2). */
  noise?: number;
  seed?: number;
}

const TRAIN_STREAM = 1;
const TEST_STREAM = 2;

/**
 * The cs231n spiral: arm j has points r·(sin t, cos t) with radius r in [0, 1]
 * and angle t = 4j + 4r + noise·N(0,1).
 *
 * Train uses cs231n's evenly spaced radii (linspace(0, 1, n)); test draws the
 * radius uniformly from [0, 1] with an independent noise stream — the same
 * distribution, different points. Rows are grouped by class.
 */
export function spirals(options: SpiralsOptions = {}): Dataset {
  const { n = 100, classes = 3, noise = 0.2, seed = 0 } = options;
  const nTest = options.nTest ?? n;
  checkInt('spirals: n', n, 1, 1e7);
  checkInt('spirals: nTest', nTest, 0, 1e7);
  checkInt('spirals: classes', classes, 2, 1000);
  checkNonNegative('spirals: noise', noise);
  const train = arms(n, classes, noise, streamRng(seed, TRAIN_STREAM), (i) => (n === 1 ? 0 : i / (n - 1)));
  const testRng = streamRng(seed, TEST_STREAM);
  const test = arms(nTest, classes, noise, testRng, () => testRng.next());
  return {
    name: n === 100 ? 'spirals' : `spirals:${n}`,
    inputs: 2,
    outputs: classes,
    task: 'classification',
    classes: Array.from({ length: classes }, (_, j) => String(j)),
    train,
    test,
  };
}

function arms(perClass: number, classes: number, noise: number, rng: Rng, radius: (i: number) => number): Split {
  const total = perClass * classes;
  const x = new Float32Array(total * 2);
  const y = new Float32Array(total * classes);
  for (let j = 0; j < classes; j++) {
    for (let i = 0; i < perClass; i++) {
      const r = radius(i);
      const t = 4 * j + 4 * r + noise * rng.normal();
      const row = j * perClass + i;
      // sin t = sinPi(t/π): core's deterministic trig works in half-turns.
      const halfTurns = t / Math.PI;
      x[row * 2] = r * detmath.sinPi(halfTurns);
      x[row * 2 + 1] = r * detmath.cosPi(halfTurns);
      y[row * classes + j] = 1;
    }
  }
  return { n: total, x, y };
}
