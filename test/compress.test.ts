import { describe, expect, test } from 'vitest';
import { lastJson, type DoneLine } from './helpers/cli.js';
import { startCoordinator } from './helpers/coordinator.js';

// --compress end to end: a coordinator and two worker processes train MNIST 784-128-10 relu with
// the CLI defaults (adam, batch 64, micro-batch 32, cosine schedule) for 3 epochs (375 steps),
// float32 against fp16 and int8. The bar: bytes per step halved or quartered, test
// accuracy within 0.3 points of float32 after the same number of steps.
const RUN = ['--dataset', 'mnist', '--model', '128', '--activation', 'relu', '--epochs', '3', '--local-workers', '2', '--local-threads', '1', '--json', '--quiet'];

interface Trained {
  accuracy: number;
  /** Message bytes the coordinator sent and received per step (its own counters). */
  bytesPerStep: number;
  seconds: number;
}

async function train(compress: string): Promise<Trained> {
  const t0 = Date.now();
  const c = await startCoordinator([...RUN, '--compress', compress]);
  const r = await c.result;
  expect(r.code, r.stderr).toBe(0);
  const done = lastJson<DoneLine & { wire: { sentBytes: number; receivedBytes: number } }>(r.stdout);
  const trained = { accuracy: done.testAccuracy, bytesPerStep: (done.wire.sentBytes + done.wire.receivedBytes) / done.steps, seconds: (Date.now() - t0) / 1000 };
  console.log(`--compress ${compress}: test accuracy ${(100 * trained.accuracy).toFixed(2)}%, ${Math.round(trained.bytesPerStep)} bytes/step, ${trained.seconds.toFixed(1)} s`);
  return trained;
}

describe('--compress on MNIST: fewer bytes per step, the same accuracy', () => {
  let float32: Promise<Trained> | undefined;
  const baseline = () => (float32 ??= train('none'));

  test.each([
    ['fp16', 0.55],
    ['int8', 0.3],
  ])('%s: test accuracy within 0.3 points of float32, bytes per step ≤ %s× float32', { timeout: 150_000 }, async (compress, ratio) => {
    const none = await baseline();
    const got = await train(compress as string);
    expect(Math.abs(got.accuracy - none.accuracy) * 100).toBeLessThanOrEqual(0.3);
    expect(got.bytesPerStep / none.bytesPerStep).toBeLessThanOrEqual(ratio as number);
    // Not a run that learned nothing: 3 epochs of float32 reach about 92%.
    expect(none.accuracy).toBeGreaterThan(0.9);
  });
});
