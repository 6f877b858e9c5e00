import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, test, type ExpectStatic } from 'vitest';
import { decodeModel } from '@gradmesh/core';
import { collect, lastJson, runCli } from './helpers/cli.js';
import {
  base,
  countedOnce,
  finish,
  freePort,
  kill,
  killStarted,
  pool,
  readLedger,
  reference,
  seeded,
  semaphore,
  sleep,
  spawnTracked,
  startCoordinator,
  startInProcessWorker,
  waitFor,
  type InProcessWorker,
} from './helpers/reliability.js';

// Every run here must end bit-identical to `gradmesh train --threads 1` with the same flags.
// 40 steps (4 epochs of spirals): long enough for kills at many points of the step cycle,
// short enough for 20 + 10 runs with real processes on a 2-core machine.
const STEPS = 40;
const RUN = base(STEPS);
const CKPT_EVERY = 4;

afterAll(() => killStarted());

// The runs below are mostly process start-up (≈2 s of CPU each under tsx) and waiting on the
// network: every test of the file runs concurrently, sharing four slots for coordinator runs.
const slot = semaphore(4);

/** Resolves once any of the workers holds parameters of version ≥ step (step `step` is under way). */
function atStep(workers: () => InProcessWorker[], step: number): Promise<void> {
  return waitFor(`step ${step}`, () => workers().some((w) => (w.status().paramsVersion ?? -1) >= step), 60_000, 5).then(() => undefined);
}

function checkpointStep(file: string): number {
  return (decodeModel(new Uint8Array(readFileSync(file))).meta as { step: number }).step;
}

describe.concurrent('worker and coordinator faults', () => {
  // 20 seeded runs: four workers, one a real `gradmesh worker` process killed with SIGKILL at a
  // seeded step; the other three live in this process (no 2 s tsx start-up each).
  const SEEDS = Array.from({ length: 20 }, (_, i) => 1000 + i);

  test('20 seeded runs each SIGKILL one of four workers: 20/20 finish, every micro-batch counted once, same parameters', async ({ expect }) => {
    const ref = await reference(RUN);
    const outcomes = await pool(SEEDS, SEEDS.length, (seed) => slot(async () => {
      const rnd = seeded(seed);
      const killAt = 2 + Math.floor(rnd() * (STEPS - 6)); // steps 2..35
      const dir = mkdtempSync(join(tmpdir(), 'gm-wf-'));
      const port = await freePort();
      const token = `wf-${seed}`;
      // The victim starts with the coordinator and connects when it is up (it retries with backoff).
      const victim = spawnTracked(['worker', '--url', `ws://127.0.0.1:${port}/ws`, '--token', token, '--threads', '1', '--name', 'victim', '--quiet']);
      const victimResult = collect(victim);
      // A long straggler deadline: the victim's first task waits for its dataset download, and a
      // worker once marked a straggler may never be given work again (see the report), so a kill
      // would find it idle. Disconnects are reassigned at once, whatever the deadline.
      const c = await startCoordinator([...RUN, '--port', String(port), '--token', token, '--local-workers', '0', '--min-workers', '4', '--deadline-floor', '10000', '--json', '--quiet', '--ledger-out', join(dir, 'ledger.jsonl')]);
      const survivors = ['a', 'b', 'c'].map((n) => startInProcessWorker(c, `${n}-${seed}`));
      await atStep(() => survivors, killAt);
      const survivorIds = new Set(survivors.map((w) => w.status().workerId));
      kill(victim, 'SIGKILL');
      const r = await finish(c);
      const v = await victimResult;
      const results = await Promise.all(survivors.map((w) => w.result));
      const rows = readLedger(join(dir, 'ledger.jsonl'));
      const victimId = [...new Set(rows.map((x) => x.worker))].find((id) => !survivorIds.has(id));
      return {
        seed,
        killAt,
        code: r.code,
        stderr: r.stderr,
        sha: r.code === 0 ? lastJson(r.stdout).paramsSha256 : null,
        victimSignal: v.signal,
        survivorsDone: results.every((x) => 'reason' in x && /finished/.test(x.reason)),
        problem: countedOnce(rows, 0, STEPS),
        victimDoneBefore: rows.some((x) => x.worker === victimId && x.status === 'done' && x.step <= killAt),
        victimDoneAfter: rows.filter((x) => x.worker === victimId && x.status === 'done' && x.step > killAt + 1).map((x) => x.step),
        lost: rows.filter((x) => x.status === 'lost').length,
        reassigned: rows.filter((x) => x.status === 'reassigned').length,
      };
    }));
    console.log(
      `[reliability] worker faults: ${outcomes.filter((o) => o.code === 0).length}/${outcomes.length} finished; kill steps ${outcomes.map((o) => o.killAt).join(',')}; ` +
        `lost tasks reassigned: ${outcomes.map((o) => o.lost).join(',')}; deadline reassignments: ${outcomes.reduce((s, o) => s + o.reassigned, 0)}`,
    );
    for (const o of outcomes) {
      const what = `seed ${o.seed} (kill at step ${o.killAt})`;
      expect(o.code, `${what}: ${o.stderr}`).toBe(0);
      expect(o.victimSignal, what).toBe('SIGKILL');
      expect(o.sha, what).toBe(ref.sha);
      expect(o.problem, what).toBeUndefined();
      expect(o.survivorsDone, what).toBe(true);
      // The victim did real work before the kill and none after it.
      expect(o.victimDoneBefore, what).toBe(true);
      expect(o.victimDoneAfter, what).toEqual([]);
    }
  }, 300_000);

  test('every worker gone: the coordinator waits --worker-timeout, stops with one clear message, and its checkpoint resumes to the same result', async ({ expect }) => {
    await slot(() => allGone(expect));
  }, 300_000);

  async function allGone(expect: ExpectStatic): Promise<void> {
    const ref = await reference(RUN);
    const dir = mkdtempSync(join(tmpdir(), 'gm-wt-'));
    const ck = join(dir, 'ck');
    const port = await freePort();
    // --checkpoint-every beyond the run: the only checkpoint is the one written on the way out.
    const args = [...RUN, '--port', String(port), '--token', 'timeout-test', '--local-workers', '0', '--min-workers', '2', '--checkpoint-dir', ck, '--checkpoint-every', '1000', '--json', '--quiet'];
    const c = await startCoordinator([...args, '--worker-timeout', '1']);
    const ws = [startInProcessWorker(c, 'a'), startInProcessWorker(c, 'b')];
    await atStep(() => ws, 17);
    const killedAt = Date.now();
    for (const w of ws) w.kill();
    await waitFor('the worker-timeout message', () => /no worker connected/.test(c.stderr()), 30_000);
    const waited = Date.now() - killedAt;
    // Having said it stops, it must exit (with the run's error status), not linger.
    const exited = await Promise.race([c.result.then(() => true), sleep(5000).then(() => false)]);
    kill(c.child);
    const r = await c.result;
    expect.soft(exited, 'the coordinator printed that it stops, but was still running 5 s later').toBe(true);
    if (exited) expect(r.code, r.stderr).toBe(1);
    expect(waited).toBeGreaterThanOrEqual(1000);
    expect(waited).toBeLessThan(10_000);
    const lines = r.stderr.split('\n').filter((l) => /no worker connected/.test(l));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^gradmesh: no worker connected for 1 s at step (\\d+); stopping; checkpoint saved in ${ck.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(resume with --resume\\)$`));
    const stoppedAt = Number(/at step (\d+)/.exec(lines[0]!)![1]);
    expect(r.stderr).not.toMatch(/internal error|Error:|at .*\.ts:\d+/);
    expect(r.stdout).not.toMatch(/"event":"done"/);
    expect(existsSync(join(ck, 'checkpoint.gmsh'))).toBe(true);
    expect(checkpointStep(join(ck, 'checkpoint.gmsh'))).toBe(stoppedAt);
    // The saved state is the real one: resuming it ends where the uninterrupted run ends.
    const c2 = await startCoordinator([...args, '--resume', '--ledger-out', join(dir, 'ledger2.jsonl')]);
    const ws2 = [startInProcessWorker(c2, 'a2'), startInProcessWorker(c2, 'b2')];
    const r2 = await finish(c2);
    expect(r2.code, r2.stderr).toBe(0);
    expect(lastJson(r2.stdout).paramsSha256).toBe(ref.sha);
    // It resumed (a fresh start would reach the same sha too): its first step is the saved one.
    const rows2 = readLedger(join(dir, 'ledger2.jsonl'));
    expect(Math.min(...rows2.map((x) => x.step))).toBe(stoppedAt);
    expect(countedOnce(rows2, stoppedAt, STEPS)).toBeUndefined();
    await Promise.all(ws2.map((w) => w.result));
    console.log(`[reliability] all workers gone at step ${stoppedAt}: message after ${waited} ms (timeout 1 s), ${exited ? `exit ${r.code}` : 'process did NOT exit (killed by the test)'}, checkpoint at step ${stoppedAt} resumed to the same sha`);
  }

  type Point = { kind: 'step'; step: number } | { kind: 'in-checkpoint'; n: number };
  // Checkpoints every 4 steps (the n-th after step 4n) and one more when the run ends (the 11th).
  const FINAL_CHECKPOINT = STEPS / CKPT_EVERY + 1;
  const POINTS: Point[] = [
    { kind: 'step', step: 5 },
    { kind: 'step', step: 9 },
    { kind: 'in-checkpoint', n: 3 },
    { kind: 'step', step: 14 },
    { kind: 'step', step: 19 },
    { kind: 'step', step: 23 },
    { kind: 'in-checkpoint', n: 7 },
    { kind: 'step', step: 30 },
    { kind: 'step', step: 37 },
    { kind: 'in-checkpoint', n: FINAL_CHECKPOINT },
  ];
  test('kill -9 at ten points (three of them half-way through writing a checkpoint): every --resume reaches the uninterrupted result', async ({ expect }) => {
    const ref = await reference(RUN);
    const outcomes = await pool(POINTS, POINTS.length, (p, i) => slot(async () => {
      const dir = mkdtempSync(join(tmpdir(), 'gm-cf-'));
      const ck = join(dir, 'ck');
      const port = await freePort();
      const args = [...RUN, '--port', String(port), '--token', `cf-${i}`, '--local-workers', '0', '--min-workers', '2', '--checkpoint-dir', ck, '--checkpoint-every', String(CKPT_EVERY), '--json', '--quiet'];
      const env = p.kind === 'in-checkpoint' ? { GRADMESH_FAULT_KILL_IN_CHECKPOINT: String(p.n) } : {};
      const c1 = await startCoordinator(args, env);
      const ws = [startInProcessWorker(c1, `a${i}`), startInProcessWorker(c1, `b${i}`)];
      let stepAtKill = -1;
      if (p.kind === 'step') {
        await atStep(() => ws, p.step);
        stepAtKill = Math.max(...ws.map((w) => w.status().paramsVersion ?? 0));
        kill(c1.child, 'SIGKILL');
      }
      const r1 = await finish(c1);
      const tmpLeft = readdirSync(ck).filter((f) => f.endsWith('.tmp'));
      const resumedFrom = checkpointStep(join(ck, 'checkpoint.gmsh'));
      const c2 = await startCoordinator([...args, '--resume', '--ledger-out', join(dir, 'ledger2.jsonl')]);
      const r2 = await finish(c2);
      const rows2 = readLedger(join(dir, 'ledger2.jsonl'));
      const results = await Promise.all(ws.map((w) => w.result));
      return {
        p,
        signal1: r1.signal,
        finished1: /"event":"done"/.test(r1.stdout),
        stepAtKill,
        tmpLeft,
        resumedFrom,
        code2: r2.code,
        stderr2: r2.stderr,
        sha: r2.code === 0 ? lastJson(r2.stdout).paramsSha256 : null,
        workersDone: results.every((x) => 'reason' in x && /finished/.test(x.reason)),
        // A resumed run computes exactly the steps after its checkpoint, each micro-batch once.
        firstStep2: rows2.length ? Math.min(...rows2.map((x) => x.step)) : STEPS,
        problem2: countedOnce(rows2, resumedFrom, STEPS),
      };
    }));
    console.log(
      `[reliability] coordinator kills: ${outcomes
        .map((o) => `${o.p.kind === 'step' ? `step ${o.p.step} (seen ${o.stepAtKill})` : `in checkpoint #${o.p.n}`} → resumed from step ${o.resumedFrom}${o.tmpLeft.length ? ' (half-written temp file left, ignored)' : ''}`)
        .join('; ')}; ${outcomes.filter((o) => o.sha === ref.sha).length}/${outcomes.length} reached the uninterrupted sha`,
    );
    for (const o of outcomes) {
      const what = JSON.stringify(o.p);
      expect(o.signal1, what).toBe('SIGKILL');
      expect(o.code2, `${what}: ${o.stderr2}`).toBe(0);
      expect(o.sha, what).toBe(ref.sha);
      expect(o.workersDone, what).toBe(true);
      expect(o.firstStep2, what).toBe(o.resumedFrom);
      expect(o.problem2, what).toBeUndefined();
      if (o.p.kind === 'in-checkpoint') {
        // The half-written file never replaced the previous checkpoint.
        expect(o.resumedFrom, what).toBe(o.p.n === FINAL_CHECKPOINT ? STEPS : CKPT_EVERY * (o.p.n - 1));
        expect(o.tmpLeft.length, what).toBe(1);
      } else {
        // The last checkpoint before the kill (the coordinator may have run a step or two past
        // the step we saw before the signal landed).
        expect(o.finished1, what).toBe(false);
        expect(o.resumedFrom % CKPT_EVERY, what).toBe(0);
        expect(o.resumedFrom, what).toBeGreaterThanOrEqual(Math.floor(o.p.step / CKPT_EVERY) * CKPT_EVERY);
        expect(o.resumedFrom, what).toBeLessThan(STEPS);
      }
    }
  }, 300_000);

  test('a truncated or corrupted checkpoint is refused with an error naming the file, never loaded', async ({ expect }) => {
    // A good checkpoint to damage, from a short run of our own.
    const dir = mkdtempSync(join(tmpdir(), 'gm-cc-'));
    const srcArgs = [...base(8), '--token', 'cc', '--local-workers', '0', '--min-workers', '1', '--checkpoint-dir', join(dir, 'ck'), '--json', '--quiet'];
    await slot(async () => {
      const c = await startCoordinator(srcArgs);
      startInProcessWorker(c, 'a');
      expect((await finish(c)).code).toBe(0);
    });
    const src = { dir: join(dir, 'ck'), args: srcArgs };
    const good = readFileSync(join(src.dir, 'checkpoint.gmsh'));
    const variants: Array<[string, (file: string) => void]> = [
      ['truncated to half', (f) => truncateSync(f, good.length >> 1)],
      ['one byte flipped in the parameters', (f) => flip(f, good.length - 40)],
      ['one byte flipped in the JSON header', (f) => flip(f, 20)],
      ['empty', (f) => writeFileSync(f, '')],
    ];
    const args = src.args;
    const results = await Promise.all(
      variants.map(async ([name, damage]) => {
        const ck = join(mkdtempSync(join(tmpdir(), 'gm-cc-')), 'ck');
        mkdirSync(ck);
        const file = join(ck, 'checkpoint.gmsh');
        copyFileSync(join(src.dir, 'checkpoint.gmsh'), file);
        damage(file);
        const damaged = readFileSync(file);
        const r = await runCli(['coordinator', ...replaceFlag(args, '--checkpoint-dir', ck), '--port', '0', '--resume'], {}, 60_000);
        return { name, file, r, unchanged: Buffer.compare(damaged, readFileSync(file)) === 0, size: statSync(file).size };
      }),
    );
    for (const { name, file, r, unchanged } of results) {
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, name).toHaveLength(1);
      expect(lines[0], name).toContain(file);
      expect(lines[0], name).toMatch(/damaged and was not loaded \(not a readable gradmesh model: .*(checksum|shorter|magic)/);
      // Never loaded: it did not start serving, and left the damaged file for the user to look at.
      expect(r.stdout, name).not.toMatch(/machines:|resuming/);
      expect(unchanged, name).toBe(true);
    }
    console.log(`[reliability] damaged checkpoints refused: ${results.map((x) => `${x.name} → "${x.r.stderr.trim()}"`).join(' | ')}`);
  }, 120_000);

  test('killed half-way through its first checkpoint: no checkpoint file exists, only the temp file, and --resume says so', async ({ expect }) => {
    await slot(() => firstCheckpoint(expect));
  }, 300_000);

  async function firstCheckpoint(expect: ExpectStatic): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'gm-c1-'));
    const ck = join(dir, 'ck');
    const args = [...RUN, '--token', 'c1', '--local-workers', '0', '--min-workers', '1', '--checkpoint-dir', ck, '--checkpoint-every', String(CKPT_EVERY), '--json', '--quiet'];
    const c = await startCoordinator(args, { GRADMESH_FAULT_KILL_IN_CHECKPOINT: '1' });
    const w = startInProcessWorker(c, 'a');
    const r = await finish(c);
    w.kill();
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(ck, 'checkpoint.gmsh'))).toBe(false);
    expect(readdirSync(ck).filter((f) => f.endsWith('.tmp'))).toHaveLength(1);
    const again = await runCli(['coordinator', ...args, '--port', '0', '--resume'], {}, 60_000);
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(`gradmesh: --resume: no checkpoint at ${join(ck, 'checkpoint.gmsh')}`);
  }
});

function flip(file: string, at: number): void {
  const b = readFileSync(file);
  b[at] = b[at]! ^ 0x10;
  writeFileSync(file, b);
}

function replaceFlag(args: string[], name: string, value: string): string[] {
  const out = [...args];
  const i = out.indexOf(name);
  out[i + 1] = value;
  return out;
}
