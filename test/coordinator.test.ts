import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { lastJson, runCli, waitFor } from './helpers/cli.js';
import { startCoordinator } from './helpers/coordinator.js';

// A small run every variant below must reproduce: spirals, 2-32-3, 150 steps of batch 32
// cut into 8 micro-batches of 4, so shards of 1..3 workers fall on different boundaries.
const RUN = ['--dataset', 'spirals', '--model', '32', '--steps', '150', '--batch', '32', '--micro-batch', '4', '--seed', '7', '--lr', '0.01'];

async function singleProcess(): Promise<{ sha: string; losses: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'gm-'));
  const r = await runCli(['train', ...RUN, '--threads', '1', '--json', '--quiet', '--metrics-out', join(dir, 'm.jsonl')]);
  expect(r.code, r.stderr).toBe(0);
  return { sha: lastJson(r.stdout).paramsSha256, losses: stepLosses(join(dir, 'm.jsonl')) };
}

function stepLosses(file: string): number[] {
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step?: number; loss?: number; event?: string })
    .filter((x) => x.event === undefined)
    .map((x) => x.loss!);
}

interface LedgerRow {
  step: number;
  taskId: number;
  worker: string;
  mbLo: number;
  mbHi: number;
  status: string;
}

/** Every micro-batch of every step was counted exactly once (done), whatever was lost or reassigned. */
// spirals has 300 training samples: 10 steps per epoch, the last of 12 samples (3 micro-batches).
const microBatches = (step: number): number => Math.ceil(Math.min(32, 300 - (step % 10) * 32) / 4);

function expectExactlyOnce(ledgerFile: string, steps: number): LedgerRow[] {
  const rows = readFileSync(ledgerFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as LedgerRow);
  const counts = Array.from({ length: steps }, (_, s) => new Array<number>(microBatches(s)).fill(0));
  for (const r of rows) if (r.status === 'done') for (let j = r.mbLo; j < r.mbHi; j++) counts[r.step]![j] = (counts[r.step]![j] ?? 0) + 1;
  for (let s = 0; s < steps; s++) for (let j = 0; j < microBatches(s); j++) if (counts[s]![j] !== 1) throw new Error(`step ${s} micro-batch ${j} counted ${counts[s]![j]} times`);
  return rows;
}

describe('distributed training equals single-process training', () => {
  let reference: Promise<{ sha: string; losses: number[] }> | undefined;
  const ref = () => (reference ??= singleProcess());

  test.each([1, 2, 3])('%i worker process(es): same per-step losses and bit-identical parameters', async (workers) => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-'));
    const c = await startCoordinator([...RUN, '--local-workers', String(workers), '--local-threads', '1', '--json', '--quiet', '--metrics-out', join(dir, 'm.jsonl'), '--ledger-out', join(dir, 'ledger.jsonl')]);
    const r = await c.result;
    expect(r.code, r.stderr).toBe(0);
    const { sha, losses } = await ref();
    const got = stepLosses(join(dir, 'm.jsonl'));
    expect(got).toHaveLength(150);
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - losses[i]!)).toBeLessThanOrEqual(1e-5 * Math.abs(losses[i]!));
    expect(lastJson(r.stdout).paramsSha256).toBe(sha);
    const rows = expectExactlyOnce(join(dir, 'ledger.jsonl'), 150);
    expect(new Set(rows.filter((x) => x.status === 'done').map((x) => x.worker)).size).toBe(workers);
  });

  test('three workers with 1, 2 and 3 threads: bit-identical to one thread', async () => {
    const c = await startCoordinator([...RUN, '--local-workers', '0', '--min-workers', '3', '--json', '--quiet']);
    const ws = [c.startWorker('t1', 1), c.startWorker('t2', 2), c.startWorker('t3', 3)];
    const r = await c.result;
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).paramsSha256).toBe((await ref()).sha);
    for (const w of ws) expect((await w.result).code).toBe(0);
  });

  test('kill -9 one of three workers at a random step: the run finishes, every sample counted once, same result', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-'));
    // --step-delay keeps the run from ending before the kill lands; it changes no step.
    const c = await startCoordinator([...RUN, '--local-workers', '0', '--min-workers', '3', '--step-delay', '5', '--json', '--quiet', '--ledger-out', join(dir, 'ledger.jsonl')]);
    const ws = [c.startWorker('a'), c.startWorker('b'), c.startWorker('c')];
    const killAt = 20 + Math.floor(Math.random() * 80);
    await waitFor(`step ${killAt}`, () => {
      const rows = readFileSync(join(dir, 'ledger.jsonl'), 'utf8');
      return rows.includes(`"step":${killAt},`);
    });
    const victim = (await c.status()).workers.find((w) => w.name === 'b')!.id;
    ws[1]!.child.kill('SIGKILL');
    await new Promise((res) => ws[1]!.child.once('exit', res));
    // Steps run fast: the kill lands a few steps after killAt. Take the ledger's last step at the kill.
    const killedAt = Math.max(...readFileSync(join(dir, 'ledger.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as LedgerRow).step));
    const r = await c.result;
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).paramsSha256).toBe((await ref()).sha);
    const rows = expectExactlyOnce(join(dir, 'ledger.jsonl'), 150);
    // The victim did real work before, none after; the run went on without it.
    expect(rows.some((x) => x.worker === victim && x.status === 'done' && x.step <= killAt)).toBe(true);
    expect(rows.some((x) => x.worker === victim && x.status === 'done' && x.step > killedAt + 1)).toBe(false);
    expect(killedAt).toBeLessThan(148);
    expect(rows.some((x) => x.status === 'done' && x.step > killedAt + 1)).toBe(true);
    for (const w of ws) await w.result;
  });
});

describe('elastic membership and restarts', () => {
  test('a worker started after step 20 gets work from the next step on; the result is unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-'));
    // --step-delay keeps the run going while the second worker starts; it does not change any step.
    const c = await startCoordinator([...RUN, '--local-workers', '0', '--min-workers', '1', '--step-delay', '15', '--json', '--quiet', '--ledger-out', join(dir, 'ledger.jsonl')]);
    const first = c.startWorker('early', 1);
    await waitFor('step 20', () => readFileSync(join(dir, 'ledger.jsonl'), 'utf8').includes('"step":20,'));
    const late = c.startWorker('late', 1);
    const r = await c.result;
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).paramsSha256).toBe((await singleProcessOnce()).sha);
    const rows = expectExactlyOnce(join(dir, 'ledger.jsonl'), 150);
    const lateRows = rows.filter((x) => x.worker === 'w2' && x.status === 'done');
    expect(lateRows.length).toBeGreaterThan(0);
    expect(Math.min(...lateRows.map((x) => x.step))).toBeGreaterThan(20);
    await first.result;
    await late.result;
  });

  test('kill -9 the coordinator mid-run, restart with --resume: workers reconnect, final parameters equal the uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-'));
    const port = await freePort();
    const args = [...RUN, '--local-workers', '0', '--min-workers', '2', '--step-delay', '10', '--token', 'resume-test', '--checkpoint-dir', join(dir, 'ck'), '--checkpoint-every', '10', '--json', '--quiet'];
    const c1 = await startCoordinator([...args, '--port', String(port)]);
    const ws = [c1.startWorker('a'), c1.startWorker('b')];
    await waitFor('a checkpoint past step 30', async () => (await c1.status().catch(() => ({ step: 0 }))).step >= 35 || undefined);
    c1.child.kill('SIGKILL');
    await c1.result;
    const c2 = await startCoordinator([...args, '--port', String(port), '--resume']);
    const r = await c2.result;
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).paramsSha256).toBe((await singleProcessOnce()).sha);
    for (const w of ws) expect((await w.result).code).toBe(0);
  });

  test('a wrong token is refused at the upgrade with a clear reason, and so is another protocol version', async () => {
    const c = await startCoordinator([...RUN, '--local-workers', '0', '--min-workers', '1', '--quiet']);
    const bad = await runCli(['worker', '--url', c.wsUrl, '--token', 'not-the-token', '--threads', '1']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/401|token|unauthori/i);
    const { WebSocket } = await import('ws');
    const { encode, decodeServerMessage } = await import('@gradmesh/protocol');
    const ws = new WebSocket(`${c.wsUrl}?token=${c.token}`);
    const reply = await new Promise<{ code: number; reason: string; msg: unknown }>((res) => {
      let msg: unknown;
      ws.on('open', () => ws.send(encode({ type: 'hello', protocol: 999, name: 'old', kind: 'node', threads: 1 })));
      ws.on('message', (d) => (msg = decodeServerMessage(d as Uint8Array)));
      ws.on('close', (code, reason) => res({ code, reason: reason.toString(), msg }));
    });
    expect(reply.code).toBe(4002);
    expect(reply.reason).toMatch(/999/);
    expect(reply.reason).toMatch(/version 1\b/);
    expect(reply.msg).toMatchObject({ ok: true, msg: { type: 'error', code: 'PROTOCOL_MISMATCH', fatal: true } });
    c.child.kill('SIGTERM');
    await c.result;
  });
});

let once: Promise<{ sha: string; losses: number[] }> | undefined;
const singleProcessOnce = () => (once ??= singleProcess());

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}
