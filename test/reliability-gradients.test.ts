import { afterAll, describe, expect, test } from 'vitest';
import type { TaskEngine } from '@gradmesh/client';
import { collect, lastJson } from './helpers/cli.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killStarted, pool, readLedger, reference, sleep, spawnTracked, startCoordinator, startInProcessWorker, statusOf } from './helpers/reliability.js';

afterAll(() => killStarted());

// Batches of 128 in micro-batches of 16 (each worker's vote averages ≈32 samples), 600 steps
// (256 epochs of spirals: the single-process test loss has flattened out near 0.13).
// The brief's example (batch 32, 300 steps) is measured in the report; the gap is larger there.
const STEPS = 600;
const BATCH = 128;
const RUN = ['--dataset', 'spirals', '--model', '32', '--steps', String(STEPS), '--batch', String(BATCH), '--micro-batch', '16', '--seed', '7', '--lr', '0.01'];

interface Outcome {
  name: string;
  testLoss: number;
  sha: string;
  seconds: number;
  /** Steps in which the attacker's gradients were more than one vote (more than one task reduced). */
  attackerMultiVoteSteps: number;
  /** Steps in which any task was reassigned (a straggler missed the deadline, or a worker left). */
  stepsWithReassignment: number;
  /** Steps reduced from only one or two votes (nothing is trimmed then), and how many of those had the attacker's. */
  fewVoteSteps: number;
  fewVoteStepsWithAttacker: number;
}

type Attacker = 'none' | 'process' | 'liar';

/**
 * A hostile worker in this process: gradients × −1000, like the fault hook, and
 * a compute time of a microsecond, so the coordinator thinks it is by far the
 * fastest worker and hands it (nearly) the whole batch.
 */
const liar = (e: TaskEngine): TaskEngine => ({
  setup: (run) => e.setup(run),
  setParams: (v, p) => e.setParams(v, p),
  compute: async (t) => {
    const r = await e.compute(t);
    const grad = r.grad.slice();
    for (let i = 0; i < grad.length; i++) grad[i] *= -1000;
    return { ...r, grad, computeMs: 0.001 };
  },
});

/**
 * One coordinator run with four workers: honest ones live in this process; the
 * attacker is a real `gradmesh worker` process started with
 * GRADMESH_FAULT_GRAD_SCALE=-1000 (it sends its gradients multiplied by −1000),
 * or the lying one above.
 */
async function runWith(name: string, aggregate: 'mean' | 'median' | 'trimmed-mean', attacker: Attacker): Promise<Outcome> {
  const port = await freePort();
  const token = `agg-${name.replace(/[^a-z0-9]+/gi, '-')}`;
  const url = `ws://127.0.0.1:${port}/ws`;
  const attacking = attacker === 'process' ? [collect(spawnTracked(['worker', '--url', url, '--token', token, '--threads', '1', '--name', 'attacker', '--quiet'], { GRADMESH_FAULT_GRAD_SCALE: '-1000' }))] : [];
  const attackers = attacker === 'none' ? 0 : 1;
  const ledger = join(mkdtempSync(join(tmpdir(), 'gm-agg-')), 'ledger.jsonl');
  const c = await startCoordinator([...RUN, '--port', String(port), '--token', token, '--local-workers', '0', '--min-workers', '4', '--aggregate', aggregate, '--json', '--quiet', '--ledger-out', ledger]);
  const honest = Array.from({ length: 4 - attackers }, (_, i) => startInProcessWorker(c, `honest-${i}`));
  const lying = attacker === 'liar' ? [startInProcessWorker(c, 'attacker', { wrap: liar })] : [];
  // A run that has not ended in 100 s is stuck (alone it takes a few seconds): say where.
  const ended = await Promise.race([c.result.then(() => true), sleep(100_000).then(() => false)]);
  if (!ended) {
    const st = await statusOf(c.base);
    c.child.kill('SIGKILL');
    for (const w of honest) w.kill();
    throw new Error(`${name}: no end after 100 s; status ${JSON.stringify(st)}; honest workers ${JSON.stringify(honest.map((w) => w.status()))}`);
  }
  const r = await c.result;
  await Promise.all([...attacking, ...honest.map((w) => w.result), ...lying.map((w) => w.result)]);
  if (r.code !== 0) throw new Error(`${name}: exit ${r.code}\n${r.stderr}`);
  const done = lastJson(r.stdout);
  // Robust modes vote once per reduced task. Who was the attacker: the one worker not among the honest.
  const honestIds = new Set(honest.map((w) => w.status().workerId));
  const rows = readLedger(ledger);
  const votes = new Map<number, number>();
  for (const x of rows) if (x.status === 'done' && !honestIds.has(x.worker)) votes.set(x.step, (votes.get(x.step) ?? 0) + 1);
  const attackerMultiVoteSteps = [...votes.values()].filter((v) => v > 1).length;
  const stepsWithReassignment = new Set(rows.filter((x) => x.status === 'reassigned' || x.status === 'lost').map((x) => x.step)).size;
  const k = new Map<number, number>();
  for (const x of rows) if (x.status === 'done') k.set(x.step, (k.get(x.step) ?? 0) + 1);
  const few = [...k].filter(([, n]) => n <= 2);
  const fewVoteSteps = few.length;
  const fewVoteStepsWithAttacker = few.filter(([step]) => votes.has(step)).length;
  console.log(`[reliability] ${name}: ${done.seconds} s`);
  return { name, testLoss: done.testLoss, sha: done.paramsSha256, seconds: done.seconds, attackerMultiVoteSteps, stepsWithReassignment, fewVoteSteps, fewVoteStepsWithAttacker };
}

describe('robust aggregation against a hostile worker', () => {
  test('trimmed-mean with one of four workers sending gradients × −1000 ends within 5% of the clean test loss; median and trimmed-mean without an attacker within 2% of the mean', async () => {
    const ref = reference(RUN);
    const specs: Array<[string, 'mean' | 'median' | 'trimmed-mean', Attacker]> = [
      ['clean mean', 'mean', 'none'],
      ['trimmed-mean, 1 attacker', 'trimmed-mean', 'process'],
      ['median, clean', 'median', 'none'],
      ['trimmed-mean, clean', 'trimmed-mean', 'none'],
      // The control: the same attack against plain averaging, to show it is an attack.
      ['mean, 1 attacker', 'mean', 'process'],
      // The same attacker, also claiming to compute in a microsecond.
      ['trimmed-mean, lying attacker', 'trimmed-mean', 'liar'],
    ];
    const out = await pool(specs, 2, ([name, agg, attacker]) => runWith(name, agg, attacker));
    const by = Object.fromEntries(out.map((o) => [o.name, o])) as Record<string, Outcome>;
    const clean = by['clean mean']!.testLoss;
    const rel = (x: number): string => (Number.isFinite(x) ? `${(((x - clean) / clean) * 100).toFixed(2)}%` : 'not finite');
    console.log(
      `[reliability] robust aggregation, spirals 2-32-3, ${STEPS} steps of batch ${BATCH}, adam lr 0.01 (single-process test loss ${(await ref).testLoss.toFixed(4)}):\n` +
        out
          .map((o) => `  ${o.name.padEnd(26)} test loss ${Number.isFinite(o.testLoss) ? o.testLoss.toFixed(4) : String(o.testLoss)} (${rel(o.testLoss)} vs clean mean); steps reduced from ≤ 2 votes: ${o.fewVoteSteps}${o.name.includes('attacker') ? ` (${o.fewVoteStepsWithAttacker} with the attacker's)` : ''}, with a reassignment: ${o.stepsWithReassignment}, with several attacker votes: ${o.attackerMultiVoteSteps}`)
          .join('\n'),
    );
    // Plain averaging with four honest workers is the single-process run, bit for bit.
    expect(by['clean mean']!.sha).toBe((await ref).sha);
    // The attack is real: averaging it in wrecks the model.
    expect(!Number.isFinite(by['mean, 1 attacker']!.testLoss) || by['mean, 1 attacker']!.testLoss > 2 * clean).toBe(true);
    // Each claim on its own, so that one missing does not hide the others.
    expect.soft(Math.abs(by['trimmed-mean, 1 attacker']!.testLoss - clean) / clean, 'trimmed-mean under attack vs clean mean').toBeLessThanOrEqual(0.05);
    expect.soft(Math.abs(by['median, clean']!.testLoss - clean) / clean, 'median vs mean, no attacker').toBeLessThanOrEqual(0.02);
    expect.soft(Math.abs(by['trimmed-mean, clean']!.testLoss - clean) / clean, 'trimmed-mean vs mean, no attacker').toBeLessThanOrEqual(0.02);
    // A hostile worker is not bound to report its compute time honestly.
    expect.soft(Math.abs(by['trimmed-mean, lying attacker']!.testLoss - clean) / clean, 'trimmed-mean vs an attacker that claims to be fast').toBeLessThanOrEqual(0.05);
  }, 240_000);
});
