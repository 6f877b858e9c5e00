import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { WebSocket } from 'ws';
import { microBatchCount, treeDepth } from '@gradmesh/engine';
import { decodeClientMessage, encode, ERRORS, type ErrorCode, type GradientMessage, type TaskMessage } from '@gradmesh/protocol';
import { lastJson } from './helpers/cli.js';
import { hostileFrames, oversizeFrames, POLLUTION_SPEED, type Shaped } from './helpers/reliability-fuzz.js';
import {
  base,
  BATCH,
  countedOnce,
  finish,
  firstDivergence,
  honestEngine,
  kill,
  killStarted,
  lazyHonest,
  MICRO,
  RawPeer,
  readLedger,
  reference,
  rssKiB,
  sleep,
  startCoordinator,
  startInProcessWorker,
  statusOf,
  stepLosses,
  waitFor,
  type InProcessWorker,
  type RunningCoordinator,
} from './helpers/reliability.js';

afterAll(() => killStarted());

const STEPS = 150;
const RUN = base(STEPS);
const FRAMES = 10_000;
const JOINED_LANES = 6;
const FRESH_LANES = 8;
/** Frames sent as the first message of a fresh connection (each costs an upgrade). */
const FRESH_FRAMES = 400;
const HOLD_STEP = 120;
const GRADIENT_CODES: ErrorCode[] = ['UNKNOWN_TASK', 'STALE_STEP', 'WRONG_LENGTH', 'NON_FINITE'];

/** What the coordinator must answer to a frame, by the protocol's own decoder and the run's state. */
type Expect = { kind: 'reply'; codes: string[] } | { kind: 'none' } | { kind: 'close'; code: number; error?: string };

function expectedFor(s: Shaped, limit: number, joined: boolean): Expect {
  if (typeof s.frame === 'string') return { kind: 'reply', codes: ['BAD_FRAME'] };
  if (s.frame.byteLength > limit) return { kind: 'close', code: 1009 };
  const r = decodeClientMessage(s.frame);
  if (!joined) {
    // Before hello anything but a hello ends the connection with the error's close code.
    if (!r.ok) return { kind: 'close', code: ERRORS[r.code].close, error: r.code };
    if (r.msg.type === 'hello') return { kind: 'none' };
    return { kind: 'close', code: ERRORS.NOT_HELLO_FIRST.close, error: 'NOT_HELLO_FIRST' };
  }
  if (!r.ok) return ERRORS[r.code].fatal ? { kind: 'close', code: ERRORS[r.code].close, error: r.code } : { kind: 'reply', codes: [r.code] };
  switch (r.msg.type) {
    case 'hello':
      return { kind: 'reply', codes: ['BAD_MESSAGE'] };
    case 'gradient':
      return { kind: 'reply', codes: GRADIENT_CODES };
    case 'leave':
      return { kind: 'close', code: 1000 };
    case 'error':
      return { kind: 'none' };
  }
}

// ---- a live run, and a worker that is hostile before it is honest ---------------------

interface Attempt {
  variant: string;
  expected: string[];
  got: string;
}

/**
 * A worker that computes every task honestly but first sends hostile
 * versions of the gradient (NaN, ±Infinity, wrong lengths, stale and future
 * steps, someone else's task), has a thief replay the honest frame, then
 * sends it itself and replays it once more. The honest frames are kept for
 * the fuzzer to replay from other connections.
 */
class CapturePeer {
  readonly attempts: Attempt[] = [];
  readonly accepted: Uint8Array[] = [];
  tasksDone = 0;
  stopped = false;
  error: Error | null = null;
  private release: () => void = () => {};
  /** Tasks of this step or later wait for `released`: the run cannot end while the fuzzer is at work. */
  readonly released = new Promise<void>((res) => (this.release = res));
  constructor(
    readonly peer: RawPeer,
    readonly thief: RawPeer,
    readonly token: string,
    readonly wsUrl: string,
    readonly holdStep: number,
  ) {}

  releaseHold(): void {
    this.release();
  }

  async loop(): Promise<void> {
    const p = this.peer;
    const { compute, engine } = await honestEngine(p.run!, this.token, this.wsUrl);
    try {
      while (!this.stopped && !p.closed) {
        const task = await p.until(() => p.tasks[this.tasksDone], 60_000);
        if (!task) continue;
        await this.handle(task, compute);
        this.tasksDone++;
      }
    } catch (e) {
      this.error = e as Error;
    } finally {
      await engine.close();
    }
  }

  /** Sends frames back to back and records the reply each one got (they come in order). */
  private async burst(from: RawPeer, items: Array<[string, Uint8Array, string[]]>): Promise<void> {
    const start = from.replies.length;
    for (const [, frame] of items) from.send(frame);
    await from.replyAfter(start + items.length - 1, 20_000);
    items.forEach(([variant, , expected], j) => {
      const r = from.replies[start + j];
      this.attempts.push({ variant, expected, got: r ? `${r.kind}:${r.code}` : 'no reply' });
    });
  }

  private async handle(task: TaskMessage, compute: Awaited<ReturnType<typeof honestEngine>>['compute']): Promise<void> {
    const params = this.peer.paramsByVersion.get(task.paramsVersion);
    if (!params) throw new Error(`no params v${task.paramsVersion} for task ${task.taskId}`);
    const r = await compute(task, params);
    const honest: GradientMessage = { type: 'gradient', step: task.step, taskId: task.taskId, samples: r.samples, computeMs: r.computeMs, nodes: r.nodes, losses: r.losses, grad: r.grad };
    const count = r.nodes.length / 2;
    const P = r.grad.length / count;
    const poke = (grad: Float32Array, at: number, v: number): Float32Array => {
      const g = grad.slice();
      g[at % g.length] = v;
      return g;
    };
    const losses = r.losses.slice();
    losses[0] = Number.NEGATIVE_INFINITY;
    const longer = new Float32Array(r.grad.length * 2);
    longer.set(r.grad);
    const shiftedNodes = r.nodes.slice();
    shiftedNodes[1] = shiftedNodes[1]! + 1;
    const variants: Array<[string, GradientMessage, string[]]> = [
      ['NaN in grad', { ...honest, grad: poke(r.grad, task.taskId * 31, Number.NaN) }, ['error:NON_FINITE']],
      ['+Infinity in grad', { ...honest, grad: poke(r.grad, task.taskId * 17, Number.POSITIVE_INFINITY) }, ['error:NON_FINITE']],
      ['-Infinity in grad', { ...honest, grad: poke(r.grad, 0, Number.NEGATIVE_INFINITY) }, ['error:NON_FINITE']],
      ['-Infinity loss', { ...honest, losses }, ['error:NON_FINITE']],
      ['grad one element short per node', { ...honest, grad: r.grad.slice(0, (P - 1) * count) }, ['error:WRONG_LENGTH']],
      ['grad twice as long', { ...honest, grad: longer }, ['error:WRONG_LENGTH']],
      ['nodes not the task cover', { ...honest, nodes: shiftedNodes }, ['error:WRONG_LENGTH']],
      ['samples + 1', { ...honest, samples: r.samples + 1 }, ['error:WRONG_LENGTH']],
      ['future step', { ...honest, step: task.step + 1 }, ['error:STALE_STEP']],
      ['another task id', { ...honest, taskId: task.taskId + 1_000_000 }, ['error:UNKNOWN_TASK']],
    ];
    if (task.step > 0) variants.push(['stale step', { ...honest, step: task.step - 1 }, ['error:STALE_STEP']]);
    await this.burst(this.peer, variants.map(([v, m, e]) => [v, encode(m), e]));
    const frame = encode(honest);
    // Someone else's gradient, replayed before its owner sends it: not theirs to send.
    await this.burst(this.thief, [["replay of another worker's gradient (before it)", frame, ['error:UNKNOWN_TASK']]]);
    if (task.step >= this.holdStep) await this.released;
    // The honest one is accepted: no reply, so a text probe right after is the next thing answered.
    const start = this.peer.replies.length;
    this.peer.send(frame);
    this.peer.send('probe');
    this.peer.send(frame); // and replayed once accepted: no longer anyone's task
    await this.peer.replyAfter(start + 1, 20_000);
    const got = this.peer.replies.slice(start, start + 2).map((x) => `${x.kind}:${x.code}`);
    this.attempts.push({ variant: 'honest (then a probe)', expected: ['error:BAD_FRAME'], got: got[0] ?? 'no reply' });
    this.attempts.push({ variant: 'own gradient replayed', expected: ['error:UNKNOWN_TASK', 'error:STALE_STEP'], got: got[1] ?? 'no reply' });
    if (got[0] === 'error:BAD_FRAME') this.accepted.push(frame.slice());
  }
}

describe('a live run under hostile traffic', () => {
  let c: RunningCoordinator;
  let dir: string;
  let honest: InProcessWorker[];
  let capture: CapturePeer;
  let captureLoop: Promise<void>;
  let honestCompute: ReturnType<typeof lazyHonest>;
  let limit = 0;
  let paramCount = 0;
  const protoKeys = Object.getOwnPropertyNames(Object.prototype).sort().join(',');

  beforeAll(async () => {
    void reference(RUN);
    dir = mkdtempSync(join(tmpdir(), 'gm-fuzz-'));
    // --step-delay paces the run so that the fuzzer's frames land while it trains (it changes no
    // step). As a safety net the capture peer holds its gradient for step HOLD_STEP until the last
    // test releases it, so the run cannot end under the fuzzer or the auth checks; a long straggler
    // deadline keeps the coordinator waiting for it (and keeps it from being marked a straggler
    // while it is busy being hostile).
    c = await startCoordinator([...RUN, '--local-workers', '0', '--min-workers', '3', '--step-delay', '30', '--deadline-floor', '120000', '--json', '--quiet', '--ledger-out', join(dir, 'ledger.jsonl'), '--metrics-out', join(dir, 'metrics.jsonl')]);
    honest = [startInProcessWorker(c, 'honest-1'), startInProcessWorker(c, 'honest-2')];
    const peer = new RawPeer(`${c.wsUrl}?token=${c.token}`);
    await peer.hello('capture');
    // Every other joined peer does its own tasks honestly too: a member that holds work without
    // answering stalls each step it is given work until the straggler deadline.
    honestCompute = lazyHonest(() => peer.run!, c.token, c.wsUrl);
    const thief = new RawPeer(`${c.wsUrl}?token=${c.token}`, { compute: honestCompute });
    await thief.hello('thief');
    capture = new CapturePeer(peer, thief, c.token, c.wsUrl, HOLD_STEP);
    captureLoop = capture.loop();
    paramCount = peer.run!.paramCount;
    limit = (2 * treeDepth(microBatchCount(BATCH, MICRO)) + 1) * (paramCount * 4 + 16) + 64 * 1024;
    await waitFor('training', async () => (await statusOf(c.base))?.state === 'training', 30_000);
  }, 90_000);

  test('fuzzing: ≥ 10,000 hostile frames each get a typed error or a close code, and nothing crashes or leaks into Object.prototype', async () => {
    const t0 = Date.now();
    const frames = fc.sample(hostileFrames(paramCount), { numRuns: FRAMES, seed: 20240607 });
    const counts = new Map<string, number>();
    const categories = new Map<string, number>();
    const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
    const failures: string[] = [];
    let sent = 0;
    const url = `${c.wsUrl}?token=${c.token}`;

    const join = async (lane: number): Promise<RawPeer> => {
      const peer = new RawPeer(url, { compute: honestCompute });
      await peer.hello(`fuzz-${lane}`);
      return peer;
    };
    // Frames are pipelined in windows: the coordinator answers a connection's frames in order,
    // one reply each (a valid client error report gets none, so a text probe follows it).
    const joinedLane = async (lane: number, items: Shaped[]): Promise<void> => {
      let peer = await join(lane);
      const window = 32;
      for (let k = 0; k < items.length; k += window) {
        const part = items.slice(k, k + window);
        const exps = part.map((s) => expectedFor(s, limit, true));
        const start = peer.replies.length;
        part.forEach((s, j) => {
          if (exps[j]!.kind === 'close') throw new Error('close-expecting frames go to fresh connections');
          peer.send(s.frame);
          if (exps[j]!.kind === 'none') peer.send('probe');
          bump(categories, s.category);
        });
        sent += part.length;
        await peer.replyAfter(start + part.length - 1, 20_000);
        part.forEach((s, j) => {
          const exp = exps[j]!;
          const r = peer.replies[start + j];
          const got = r ? `${r.kind}:${r.code}` : 'no reply';
          bump(counts, exp.kind === 'none' ? `none (then probe → ${got})` : got);
          const ok = exp.kind === 'none' ? got === 'error:BAD_FRAME' : exp.kind === 'reply' && r?.kind === 'error' && exp.codes.includes(String(r.code));
          if (!ok && failures.length < 20) failures.push(`${s.category} ${show(s)} expected ${JSON.stringify(exp)} got ${got} ${r?.message ?? ''}`);
        });
        if (peer.closed) peer = await join(lane);
      }
      // Replays of the honest worker's accepted gradients, from a connection they do not belong to.
      const replays = capture.accepted.slice(0, 50);
      const start = peer.replies.length;
      for (const frame of replays) peer.send(frame);
      sent += replays.length;
      if (replays.length) await peer.replyAfter(start + replays.length - 1, 20_000);
      replays.forEach((_, j) => {
        const r = peer.replies[start + j];
        const got = r ? `${r.kind}:${r.code}` : 'no reply';
        bump(categories, 'replay');
        bump(counts, got);
        if (got !== 'error:UNKNOWN_TASK' && failures.length < 20) failures.push(`replay got ${got}`);
      });
      peer.close();
    };

    const freshLane = async (items: Shaped[]): Promise<void> => {
      for (const s of items) {
        const joined = s.category === 'oversize' || s.category.startsWith('joined:');
        const exp = expectedFor(s, limit, joined);
        const peer = new RawPeer(url);
        await peer.opened;
        if (joined) await peer.hello('fuzz-fresh');
        peer.send(s.frame);
        sent++;
        bump(categories, s.category);
        if (exp.kind === 'reply') {
          // A text frame before hello: answered, and the connection stays (until the hello timeout).
          const r = await peer.replyAfter(0, 10_000);
          const got = r ? `${r.kind}:${r.code}` : 'no reply';
          bump(counts, got);
          if (!(r?.kind === 'error' && exp.codes.includes(String(r.code))) && failures.length < 20) failures.push(`${s.category} (fresh) ${show(s)} expected ${JSON.stringify(exp)} got ${got}`);
          peer.close();
          continue;
        }
        if (exp.kind === 'none') {
          // A valid hello as the first message: it joined; leave again at once.
          await peer.until(() => peer.workerId, 10_000);
          bump(counts, peer.workerId ? 'welcome' : 'no welcome');
          if (!peer.workerId && failures.length < 20) failures.push(`fresh hello got no welcome`);
          peer.close();
          continue;
        }
        await peer.until(() => peer.closed, 10_000);
        const errors = peer.replies.filter((r) => r.kind === 'error').map((r) => String(r.code));
        const got = peer.closed ? `close:${peer.closed.code}` : 'not closed';
        bump(counts, got);
        const ok = exp.kind === 'close' && peer.closed?.code === exp.code && (exp.error === undefined || errors.includes(exp.error));
        if (!ok && failures.length < 20) failures.push(`${s.category} (fresh) ${show(s)} expected ${JSON.stringify(exp)} got ${got} errors ${errors.join(',')}`);
        peer.close();
      }
    };

    // Frames that end a joined connection (a protocol mismatch, leave, oversize) go to fresh
    // connections, as do the first FRESH_FRAMES; the rest go to long-lived joined ones.
    const fresh: Shaped[] = oversizeFrames(limit);
    const joinedItems: Shaped[] = [];
    for (const s of frames) {
      if (fresh.length < FRESH_FRAMES) fresh.push(s);
      else if (expectedFor(s, limit, true).kind === 'close') fresh.push({ ...s, category: `joined:${s.category}` });
      else joinedItems.push(s);
    }
    const lanes: Shaped[][] = Array.from({ length: JOINED_LANES }, () => []);
    joinedItems.forEach((s, i) => lanes[i % JOINED_LANES]!.push(s));
    const freshLanes: Shaped[][] = Array.from({ length: FRESH_LANES }, () => []);
    fresh.forEach((s, i) => freshLanes[i % FRESH_LANES]!.push(s));
    const rss0 = rssKiB(c.child.pid!);
    const stepAtStart = (await statusOf(c.base))?.step;
    await Promise.all([...lanes.map((items, i) => joinedLane(i, items)), ...freshLanes.map((items) => freshLane(items))]);
    const seconds = (Date.now() - t0) / 1000;

    // Still training, still answering; and nothing reached Object.prototype, here or there.
    const st = await statusOf(c.base);
    const probe = new RawPeer(url);
    await probe.opened;
    probe.sendMsg({ type: 'hello', protocol: 1, name: 'pollution-probe', kind: 'node', threads: 1 });
    await probe.until(() => probe.workerId, 10_000);
    const withProbe = await statusOf(c.base);
    probe.close();
    const probeRow = withProbe?.workers.find((w) => w.name === 'pollution-probe');
    const rss1 = rssKiB(c.child.pid!);

    console.log(
      `[reliability] fuzz: ${sent} frames in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)}/s) while the run went from step ${stepAtStart} to ${st?.step}; coordinator RSS ${Math.round(rss0 / 1024)} → ${Math.round(rss1 / 1024)} MiB\n` +
        `  replies: ${[...counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ×${v}`).join(', ')}\n` +
        `  categories: ${[...categories].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ×${v}`).join(', ')}`,
    );
    // Soft: a wrong answer to some frames must not hide whether the rest held.
    expect.soft(failures).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(FRAMES);
    expect(c.child.exitCode).toBeNull();
    expect(st?.state).toBe('training');
    expect(probeRow, 'a plain hello still joins').toBeDefined();
    expect(probeRow!.samplesPerSec).not.toBe(POLLUTION_SPEED);
    expect(Object.getOwnPropertyNames(Object.prototype).sort().join(',')).toBe(protoKeys);
    expect(({} as Record<string, unknown>).speed).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  }, 120_000);

  test('hostile gradients on real tasks (NaN, ±Infinity, wrong lengths, stale and future steps, replays) are rejected every time', async () => {
    await waitFor('a few tasks for the capture peer', () => capture.tasksDone >= 5, 60_000);
    expect(capture.error?.stack ?? null).toBeNull();
    const wrong = capture.attempts.filter((a) => !a.expected.includes(a.got));
    const byVariant = new Map<string, number>();
    for (const a of capture.attempts) byVariant.set(a.variant, (byVariant.get(a.variant) ?? 0) + 1);
    console.log(`[reliability] hostile gradients on ${capture.tasksDone} real tasks: ${[...byVariant].map(([k, v]) => `${k} ×${v}`).join(', ')}; all rejected with their code: ${wrong.length === 0}`);
    expect(wrong.slice(0, 10).map((a) => `${a.variant}: expected ${a.expected.join('|')}, got ${a.got}`)).toEqual([]);
    expect(capture.tasksDone).toBeGreaterThanOrEqual(5);
  }, 90_000);

  test('authentication: no or wrong token → 401 at the upgrade with no state created; wrong Origin → 403; /feed is read-only; /dataset.bin needs the token', async () => {
    const before = (await statusOf(c.base))!.workers.map((w) => w.id).sort();
    const port = new URL(c.base).port;
    const wrongSame = c.token.replace(/./g, (ch) => (ch === 'x' ? 'y' : 'x'));
    const status = async (url: string, opts: ConstructorParameters<typeof RawPeer>[1] = {}): Promise<number> => {
      const p = new RawPeer(url, opts);
      try {
        await p.opened;
        p.close();
        return 101;
      } catch (e) {
        return (e as { status?: number }).status ?? -1;
      }
    };
    expect(await status(c.wsUrl)).toBe(401);
    expect(await status(`${c.wsUrl}?token=`)).toBe(401);
    expect(await status(`${c.wsUrl}?token=${wrongSame}`)).toBe(401);
    expect(await status(`${c.wsUrl}?token=${c.token}x`)).toBe(401);
    expect(await status(`${c.wsUrl}?token=${c.token.slice(0, -1)}`)).toBe(401);
    expect(await status(c.wsUrl, { headers: { authorization: `Bearer ${wrongSame}` } })).toBe(401);
    expect(await status(c.wsUrl, { headers: { authorization: `Bearer ${c.token}` } })).toBe(101);
    expect(await status(`${c.wsUrl}?token=${c.token}`, { origin: 'http://evil.example' })).toBe(403);
    expect(await status(`${c.wsUrl}?token=${c.token}`, { origin: `http://127.0.0.1:${Number(port) + 1}` })).toBe(403);
    expect(await status(`${c.wsUrl}?token=${c.token}`, { origin: `http://127.0.0.1:${port}` })).toBe(101);
    // A refused upgrade is refused before any state: no worker appeared.
    expect((await statusOf(c.base))!.workers.map((w) => w.id).sort()).toEqual(before);

    // The feed: whatever is sent to it — a hello, a replayed gradient, garbage — does nothing.
    const feed = new WebSocket(`${c.base.replace(/^http/, 'ws')}/feed`);
    const feedMsgs: string[] = [];
    feed.on('message', (d, isBinary) => feedMsgs.push(isBinary ? 'BINARY' : String(d)));
    await new Promise((res, rej) => (feed.once('open', res), feed.once('error', rej)));
    feed.send(encode({ type: 'hello', protocol: 1, name: 'feed-joiner', kind: 'node', threads: 4 }));
    for (const f of capture.accepted.slice(-5)) feed.send(f);
    feed.send(encode({ type: 'leave', reason: 'x' }));
    feed.send(randomBytes(512));
    feed.send('{"type":"stop"}');
    await sleep(500);
    expect(feed.readyState).toBe(WebSocket.OPEN);
    const types = new Set(feedMsgs.map((m) => (m === 'BINARY' ? m : (JSON.parse(m) as { type: string }).type)));
    expect([...types].every((t) => ['snapshot', 'step', 'eval', 'workers', 'done'].includes(t)), [...types].join(',')).toBe(true);
    expect((await statusOf(c.base))!.workers.some((w) => w.name === 'feed-joiner')).toBe(false);
    feed.terminate();

    // Anything that changes the run, or hands out its data, needs the token.
    expect((await fetch(`${c.base}/dataset.bin`)).status).toBe(401);
    expect((await fetch(`${c.base}/dataset.bin?token=${wrongSame}`)).status).toBe(401);
    expect((await fetch(`${c.base}/dataset.bin`, { headers: { authorization: `Bearer ${wrongSame}` } })).status).toBe(401);
    expect((await fetch(`${c.base}/dataset.bin?token=${c.token}`)).status).toBe(200);
    expect((await fetch(`${c.base}/api/status`, { method: 'POST', body: '{}' })).status).toBe(405);

    // Optional: wrong tokens of the right and of the wrong length take about as long to refuse.
    const time = async (tok: string): Promise<number> => {
      const t = performance.now();
      await status(`${c.wsUrl}?token=${tok}`);
      return performance.now() - t;
    };
    const same: number[] = [];
    const other: number[] = [];
    for (let i = 0; i < 60; i++) {
      same.push(await time(wrongSame));
      other.push(await time(`${wrongSame}${wrongSame}`));
    }
    const median = (a: number[]): number => a.sort((x, y) => x - y)[a.length >> 1]!;
    console.log(`[reliability] auth: 401/403 as expected; refusal time median ${median(same).toFixed(2)} ms (right length) vs ${median(other).toFixed(2)} ms (wrong length), by the token digest compare`);
  }, 60_000);

  test('the honest run is unaffected: it completes, every micro-batch counted once, and equals the same run without hostile traffic', async () => {
    const held = await statusOf(c.base);
    expect(held?.state).toBe('training');
    capture.releaseHold();
    const r = await finish(c);
    capture.stopped = true;
    await captureLoop.catch(() => {});
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/internal error/);
    const rows = readLedger(join(dir, 'ledger.jsonl'));
    expect(countedOnce(rows, 0, STEPS)).toBeUndefined();
    const ref = await reference(RUN);
    const losses = stepLosses(join(dir, 'metrics.jsonl'));
    const at = firstDivergence(losses, ref.losses);
    if (at >= 0) console.log(`[reliability] hostile-traffic run diverged at step ${at}: loss ${losses[at]} vs ${ref.losses[at]}; ledger rows of that step: ${JSON.stringify(rows.filter((x) => x.step === at))}`);
    expect(at, 'first step whose loss differs from the single-process run').toBe(-1);
    expect(lastJson(r.stdout).paramsSha256).toBe(ref.sha);
    for (const w of honest) expect(await w.result).toMatchObject({ reason: expect.stringMatching(/finished/) });
    const captureId = capture.peer.workerId;
    expect(rows.filter((x) => x.worker === captureId && x.status === 'done').length).toBe(capture.accepted.length);
    // The thief's only accepted gradients are the ones it computed for its own tasks, never a replay.
    expect(rows.filter((x) => x.worker === capture.thief.workerId && x.status === 'done').length).toBe(capture.thief.computed);
  }, 90_000);
});

function show(s: Shaped): string {
  if (typeof s.frame === 'string') return `text(${s.frame.length})`;
  const b = s.frame;
  return `${b.length}B ${Buffer.from(b.subarray(0, 24)).toString('hex')}`;
}

// ---- a member that never answers -------------------------------------------------------

describe('hostile members', () => {
  test('a joined worker that never returns a gradient costs a few straggler deadlines, not one every step', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-silent-'));
    const c = await startCoordinator([...RUN, '--local-workers', '0', '--min-workers', '3', '--deadline-floor', '500', '--json', '--quiet', '--ledger-out', join(dir, 'ledger.jsonl')]);
    const silent = new RawPeer(`${c.wsUrl}?token=${c.token}`);
    await silent.hello('silent');
    const ws = [startInProcessWorker(c, 'h1'), startInProcessWorker(c, 'h2')];
    const t0 = Date.now();
    // Healthy: a few 0.5 s deadlines while its share shrinks, plus the periodic re-measurements:
    // a few seconds on top of the run's own. 25 s is far more than that.
    const ended = await Promise.race([c.result.then(() => true), sleep(25_000).then(() => false)]);
    const seconds = (Date.now() - t0) / 1000;
    const st = await statusOf(c.base);
    kill(c.child);
    const r = await c.result;
    const rows = readLedger(join(dir, 'ledger.jsonl'));
    const stepsWithSilentWork = new Set(rows.filter((x) => x.worker === silent.workerId && x.status === 'assigned').map((x) => x.step)).size;
    const lastStep = Math.max(...rows.map((x) => x.step));
    console.log(
      `[reliability] silent member: ${ended ? `run finished in ${seconds.toFixed(1)} s` : `run NOT finished after ${seconds.toFixed(0)} s (at step ${st?.step ?? lastStep} of ${STEPS})`}; ` +
        `the silent worker was given work in ${stepsWithSilentWork} of ${lastStep + 1} steps (each waits out the deadline)`,
    );
    silent.close();
    for (const w of ws) w.kill();
    expect(stepsWithSilentWork).toBeLessThanOrEqual(4 + Math.ceil(STEPS / 25));
    expect(ended).toBe(true);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout).paramsSha256).toBe((await reference(RUN)).sha);
  }, 90_000);
});

// ---- limits ----------------------------------------------------------------------------

// Coordinators that never start training (--min-workers 50): only their limits are under test.
// Started with the file, so that their start-up overlaps the live run's.
const HB = 1000;
const L1_ARGS = [...RUN, '--local-workers', '0', '--min-workers', '50', '--max-connections', '5', '--heartbeat-ms', String(HB), '--quiet'];
// 2-512-512-3: ≈1.06 MB of parameters broadcast every step, so the 8 MiB send cap (plus what the
// kernel's socket buffers absorb) is passed within a couple of dozen steps.
// A short straggler deadline: once the slow worker stops reading it also stops computing, and the
// run should go on without it. Heartbeats far apart, so that only the send cap can drop it.
const PARAMS_MB = 1.06;
const L2_ARGS = ['--dataset', 'spirals', '--model', '512,512', '--steps', '1000', '--batch', String(BATCH), '--micro-batch', String(MICRO), '--local-workers', '0', '--min-workers', '2', '--deadline-floor', '300', '--heartbeat-ms', '600000', '--quiet'];
let l1: Promise<RunningCoordinator> | undefined;
let l2: Promise<RunningCoordinator> | undefined;
const limitsCoordinator = (): Promise<RunningCoordinator> => (l1 ??= startCoordinator(L1_ARGS));
const slowConsumerCoordinator = (): Promise<RunningCoordinator> => (l2 ??= startCoordinator(L2_ARGS));
beforeAll(() => {
  void limitsCoordinator().catch(() => {});
  void slowConsumerCoordinator().catch(() => {});
});

describe('limits', () => {
  // One retry: in 1 of ~20 full-suite runs on a loaded 2-core box the raw client saw the
  // connection end 5 ms in without the close frame (a TCP reset racing the frame it follows;
  // not reproduced in 9 targeted runs under load). A server that resets instead of answering
  // 1009 — the bug this test was written for — fails both tries.
  test('a 1 GiB frame header is refused with close code 1009 and not allocated; exactly maxPayload is read, one byte more is refused', { timeout: 60_000, retry: 1 }, async () => {
    const c = await limitsCoordinator();
    const peer = new RawPeer(`${c.wsUrl}?token=${c.token}`);
    onTestFinished(() => peer.close());
    await peer.hello('sizer');
    const P = peer.run!.paramCount;
    const max = (2 * treeDepth(microBatchCount(BATCH, MICRO)) + 1) * (P * 4 + 16) + 64 * 1024;
    const rss0 = rssKiB(c.child.pid!);
    const giant = await rawGiantFrame(new URL(c.base), c.token, 2 ** 30);
    const rss1 = rssKiB(c.child.pid!);
    console.log(`[reliability] 1 GiB frame header: close ${giant.code} after ${giant.closedMs} ms (header + ${Math.round(giant.bytesAccepted / 1024)} KiB of payload sent); coordinator RSS ${Math.round(rss0 / 1024)} → ${Math.round(rss1 / 1024)} MiB (maxPayload ${max} bytes)`);
    expect(giant.code).toBe(1009);
    expect(rss1 - rss0).toBeLessThan(32 * 1024);
    expect(c.child.exitCode).toBeNull();
    // The limit itself: maxPayload bytes are read (and refused as a frame), one more ends the connection.
    let i = peer.replies.length;
    peer.send(new Uint8Array(max).fill(0xc0));
    expect(await peer.replyAfter(i)).toMatchObject({ kind: 'error', code: 'BAD_FRAME' });
    i = peer.replies.length;
    peer.send(new Uint8Array(max + 1).fill(0xc0));
    expect(await peer.replyAfter(i)).toMatchObject({ kind: 'close', code: 1009 });
    expect((await statusOf(c.base))?.state).toBe('waiting');
  });

  test('a standard client sending a 16 MiB frame is told why: close code 1009 (not an abnormal 1006)', async () => {
    const c = await limitsCoordinator();
    const codes: number[] = [];
    for (let k = 0; k < 3; k++) {
      const peer = new RawPeer(`${c.wsUrl}?token=${c.token}`);
      onTestFinished(() => peer.close());
      await peer.hello('big-sender');
      peer.send(new Uint8Array(16 << 20));
      await peer.until(() => peer.closed, 10_000);
      codes.push(peer.closed?.code ?? -1);
      peer.close();
    }
    console.log(`[reliability] 16 MiB frame from a ws client, three tries: close codes ${codes.join(', ')}`);
    expect(codes).toEqual([1009, 1009, 1009]);
  }, 60_000);

  test('--max-connections 5: the sixth connection gets 503; a freed slot is usable again', async () => {
    const c = await limitsCoordinator();
    await waitFor('no workers left from earlier tests', async () => (await statusOf(c.base))?.workers.length === 0, 10_000);
    await sleep(200); // and their sockets closed on the coordinator's side too
    const feedUrl = `${c.base.replace(/^http/, 'ws')}/feed`;
    const open: RawPeer[] = [];
    onTestFinished(() => open.forEach((p) => p.close()));
    for (let i = 0; i < 3; i++) open.push(new RawPeer(feedUrl));
    for (let i = 0; i < 2; i++) open.push(new RawPeer(`${c.wsUrl}?token=${c.token}`));
    await Promise.all(open.map((p) => p.opened));
    const statusCode = async (url: string): Promise<number> => {
      const p = new RawPeer(url);
      return p.opened.then(
        () => (p.close(), 101),
        (e: { status?: number }) => e.status ?? -1,
      );
    };
    expect(await statusCode(`${c.wsUrl}?token=${c.token}`)).toBe(503);
    expect(await statusCode(feedUrl)).toBe(503);
    expect(await statusCode(`${c.wsUrl}?token=wrong`)).toBe(503);
    open[0]!.ws.close();
    await open[0]!.until(() => open[0]!.closed);
    await sleep(100);
    expect(await statusCode(`${c.wsUrl}?token=${c.token}`)).toBe(101);
    for (const p of open) p.close();
    await sleep(200);
  }, 60_000);

  test('heartbeats: a half-open worker (stops answering pings) is dropped within two --heartbeat-ms intervals; a live idle one is kept', async () => {
    const c = await limitsCoordinator();
    const url = `${c.wsUrl}?token=${c.token}`;
    const live = new RawPeer(url);
    const dead = new RawPeer(url);
    onTestFinished(() => (live.close(), dead.close()));
    await live.hello('live');
    await dead.hello('half-open');
    await waitFor('both listed', async () => (await statusOf(c.base))?.workers.filter((w) => ['live', 'half-open'].includes(w.name)).length === 2);
    // Half-open: the socket stays up but nothing is read, so no ping is ever answered.
    (dead.ws as unknown as { _socket: Socket })._socket.pause();
    const t0 = Date.now();
    await waitFor('the half-open worker to be dropped', async () => !(await statusOf(c.base))?.workers.some((w) => w.name === 'half-open'), 10_000, 20);
    const dropped = Date.now() - t0;
    await sleep(Math.max(0, 3 * HB - dropped));
    const names = (await statusOf(c.base))!.workers.map((w) => w.name);
    console.log(`[reliability] heartbeat ${HB} ms: half-open worker dropped after ${dropped} ms; live idle worker kept after ${3 * HB} ms: ${names.includes('live')}`);
    // Two intervals, plus what observing it through /api/status adds.
    expect(dropped).toBeLessThanOrEqual(2 * HB + 400);
    expect(names).toContain('live');
    expect(names).not.toContain('half-open');
    live.close();
    dead.close();
  }, 60_000);

  test("a slow consumer (a worker that stops reading) is dropped once more than maxBufferedBytes are queued; the coordinator's memory stays bounded", async () => {
    const c = await slowConsumerCoordinator();
    const worker = startInProcessWorker(c, 'honest');
    const slow = new RawPeer(`${c.wsUrl}?token=${c.token}`);
    onTestFinished(() => (slow.close(), worker.kill()));
    slow.compute = lazyHonest(() => slow.run!, c.token, c.wsUrl);
    await slow.hello('slow');
    await waitFor('step 3', () => (worker.status().paramsVersion ?? 0) >= 3, 60_000);
    expect(slow.computed).toBeGreaterThan(0);
    const rss0 = rssKiB(c.child.pid!);
    const step0 = worker.status().paramsVersion!;
    const received0 = slow.received.params ?? 0;
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const t0 = Date.now();
    let peak = rss0;
    let droppedMs: number | undefined;
    // Unbounded queueing would hold ≈1 MB more every step: run 40 steps past the pause (≈42 MB).
    await waitFor(
      '40 steps while the slow worker does not read',
      async () => {
        peak = Math.max(peak, rssKiB(c.child.pid!));
        const st = await statusOf(c.base);
        if (droppedMs === undefined && st && !st.workers.some((w) => w.name === 'slow')) droppedMs = Date.now() - t0;
        return (worker.status().paramsVersion ?? 0) - step0 >= 40;
      },
      30_000,
      100,
    ).catch(() => undefined);
    const waitedMs = Date.now() - t0;
    const steps = (worker.status().paramsVersion ?? 0) - step0;
    const rss1 = rssKiB(c.child.pid!);
    // Reading again, it gets exactly what was queued for it (the socket buffers' and the
    // coordinator's), then what it was told: the cap's RATE_LIMITED and close 4009.
    socket.resume();
    await slow.until(() => slow.closed, 35_000);
    const queued = (slow.received.params ?? 0) - received0;
    const said = slow.replies.map((r) => `${r.kind}:${r.code}`);
    console.log(
      `[reliability] slow consumer: ${steps} steps (≈${Math.round(steps * PARAMS_MB)} MB of params) while it did not read; ${queued} params messages (≈${Math.round(queued * PARAMS_MB)} MB) had been queued for it; ` +
        `${droppedMs !== undefined ? `dropped from the run after ${droppedMs} ms` : `still a member of the run after ${waitedMs} ms`}; told ${said.join(', ')}; ` +
        `coordinator RSS ${Math.round(rss0 / 1024)} → peak ${Math.round(peak / 1024)} → ${Math.round(rss1 / 1024)} MiB`,
    );
    expect(steps, 'steps while paused').toBeGreaterThanOrEqual(40);
    // The cap: 8 MiB in the coordinator plus what the loopback socket buffers hold (≈10 MB), not one message a step.
    expect(queued * PARAMS_MB).toBeLessThan(24);
    expect(peak - rss0).toBeLessThan(96 * 1024);
    expect(said).toContain('error:RATE_LIMITED');
    expect(said).toContain('close:4009');
    expect(droppedMs, 'a worker closed for being too slow should leave the run at once, not stay a member').toBeDefined();
    slow.close();
    worker.kill();
  }, 120_000);
});

/**
 * Upgrades a raw TCP socket to a WebSocket by hand, then sends the header of one
 * binary frame declaring `size` bytes of payload and the first 64 KiB of it, and
 * reads what the coordinator answers. Returns the status code of its close frame
 * (-1 if the connection ended without one). It stops writing after 64 KiB: a
 * client still writing when the coordinator resets the connection loses the
 * close frame (see the 16 MiB test).
 */
async function rawGiantFrame(base: URL, token: string, size: number): Promise<{ code: number; closedMs: number; bytesAccepted: number }> {
  const sock = connect(Number(base.port), base.hostname);
  await new Promise((res, rej) => (sock.once('connect', res), sock.once('error', rej)));
  const key = randomBytes(16).toString('base64');
  sock.write(`GET /ws?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: ${base.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let buf = Buffer.alloc(0);
  let closed = false;
  sock.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  sock.on('close', () => (closed = true));
  sock.on('error', () => {});
  await waitFor('the 101 response', () => buf.includes('\r\n\r\n'), 10_000, 5);
  const head = buf.subarray(0, buf.indexOf('\r\n\r\n') + 4).toString();
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`upgrade refused: ${head}`);
  buf = buf.subarray(head.length);
  const header = Buffer.alloc(14);
  header[0] = 0x82; // FIN + binary
  header[1] = 0x80 | 127; // masked, 64-bit length
  header.writeBigUInt64BE(BigInt(size), 2);
  randomBytes(4).copy(header, 10);
  const t0 = Date.now();
  sock.write(header);
  const chunk = Buffer.alloc(64 * 1024);
  sock.write(chunk);
  await waitFor('the close frame or the end of the connection', () => buf.length >= 4 || closed, 10_000, 5);
  const closedMs = Date.now() - t0;
  sock.destroy();
  // A close frame: 0x88, payload length, then the 2-byte status code.
  if (buf.length >= 4 && buf[0] === 0x88) return { code: buf.readUInt16BE(2), closedMs, bytesAccepted: chunk.length };
  return { code: -1, closedMs, bytesAccepted: chunk.length };
}
