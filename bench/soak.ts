/**
 * The full soak of issue 7: 500 steps with a `gradmesh worker` process joining
 * or leaving every 5 steps (leaving alternately with SIGTERM — a polite leave —
 * and SIGKILL), the coordinator's RSS sampled throughout. Too slow for the test
 * suite (every join is a process start, ≈2 s of CPU under tsx); the suite runs
 * the same soak with in-process workers (test/reliability-soak.test.ts).
 *
 *   node --conditions=@gradmesh/source --import tsx bench/soak.ts [--steps 500] [--every 5] [--step-delay 60]
 *
 * Prints the RSS curve (every 50 steps), the churn counts, and whether the
 * final parameters equal `gradmesh train --threads 1` with the same flags;
 * exits 1 if they do not, if a micro-batch was not counted exactly once, or if
 * RSS grew by 16 MiB or more between step 50 and the end.
 */
import { parseArgs } from 'node:util';
import { killStarted } from '../test/helpers/reliability.js';
import { rssNear, soak } from '../test/helpers/reliability-soak.js';

const { values } = parseArgs({ options: { steps: { type: 'string' }, every: { type: 'string' }, 'step-delay': { type: 'string' } } });
const steps = Number(values.steps ?? 500);
const every = Number(values.every ?? 5);
// A pause between steps: a worker process takes ≈2 s to start under tsx, so with 5 steps between
// membership changes a step must take ≈200 ms for churners to join before they are made to leave.
const delay = values['step-delay'] ?? '200';

process.on('exit', () => killStarted());
const r = await soak({ steps, every, processes: true, extra: ['--step-delay', delay], log: (l) => process.stderr.write(`soak: ${l}\n`) });
const curve: string[] = [];
for (let s = 50; s <= steps; s += 50) curve.push(`${s}: ${rssNear(r.rss, Math.min(s, steps - 25)).toFixed(1)}`);
const start = rssNear(r.rss, 50);
const end = rssNear(r.rss, steps - 25);
const ok = r.joined >= r.leaves && r.code === 0 && r.sha === r.referenceSha && r.ledgerProblem === undefined && end - start < 16;
process.stdout.write(
  `soak: ${r.steps} steps in ${r.seconds.toFixed(1)} s with worker processes; ${r.joins} started (${r.joined} seen joined), ${r.leaves} made to leave (${r.kills} SIGKILL, ${r.leaves - r.kills} SIGTERM)\n` +
    `coordinator RSS (MiB) by step: ${curve.join(', ')}\n` +
    `start ${start.toFixed(1)} MiB, end ${end.toFixed(1)} MiB (${(end - start >= 0 ? '+' : '') + (end - start).toFixed(1)})\n` +
    `exit ${r.code}; paramsSha256 ${r.sha === r.referenceSha ? 'equals' : 'DIFFERS FROM'} the single-process run; ledger: ${r.ledgerProblem ?? 'every micro-batch counted once'}\n`,
);
if (r.code !== 0) process.stderr.write(r.stderr);
process.exitCode = ok ? 0 : 1;
