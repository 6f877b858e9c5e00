import {
  decodeClientMessage, encode, type ClientMessage, type RunInfo, type ServerMessage, type TaskMessage,
} from '@gradmesh/protocol';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type ServerOptions } from 'ws';
import type { TaskEngine, TaskResult } from '../src/index.js';

/** A queue whose `next()` waits for the next item. */
export class Inbox<T> {
  #items: T[] = [];
  #waiters: ((item: T) => void)[] = [];
  push(item: T): void {
    const w = this.#waiters.shift();
    if (w) w(item);
    else this.#items.push(item);
  }
  next(timeoutMs = 5000): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting')), timeoutMs);
      this.#waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }
  get size(): number {
    return this.#items.length;
  }
}

/** One client connection as the test's fake coordinator sees it. */
export class Peer {
  readonly messages = new Inbox<ClientMessage>();
  readonly closed: Promise<{ code: number; reason: string }>;
  constructor(readonly ws: WebSocket, readonly req: IncomingMessage) {
    ws.on('message', (data: Buffer) => {
      const r = decodeClientMessage(data);
      if (!r.ok) throw new Error(`client sent an invalid frame: ${r.message}`);
      this.messages.push(r.msg);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }
  send(msg: ServerMessage): void {
    this.ws.send(encode(msg));
  }
  next(): Promise<ClientMessage> {
    return this.messages.next();
  }
  async expect<T extends ClientMessage['type']>(type: T): Promise<Extract<ClientMessage, { type: T }>> {
    const msg = await this.next();
    if (msg.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(msg)}`);
    return msg as Extract<ClientMessage, { type: T }>;
  }
  /** Reads hello and answers welcome. */
  async join(run: RunInfo, workerId = 'w-1'): Promise<void> {
    await this.expect('hello');
    this.send({ type: 'welcome', workerId, run });
  }
}

export interface FakeCoordinator {
  url: string;
  peers: Inbox<Peer>;
  upgrades: number;
  close(): Promise<void>;
}

export async function startCoordinator(options: Partial<ServerOptions> = {}): Promise<FakeCoordinator> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const peers = new Inbox<Peer>();
  const server: FakeCoordinator = {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/join`,
    peers,
    upgrades: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
  wss.on('headers', () => server.upgrades++);
  wss.on('connection', (ws, req) => peers.push(new Peer(ws, req)));
  return server;
}

export const PARAM_COUNT = 3;

export function runInfo(runId = 'run-a'): RunInfo {
  return {
    runId, dataset: 'xor', datasetUrl: null, paramCount: PARAM_COUNT, batch: 8, microBatch: 2, seed: 1,
    spec: { inputs: 2, layers: [{ units: 1, activation: 'sigmoid' }], loss: 'mse_sum' },
  };
}

/** The engine's answer for a task: a function of the task and the params version it ran with. */
export function expectedResult(task: TaskMessage, version: number): TaskResult {
  const samples = task.indices.length;
  return {
    nodes: new Uint32Array([task.mbLo, task.mbHi]),
    losses: new Float64Array([samples * 0.5]),
    grad: Float32Array.from({ length: PARAM_COUNT }, (_, i) => version + i / 8 + task.taskId),
    samples,
    computeMs: 2,
  };
}

/** A scripted engine that records every call. */
export class FakeEngine implements TaskEngine {
  readonly calls: string[] = [];
  version = -1;
  failTask = new Set<number>();
  /** When set, compute waits for this promise before answering. */
  gate: Promise<void> | null = null;

  async setup(run: RunInfo): Promise<void> {
    this.calls.push(`setup ${run.runId}`);
  }
  setParams(version: number, params: Float32Array): void {
    this.calls.push(`params v${version} [${Array.from(params).join(',')}]`);
    this.version = version;
  }
  async compute(task: TaskMessage): Promise<TaskResult> {
    this.calls.push(`compute t${task.taskId} with v${this.version}`);
    if (this.gate) await this.gate;
    if (this.failTask.has(task.taskId)) throw new Error(`boom on ${task.taskId}`);
    return expectedResult(task, this.version);
  }
}

export function task(taskId: number, paramsVersion: number, step = taskId): TaskMessage {
  return { type: 'task', step, taskId, paramsVersion, batch: 64, mbLo: 2 * taskId, mbHi: 2 * taskId + 2, indices: new Uint32Array([taskId, taskId + 10]) };
}

export const params = (version: number) => ({ type: 'params' as const, version, params: new Float32Array([version, -0, 0.5]) });

export async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { WebSocket };
