import type { RunInfo, TaskMessage, WorkerKind } from '@gradmesh/protocol';

/** What a worker computes with: JS kernels, WASM, a thread pool — the client does not care. */
export interface TaskEngine {
  /** Prepare for a run: load the dataset, build the model. Called once per runId. */
  setup(run: RunInfo): Promise<void>;
  /** Adopt a parameter version. Never called while `compute` is running. */
  setParams(version: number, params: Float32Array): void;
  /** Gradient sums for the task's micro-batch range, with the parameters last set. */
  compute(task: TaskMessage): Promise<TaskResult>;
}

export interface TaskResult {
  /** (lo, hi) pairs of the reduction-tree nodes covered. */
  nodes: Uint32Array;
  /** Loss sum per node. */
  losses: Float64Array;
  /** paramCount floats per node, in `nodes` order. */
  grad: Float32Array;
  samples: number;
  computeMs: number;
}

/**
 * The part of the browser WebSocket API the client uses. Browsers' WebSocket
 * and the `ws` package's both fit. Handlers take `any` events so that either
 * library's event types are assignable.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ReconnectOptions {
  /** First delay before reconnecting (default 250 ms); doubles per failed attempt. */
  initialMs?: number;
  /** Cap on the delay (default 10 s). */
  maxMs?: number;
  /** Consecutive failed attempts before giving up (default 20; Infinity allowed). */
  maxAttempts?: number;
}

export interface WorkerClientOptions {
  /** ws:// or wss:// address of the coordinator; `token` is appended as ?token=. */
  url: string;
  token: string;
  name: string;
  kind: WorkerKind;
  threads: number;
  engine: TaskEngine;
  WebSocket: WebSocketConstructor;
  /** Samples per second to announce in the first hello; later hellos send the measured rate. */
  speed?: number;
  log?: (line: string) => void;
  reconnect?: ReconnectOptions;
  /** Give up on a connection attempt that has not opened after this long (default 20 s). */
  connectTimeoutMs?: number;
  onStatus?: (status: ClientStatus) => void;
  /** Source of jitter for reconnect delays (default Math.random). */
  random?: () => number;
  /**
   * Sends a frame and calls `done` once it is written out (with `ws`:
   * send's callback), after which the client may write its next frame into
   * the same memory. Gradients are then encoded into one buffer reused from
   * step to step instead of a fresh one (2.7 MB of new pages per
   * 784-512-512-10 gradient); the next task waits for `done`. Optional: a
   * browser's send copies its argument, so browsers need no such care.
   */
  sendFrame?: (socket: WebSocketLike, frame: Uint8Array, done: (error?: Error) => void) => void;
}

export type ClientState =
  | 'idle'
  | 'connecting'
  | 'joining' // open, hello sent, waiting for welcome
  | 'setting-up' // welcomed, engine.setup running
  | 'ready' // taking tasks
  | 'reconnecting' // waiting out the backoff delay
  | 'done' // the coordinator said the run is over
  | 'stopped' // stop() was called
  | 'failed'; // a terminal error

/** A snapshot for display (the browser join page shows these). */
export interface ClientStatus {
  state: ClientState;
  /** Consecutive failed connection attempts. */
  attempt: number;
  workerId: string | null;
  runId: string | null;
  paramsVersion: number | null;
  /** Whether a task is being computed now. */
  busy: boolean;
  tasksDone: number;
  /** Distinct steps this worker contributed a gradient to. */
  stepsDone: number;
  samplesDone: number;
  /** Mean loss of the last task: Σ losses / samples. */
  lossMean: number | null;
  /** Moving average of samples per second of compute. */
  samplesPerSec: number | null;
  lastError: string | null;
}

/** How run() ends when it resolves. Failures reject with a WorkerClientError. */
export interface RunResult {
  reason: string;
}
