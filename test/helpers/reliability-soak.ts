import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, lastJson, type CliResult } from './cli.js';
import {
  base,
  countedOnce,
  finish,
  readLedger,
  reference,
  rssKiB,
  sleep,
  spawnTracked,
  startCoordinator,
  startInProcessWorker,
  statusOf,
  waitFor,
  type InProcessWorker,
} from './reliability.js';

/**
 * The soak: a long run with a worker joining or leaving every `every` steps,
 * sampling the coordinator's RSS as it goes. Churn is either in-process
 * workers (cheap: the test suite's version) or real `gradmesh worker`
 * processes (bench/soak.ts), killed with SIGKILL or stopped with SIGTERM in turn.
 */
export interface SoakOptions {
  steps: number;
  every: number;
  processes: boolean;
  /** Extra coordinator flags (a --step-delay so that process start-up keeps up). */
  extra?: string[];
  log?: (line: string) => void;
}

export interface SoakResult {
  steps: number;
  seconds: number;
  joins: number;
  /** Churners seen in the run's membership (/api/status) before they left or the run ended. */
  joined: number;
  leaves: number;
  kills: number;
  /** [step, RSS KiB] samples of the coordinator. */
  rss: Array<[number, number]>;
  code: number | null;
  sha: string | null;
  referenceSha: string;
  ledgerProblem: string | undefined;
  stderr: string;
}

interface Churner {
  name: string;
  leave(): void;
  kill(): void;
  done: Promise<unknown>;
}

export async function soak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? (() => {});
  const args = base(o.steps);
  const ref = reference(args);
  const dir = mkdtempSync(join(tmpdir(), 'gm-soak-'));
  const c = await startCoordinator([...args, '--local-workers', '0', '--min-workers', '1', '--json', '--quiet', '--ledger-out', join(dir, 'ledger.jsonl'), ...(o.extra ?? [])]);
  let step = 0;
  // The anchor never leaves: the run always has someone to give work to. It reports the step.
  const anchor = startInProcessWorker(c, 'anchor', { onStatus: (s) => (step = Math.max(step, s.paramsVersion ?? 0)) });
  const t0 = Date.now();
  const rss: Array<[number, number]> = [];
  const pool: Churner[] = [];
  const gone: Array<Promise<unknown>> = [];
  let joins = 0;
  let leaves = 0;
  let kills = 0;
  let n = 0;
  const join1 = (): void => {
    const name = `churn-${++n}`;
    if (o.processes) {
      const child = spawnTracked(['worker', '--url', c.wsUrl, '--token', c.token, '--threads', '1', '--name', name, '--quiet']);
      const done: Promise<CliResult> = collect(child);
      pool.push({ name, leave: () => child.kill('SIGTERM'), kill: () => child.kill('SIGKILL'), done });
    } else {
      const w: InProcessWorker = startInProcessWorker(c, name);
      pool.push({ name, leave: w.leave, kill: w.kill, done: w.result });
    }
    joins++;
  };
  // Every `every` steps: join while fewer than 2 churners, leave while more than 3, else alternate.
  // Only a churner that has joined is made to leave (a process takes a while to start); if none
  // has yet, that event is a join instead.
  const seen = new Set<string>();
  const look = async (): Promise<void> => {
    const st = await statusOf(c.base);
    for (const w of st?.workers ?? []) if (w.name.startsWith('churn-')) seen.add(w.name);
  };
  let event = 0;
  const sampler = setInterval(() => {
    const kib = rssKiB(c.child.pid!);
    if (Number.isFinite(kib)) rss.push([step, kib]);
  }, 250);
  try {
    for (let at = o.every; at < o.steps; at += o.every) {
      await waitFor(`step ${at}`, () => step >= at || c.child.exitCode !== null, 600_000, 5);
      if (c.child.exitCode !== null) break;
      event++;
      await look();
      const ready = pool.findIndex((w) => seen.has(w.name));
      const wantJoin = ready < 0 || pool.length < 2 || (pool.length <= 3 && event % 2 === 1);
      if (wantJoin) join1();
      else {
        const w = pool.splice(ready, 1)[0]!;
        // Alternate: a polite leave, then an abrupt death.
        if (leaves % 2 === 0) w.leave();
        else {
          w.kill();
          kills++;
        }
        leaves++;
        gone.push(w.done);
      }
      if (event % 20 === 0) log(`step ${step}: ${joins} joins (${seen.size} seen in the run), ${leaves} leaves, ${pool.length} churners + the anchor, coordinator RSS ${Math.round(rssKiB(c.child.pid!) / 1024)} MiB`);
    }
    await look();
    const r = await finish(c, 600_000);
    const seconds = (Date.now() - t0) / 1000;
    // Workers told 'done' end at once; one still starting when the run ended would retry its
    // connection for minutes (workers outlive coordinator restarts): end it after a grace period.
    const all = Promise.all([anchor.result, ...pool.map((w) => w.done), ...gone]);
    if (!(await Promise.race([all.then(() => true), sleep(3000).then(() => false)]))) for (const w of pool) w.kill();
    await all;
    return {
      steps: o.steps,
      seconds,
      joins,
      joined: seen.size,
      leaves,
      kills,
      rss,
      code: r.code,
      sha: r.code === 0 ? lastJson(r.stdout).paramsSha256 : null,
      referenceSha: (await ref).sha,
      ledgerProblem: countedOnce(readLedger(join(dir, 'ledger.jsonl')), 0, o.steps),
      stderr: r.stderr,
    };
  } finally {
    clearInterval(sampler);
  }
}

/** RSS (MiB) near a step: the median of the samples within ±window steps. */
export function rssNear(rss: Array<[number, number]>, step: number, window = 25): number {
  const near = rss.filter(([s]) => Math.abs(s - step) <= window).map(([, k]) => k).sort((a, b) => a - b);
  return near.length ? near[near.length >> 1]! / 1024 : Number.NaN;
}
