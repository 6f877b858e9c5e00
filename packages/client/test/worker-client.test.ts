import { ERRORS, PROTOCOL_VERSION, bytesOf, dequantize, errorMessage } from '@gradmesh/protocol';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { WorkerClient, WorkerClientError, type ClientStatus, type WorkerClientOptions } from '../src/index.js';
import {
  FakeEngine, PARAM_COUNT, WebSocket, expectedResult, params, runInfo, sleep, startCoordinator, task, waitFor,
  type FakeCoordinator,
} from './harness.js';

let server: FakeCoordinator;
const clients: WorkerClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.stop();
  await server?.close();
});

function makeClient(overrides: Partial<WorkerClientOptions> = {}) {
  const engine = (overrides.engine as FakeEngine | undefined) ?? new FakeEngine();
  const statuses: ClientStatus[] = [];
  const logs: string[] = [];
  const client = new WorkerClient({
    url: server.url,
    token: 's e/c&ret',
    name: 'test-worker',
    kind: 'node',
    threads: 2,
    engine,
    WebSocket,
    reconnect: { initialMs: 10, maxMs: 40, maxAttempts: 5 },
    log: (line) => logs.push(line),
    onStatus: (s) => statuses.push(s),
    ...overrides,
  });
  clients.push(client);
  return { client, engine, statuses, logs };
}

const same = (a: ArrayBufferView, b: ArrayBufferView) => expect(Buffer.from(bytesOf(a))).toEqual(Buffer.from(bytesOf(b)));

describe('joining', () => {
  test('connects with the token in the query string and says hello first, with the protocol version', async () => {
    server = await startCoordinator();
    const { client } = makeClient({ speed: 123 });
    void client.run();
    const peer = await server.peers.next();
    expect(peer.req.url).toBe('/join?token=s%20e%2Fc%26ret');
    const hello = await peer.next();
    expect(hello).toEqual({ type: 'hello', protocol: PROTOCOL_VERSION, name: 'test-worker', kind: 'node', threads: 2, speed: 123 });
  });

  test('welcome sets up the engine, params and a task produce a gradient with the engine\'s output', async () => {
    server = await startCoordinator();
    const { client, engine, statuses } = makeClient();
    void client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.send(params(1));
    const t = task(4, 1);
    peer.send(t);
    const g = await peer.expect('gradient');
    const want = expectedResult(t, 1);
    expect([g.step, g.taskId, g.samples, g.computeMs]).toEqual([t.step, t.taskId, want.samples, want.computeMs]);
    same(g.nodes, want.nodes);
    same(g.losses, want.losses);
    same(g.grad, want.grad);
    expect(engine.calls).toEqual(['setup run-a', 'params v1 [1,0,0.5]', 'compute t4 with v1']);
    await waitFor(() => client.status.tasksDone === 1);
    const s = client.status;
    expect([s.state, s.workerId, s.runId, s.paramsVersion, s.stepsDone, s.samplesDone, s.lossMean, s.samplesPerSec]).toEqual(
      ['ready', 'w-1', 'run-a', 1, 1, 2, 0.5, 1000],
    );
    expect(statuses.map((x) => x.state)).toEqual(expect.arrayContaining(['connecting', 'joining', 'setting-up', 'ready']));
  });

  test('tasks run one at a time, in order, each with the params version it names', async () => {
    server = await startCoordinator();
    const engine = new FakeEngine();
    let open!: () => void;
    engine.gate = new Promise((r) => (open = r));
    const { client } = makeClient({ engine });
    void client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.send(params(1));
    peer.send(task(1, 1));
    peer.send(task(2, 2)); // needs params not sent yet
    peer.send(params(2));
    peer.send(task(3, 2));
    await waitFor(() => engine.calls.length >= 3);
    await sleep(30);
    expect(engine.calls).toEqual(['setup run-a', 'params v1 [1,0,0.5]', 'compute t1 with v1']); // params v2 held back while busy
    open();
    const ids = [(await peer.expect('gradient')).taskId, (await peer.expect('gradient')).taskId, (await peer.expect('gradient')).taskId];
    expect(ids).toEqual([1, 2, 3]);
    expect(engine.calls.slice(3)).toEqual(['params v2 [2,0,0.5]', 'compute t2 with v2', 'compute t3 with v2']);
    expect(client.status.stepsDone).toBe(3);
  });

  test('with sendFrame, the next task waits until the last gradient is written out, and gradient frames reuse one buffer', async () => {
    server = await startCoordinator();
    const frames: Uint8Array[] = [];
    const finish: Array<(error?: Error) => void> = [];
    const big = Array.from({ length: 40_000 }, (_, i) => i / 7); // 160 kB: large enough to be reused
    const engine = new FakeEngine();
    const compute = engine.compute.bind(engine);
    engine.compute = async (t) => ({ ...(await compute(t)), grad: Float32Array.from(big, (x) => x + t.taskId) });
    const { client } = makeClient({
      engine,
      sendFrame: (socket, frame, done) => {
        frames.push(frame);
        (socket as unknown as WebSocket).send(frame.slice()); // what was sent, whatever happens to the buffer later
        finish.push(done); // "written out" only when the test says so
      },
    });
    void client.run();
    const peer = await server.peers.next();
    await peer.join({ ...runInfo(), paramCount: big.length });
    peer.send({ type: 'params', version: 1, params: new Float32Array(big.length) });
    peer.send(task(1, 1));
    peer.send(task(2, 1));
    const g1 = await peer.expect('gradient');
    same(g1.grad!, Float32Array.from(big, (x) => x + 1));
    await sleep(30);
    expect(engine.calls.filter((c) => c.startsWith('compute'))).toEqual(['compute t1 with v1']); // t2 waits: its frame would overwrite t1's
    finish[0]!();
    const g2 = await peer.expect('gradient');
    same(g2.grad!, Float32Array.from(big, (x) => x + 2));
    expect(frames[1]!.buffer).toBe(frames[0]!.buffer); // the same memory, reused
    finish[1]!(new Error('socket hang up')); // a failed write is logged; the close that follows is handled as ever
    await waitFor(() => client.status.stepsDone === 2);
  });

  test('a task whose params version has not arrived waits for it', async () => {
    server = await startCoordinator();
    const { client, engine } = makeClient();
    void client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.send(params(1));
    peer.send(task(9, 2));
    await sleep(50);
    expect(peer.messages.size).toBe(0);
    peer.send(params(2));
    expect((await peer.expect('gradient')).taskId).toBe(9);
    expect(engine.calls.at(-1)).toBe('compute t9 with v2');
  });
});

describe('errors from the engine and from the wire', () => {
  test('a failing compute is reported as TASK_FAILED with the task id, and the client keeps going', async () => {
    server = await startCoordinator();
    const engine = new FakeEngine();
    engine.failTask.add(1);
    const { client } = makeClient({ engine });
    void client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.send(params(1));
    peer.send(task(1, 1));
    peer.send(task(2, 1));
    const err = await peer.expect('error');
    expect(err).toMatchObject({ code: 'TASK_FAILED', taskId: 1, fatal: false });
    expect(err.message).toMatch(/boom on 1/);
    expect((await peer.expect('gradient')).taskId).toBe(2);
  });

  test('an engine result of the wrong shape is caught before sending, naming the field', async () => {
    server = await startCoordinator();
    const engine = new FakeEngine();
    engine.compute = async (t) => ({ ...expectedResult(t, 1), grad: new Float32Array(PARAM_COUNT + 1) });
    const { client } = makeClient({ engine });
    void client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.send(params(1));
    peer.send(task(1, 1));
    const err = await peer.expect('error');
    expect(err.message).toMatch(/grad: expected 1 nodes × 3 params = 3 floats, got 4/);
  });

  test('an invalid frame from the coordinator gets a typed error back and is dropped', async () => {
    server = await startCoordinator();
    const { client } = makeClient();
    void client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.ws.send(Uint8Array.from([0xc1]));
    expect(await peer.expect('error')).toMatchObject({ code: 'BAD_FRAME', fatal: false });
    peer.ws.send(Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0xa3, 0x66, 0x6f, 0x6f])); // {type:'foo'}
    const bad = await peer.expect('error');
    expect(bad.code).toBe('BAD_MESSAGE');
    expect(bad.message).toMatch(/unknown message type 'foo'/);
    peer.send(params(1));
    peer.send(task(1, 1));
    expect((await peer.expect('gradient')).taskId).toBe(1);
  });
});

describe('reconnecting', () => {
  test('after the server drops the connection: hello again, same run → no second setup', async () => {
    server = await startCoordinator();
    const { client, engine } = makeClient();
    void client.run();
    const first = await server.peers.next();
    await first.join(runInfo());
    first.send(params(1));
    first.send(task(1, 1));
    await first.expect('gradient');
    first.ws.terminate();
    const second = await server.peers.next();
    const hello = await second.expect('hello');
    expect(hello.speed).toBe(1000); // the measured rate, now
    second.send({ type: 'welcome', workerId: 'w-1', run: runInfo() });
    second.send(params(2));
    second.send(task(2, 2));
    expect((await second.expect('gradient')).taskId).toBe(2);
    expect(engine.calls.filter((c) => c.startsWith('setup'))).toEqual(['setup run-a']);
    expect(client.status.state).toBe('ready');
  });

  test('a new runId after reconnect sets the engine up again and forgets the old params', async () => {
    server = await startCoordinator();
    const { client, engine } = makeClient();
    void client.run();
    const first = await server.peers.next();
    await first.join(runInfo('run-a'));
    first.send(params(5));
    await waitFor(() => client.status.paramsVersion === 5);
    first.ws.close(1001, 'restarting');
    const second = await server.peers.next();
    await second.join(runInfo('run-b'));
    await waitFor(() => client.status.runId === 'run-b' && client.status.state === 'ready');
    expect(client.status.paramsVersion).toBeNull();
    second.send(params(0));
    second.send(task(1, 0));
    await second.expect('gradient');
    expect(engine.calls.filter((c) => c.startsWith('setup'))).toEqual(['setup run-a', 'setup run-b']);
  });

  test('a gradient finished after its connection dropped is not sent on the new one', async () => {
    server = await startCoordinator();
    const engine = new FakeEngine();
    let open!: () => void;
    engine.gate = new Promise((r) => (open = r));
    const { client } = makeClient({ engine });
    void client.run();
    const first = await server.peers.next();
    await first.join(runInfo());
    first.send(params(1));
    first.send(task(1, 1));
    await waitFor(() => client.status.busy);
    first.ws.terminate();
    const second = await server.peers.next();
    await second.join(runInfo());
    open();
    second.send(params(1));
    second.send(task(2, 1));
    expect((await second.expect('gradient')).taskId).toBe(2);
    expect(client.status.tasksDone).toBe(1);
  });

  test('a handshake that never completes times out and is retried, without crashing on the abandoned socket', async () => {
    server = await startCoordinator();
    const silentSockets: Socket[] = [];
    const silent = createServer((s) => silentSockets.push(s)); // accepts TCP, never answers the upgrade
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const url = `ws://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    try {
      const { client } = makeClient({ url, connectTimeoutMs: 50, reconnect: { initialMs: 5, maxMs: 10, maxAttempts: 2 } });
      await expect(client.run()).rejects.toMatchObject({ code: 'UNREACHABLE', message: expect.stringMatching(/no connection after 50 ms/) });
      await sleep(50); // ws reports the aborted handshakes on the next tick; nothing may throw
    } finally {
      silent.close();
      for (const socket of silentSockets) socket.destroy();
    }
  });

  test('gives up with UNREACHABLE after maxAttempts, with the last error', async () => {
    server = await startCoordinator();
    const url = server.url;
    await server.close();
    const { client } = makeClient({ url, reconnect: { initialMs: 5, maxMs: 10, maxAttempts: 3 } });
    const error = await client.run().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerClientError);
    expect((error as WorkerClientError).code).toBe('UNREACHABLE');
    expect((error as WorkerClientError).message).toMatch(/gave up after 3 reconnect attempts .*ECONNREFUSED/);
    expect(client.status.state).toBe('failed');
  });
});

describe('ending', () => {
  test('stop() sends leave and closes cleanly; run() resolves', async () => {
    server = await startCoordinator();
    const { client } = makeClient();
    const result = client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    await waitFor(() => client.status.state === 'ready');
    client.stop();
    expect(await peer.expect('leave')).toEqual({ type: 'leave', reason: 'stopped' });
    expect((await peer.closed).code).toBe(1000);
    await expect(result).resolves.toEqual({ reason: 'stopped' });
    expect(client.status.state).toBe('stopped');
  });

  test('done resolves run() with the reason and does not reconnect', async () => {
    server = await startCoordinator();
    const { client } = makeClient();
    const result = client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.send({ type: 'done', reason: 'reached 100 steps' });
    await expect(result).resolves.toEqual({ reason: 'reached 100 steps' });
    await peer.closed;
    await sleep(100);
    expect(server.upgrades).toBe(1);
    expect(client.status.state).toBe('done');
  });

  test.each(['UNAUTHORIZED', 'PROTOCOL_MISMATCH', 'RUN_INCOMPATIBLE'] as const)('a %s error rejects run() and does not reconnect', async (code) => {
    server = await startCoordinator();
    const { client } = makeClient();
    const result = client.run();
    const peer = await server.peers.next();
    await peer.expect('hello');
    peer.send(errorMessage(code, 'test detail'));
    peer.ws.close(ERRORS[code].close, code);
    const error = (await result.catch((e: unknown) => e)) as WorkerClientError;
    expect(error).toBeInstanceOf(WorkerClientError);
    expect(error.code).toBe(code);
    expect(error.message).toMatch(/test detail/);
    await sleep(100);
    expect(server.upgrades).toBe(1);
  });

  test('a close with a terminal close code alone (no error message) also ends without retrying', async () => {
    server = await startCoordinator();
    const { client } = makeClient();
    const result = client.run();
    const peer = await server.peers.next();
    await peer.expect('hello');
    peer.ws.close(ERRORS.UNAUTHORIZED.close, 'bad token');
    await expect(result).rejects.toMatchObject({ code: 'UNAUTHORIZED', message: 'bad token' });
    await sleep(100);
    expect(server.upgrades).toBe(1);
  });

  test('a fatal but retryable error (SHUTTING_DOWN) reconnects', async () => {
    server = await startCoordinator();
    const { client } = makeClient();
    void client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    peer.send(errorMessage('SHUTTING_DOWN'));
    peer.ws.close(ERRORS.SHUTTING_DOWN.close);
    const again = await server.peers.next();
    await again.expect('hello');
    expect(client.status.lastError).toMatch(/1001/);
  });

  test('an HTTP 401 at upgrade ends with UNAUTHORIZED and no retry loop', async () => {
    let refusals = 0;
    server = await startCoordinator({
      verifyClient: (info: { req: { url?: string } }, done: (ok: boolean, code?: number, message?: string) => void) => {
        refusals++;
        done(info.req.url?.includes('token=right') ?? false, 401, 'Unauthorized');
      },
    });
    const { client } = makeClient({ token: 'wrong' });
    const error = (await client.run().catch((e: unknown) => e)) as WorkerClientError;
    expect(error).toBeInstanceOf(WorkerClientError);
    expect(error.code).toBe('UNAUTHORIZED');
    expect(error.message).toMatch(/401/);
    await sleep(100);
    expect(refusals).toBe(1); // asked once, never retried
    expect(server.upgrades).toBe(0);
    expect(client.status.attempt).toBe(0);
    expect(client.status.state).toBe('failed');
  });

  test('setup failure leaves with the reason and rejects with SETUP_FAILED', async () => {
    server = await startCoordinator();
    const engine = new FakeEngine();
    engine.setup = async () => {
      throw new Error('dataset 404');
    };
    const { client } = makeClient({ engine });
    const result = client.run();
    const peer = await server.peers.next();
    await peer.join(runInfo());
    expect(await peer.expect('leave')).toEqual({ type: 'leave', reason: 'setup failed: dataset 404' });
    await expect(result).rejects.toMatchObject({ code: 'SETUP_FAILED' });
  });
});

describe('a compressed run', () => {
  const HALF = 0x3800; // 0.5 as a half

  test('gradients go out as halves of the engine\'s values; parameters arrive as deltas on the full ones', async () => {
    server = await startCoordinator();
    const { client, engine } = makeClient();
    void client.run();
    const peer = await server.peers.next();
    await peer.join({ ...runInfo(), compress: 'fp16' });
    peer.send(params(1));
    peer.send({ type: 'paramsDelta', version: 2, base: 1, deltaF16: new Uint16Array([HALF, HALF, 0x8000 | HALF]) });
    const t = task(4, 2);
    peer.send(t);
    const g = await peer.expect('gradient');
    expect(g.grad).toBeUndefined();
    expect(g.gradF16).toBeInstanceOf(Uint16Array);
    const decoded = new Float32Array(PARAM_COUNT);
    dequantize({ kind: 'fp16', f16: g.gradF16! }, decoded);
    same(decoded, expectedResult(t, 2).grad); // exact in fp16: nothing left for the residual
    expect(engine.calls).toEqual(['setup run-a', 'params v2 [1.5,0.5,0]', 'compute t4 with v2']);
  });

  test('int8 gradients carry their scales; a delta the worker cannot apply makes it rejoin for full parameters', async () => {
    server = await startCoordinator();
    const { client, logs } = makeClient();
    void client.run();
    const peer = await server.peers.next();
    await peer.join({ ...runInfo(), compress: 'int8' });
    peer.send(params(1));
    peer.send(task(1, 1));
    const g = await peer.expect('gradient');
    expect([g.grad, g.gradF16]).toEqual([undefined, undefined]);
    expect([g.gradI8?.length, g.gradScale?.length]).toEqual([PARAM_COUNT, 1]);
    peer.send({ type: 'paramsDelta', version: 3, base: 2, deltaI8: new Int8Array(PARAM_COUNT), deltaScale: new Float32Array(1) });
    const again = await server.peers.next();
    expect((await again.next()).type).toBe('hello');
    expect(logs.join('\n')).toMatch(/based on v2, but this worker holds v1; reconnecting for the full parameters/);
  });
});

describe('options', () => {
  test.each([
    [{ url: 'http://x' }, /options\.url must be a ws:\/\/ or wss:\/\/ URL/],
    [{ threads: 0 }, /options\.threads must be an integer from 1 to 1024/],
    [{ threads: '2' }, /options\.threads/],
    [{ name: '' }, /options\.name/],
    [{ kind: 'phone' }, /options\.kind must be one of node, browser/],
    [{ engine: {} }, /options\.engine must have setup, setParams and compute/],
    [{ WebSocket: undefined }, /options\.WebSocket/],
    [{ reconnect: { initialMs: -1 } }, /options\.reconnect\.initialMs must be a positive number/],
    [{ reconnect: { initialMs: 100, maxMs: 10 } }, /maxMs must not be below initialMs/],
    [{ reconnect: { maxAttempts: 1.5 } }, /maxAttempts/],
  ])('%o is refused with a precise TypeError', (bad, pattern) => {
    server = undefined as unknown as FakeCoordinator;
    const base = { url: 'ws://h', token: 't', name: 'n', kind: 'node', threads: 1, engine: new FakeEngine(), WebSocket };
    expect(() => new WorkerClient({ ...base, ...bad } as WorkerClientOptions)).toThrow(pattern);
    expect(() => new WorkerClient({ ...base, ...bad } as WorkerClientOptions)).toThrow(TypeError);
  });
});
