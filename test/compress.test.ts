import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { lastJson, type DoneLine } from './helpers/cli.js';
import { startCoordinator } from './helpers/coordinator.js';

// --compress end to end, with real processes. MNIST 784-128-10 relu with the CLI defaults (adam,
// batch 64, micro-batch 32, cosine schedule, one local worker on all cores) for 3 epochs (375
// steps), float32 against fp16 and int8. The bar: bytes per step halved or quartered,
// test accuracy within 0.3 points of float32 after the same number of steps. One worker sends one
// gradient node per step, so the bytes compare encodings, not how shards happened to be split.
const MNIST = ['--dataset', 'mnist', '--model', '128', '--activation', 'relu', '--epochs', '3', '--json', '--quiet'];

interface Trained {
  accuracy: number;
  /** Message bytes the coordinator sent and received per step (its own counters). */
  bytesPerStep: number;
  seconds: number;
}

async function train(compress: string): Promise<Trained> {
  const t0 = Date.now();
  const c = await startCoordinator([...MNIST, '--compress', compress]);
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

test('three worker processes share a compressed run: every gradient accepted, every micro-batch counted once', { timeout: 60_000 }, async () => {
  // 8 micro-batches a step over 3 workers: shards of 2-3 micro-batches, several tree nodes per gradient.
  const dir = mkdtempSync(join(tmpdir(), 'gm-compress-'));
  const ledger = join(dir, 'ledger.jsonl');
  const steps = 60;
  const args = ['--dataset', 'spirals', '--model', '32', '--steps', String(steps), '--batch', '32', '--micro-batch', '4', '--local-workers', '3', '--local-threads', '1'];
  const c = await startCoordinator([...args, '--compress', 'int8', '--ledger-out', ledger, '--json', '--quiet']);
  const r = await c.result;
  expect(r.code, r.stderr).toBe(0);
  const rows = readFileSync(ledger, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; worker: string; mbLo: number; mbHi: number; status: string });
  // A refused gradient would leave its task to the straggler deadline: reassigned, not done.
  expect(rows.filter((x) => x.status !== 'assigned' && x.status !== 'done')).toEqual([]);
  expect(new Set(rows.filter((x) => x.status === 'done').map((x) => x.worker)).size).toBe(3);
  // spirals: 300 training samples, 10 steps an epoch, the last of 12 samples (3 micro-batches).
  const microBatches = (step: number): number => Math.ceil(Math.min(32, 300 - (step % 10) * 32) / 4);
  for (let s = 0; s < steps; s++) {
    const covered = rows.filter((x) => x.step === s && x.status === 'done').reduce((n, x) => n + x.mbHi - x.mbLo, 0);
    expect(covered, `step ${s}`).toBe(microBatches(s));
  }
});
