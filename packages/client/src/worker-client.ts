import {
  ERRORS,
  PROTOCOL_VERSION,
  decodeServerMessage,
  encode,
  errorCodeForClose,
  errorMessage,
  gradientFields,
  type ClientMessage,
  type ErrorMessage,
  type GradientMessage,
  type ParamsDeltaMessage,
  type RunInfo,
  type ServerMessage,
  type TaskMessage,
} from '@gradmesh/protocol';
import { backoffDelay } from './backoff.js';
import { WorkerClientError } from './client-error.js';
import { checkGradient } from './check-gradient.js';
import { WorkerCompression } from './compression.js';
import { validateOptions, type ResolvedOptions } from './options.js';
import { TaskScheduler } from './scheduler.js';
import type { ClientState, ClientStatus, RunResult, WebSocketLike, WorkerClientOptions } from './types.js';

// setTimeout exists in every runtime we target but in no ES lib typing;
// reach it through globalThis instead of pulling in DOM or Node types.
const timers = globalThis as unknown as {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
};

const OPEN = 1; // WebSocket.OPEN, the same in every implementation
const TERMINAL: readonly ClientState[] = ['done', 'stopped', 'failed'];
/** Frames at least this big are encoded into a buffer kept for the next one (sendFrame). */
const REUSE_FRAME_BYTES = 64 * 1024;

/** Which state may follow which; anything else is a bug, thrown loudly. */
const NEXT: Record<ClientState, readonly ClientState[]> = {
  idle: ['connecting', 'stopped'],
  connecting: ['joining', 'reconnecting', 'failed', 'stopped'],
  joining: ['setting-up', 'ready', 'reconnecting', 'done', 'failed', 'stopped'],
  'setting-up': ['ready', 'setting-up', 'reconnecting', 'done', 'failed', 'stopped'],
  ready: ['setting-up', 'ready', 'reconnecting', 'done', 'failed', 'stopped'],
  reconnecting: ['connecting', 'failed', 'stopped'],
  done: [],
  stopped: [],
  failed: [],
};

/** Moving-average weight of the newest samples/s measurement. */
const SPEED_EMA = 0.2;

/**
 * The worker's side of the protocol over any WebSocket and any TaskEngine:
 * connect (token in the query string, since browsers cannot set headers),
 * hello, welcome → engine.setup once per run, params and tasks → gradients,
 * reconnect with backoff when the connection drops, stop on done, on a
 * terminal error, or on stop().
 *
 * One socket at a time. Events from a socket that is no longer current are
 * ignored, and a gradient computed for a task of a lost connection is
 * dropped: the coordinator has reassigned that task.
 */
export class WorkerClient {
  readonly #o: ResolvedOptions;
  #state: ClientState = 'idle';
  #socket: WebSocketLike | null = null;
  #connectTimer: unknown = null;
  #retryTimer: unknown = null;
  #scheduler = new TaskScheduler();
  #pumping = false;
  /** Settles the gradient send in flight (sendFrame), if any. */
  #unsent: ((error?: Error) => void) | null = null;
  /** The buffer gradients are encoded into, reused while each send completes before the next (sendFrame). */
  #frame: Uint8Array | null = null;
  #setup: { runId: string; promise: Promise<void>; done: boolean } | null = null;
  #run: RunInfo | null = null;
  /** The run's parameter view and gradient residual when it is compressed; null otherwise. */
  #codec: WorkerCompression | null = null;
  #welcomedAt = 0;
  #sentOnSocket = 0;
  /** What the current socket's error event said; its close event says less (1006). */
  #socketError: string | null = null;
  #lastStep = -1;
  #result: { promise: Promise<RunResult>; resolve(r: RunResult): void; reject(e: Error): void };
  #status: ClientStatus = {
    state: 'idle',
    attempt: 0,
    workerId: null,
    runId: null,
    paramsVersion: null,
    busy: false,
    tasksDone: 0,
    stepsDone: 0,
    samplesDone: 0,
    lossMean: null,
    samplesPerSec: null,
    lastError: null,
  };

  constructor(options: WorkerClientOptions) {
    this.#o = validateOptions(options);
    let resolve!: (r: RunResult) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<RunResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // run() may never be awaited before a failure; do not report it as unhandled here.
    promise.catch(() => {});
    this.#result = { promise, resolve, reject };
  }

  get status(): ClientStatus {
    return { ...this.#status };
  }

  /**
   * Connect and work until the coordinator says done (resolves with its
   * reason) or stop() is called (resolves with 'stopped'). Rejects with a
   * WorkerClientError on a terminal error. Calling it again returns the same
   * promise.
   */
  run(): Promise<RunResult> {
    if (this.#state === 'idle') this.#connect();
    return this.#result.promise;
  }

  /** Say leave, close cleanly, and resolve run() with 'stopped'. Idempotent. */
  stop(reason = 'stopped'): void {
    if (this.#terminal()) return;
    this.#send({ type: 'leave', reason });
    this.#end('stopped');
    this.#result.resolve({ reason: 'stopped' });
  }

  // ---- connection ----------------------------------------------------------

  #connect(): void {
    this.#to('connecting');
    const o = this.#o;
    this.#log(`connecting to ${o.url}${this.#status.attempt > 0 ? ` (attempt ${this.#status.attempt + 1})` : ''}`);
    let socket: WebSocketLike;
    try {
      socket = new o.WebSocket(o.urlWithToken);
    } catch (error) {
      // A malformed URL throws synchronously; no retry can fix it.
      this.#fail('UNREACHABLE', `cannot open ${o.url}: ${messageOf(error)}`);
      return;
    }
    this.#socket = socket;
    this.#sentOnSocket = 0;
    this.#welcomedAt = 0;
    this.#socketError = null;
    socket.binaryType = 'arraybuffer';
    socket.onopen = () => {
      if (socket !== this.#socket) return;
      this.#clearConnectTimer();
      this.#to('joining');
      this.#send({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        name: o.name,
        kind: o.kind,
        threads: o.threads,
        ...(this.#speed() !== undefined ? { speed: this.#speed() } : {}),
      });
    };
    socket.onmessage = (event: { data: unknown }) => {
      if (socket === this.#socket) this.#onFrame(event.data);
    };
    socket.onerror = (event: { message?: unknown; error?: unknown }) => {
      if (socket !== this.#socket) return;
      const text = typeof event?.message === 'string' ? event.message : messageOf(event?.error);
      if (text) this.#socketError = text;
      // `ws` reports a refused upgrade as "Unexpected server response: 401".
      // Browsers hide the status (the coordinator can accept and then close
      // with UNAUTHORIZED's close code, which is handled in #onClose).
      if (/server response: 40[13]\b/.test(text)) this.#fail('UNAUTHORIZED', `${ERRORS.UNAUTHORIZED.message} (${text})`);
    };
    socket.onclose = (event: { code?: number; reason?: string }) => {
      if (socket === this.#socket) this.#onClose(event?.code ?? 1006, event?.reason ?? '');
    };
    this.#connectTimer = timers.setTimeout(() => {
      if (socket !== this.#socket || this.#state !== 'connecting') return;
      this.#status.lastError = `no connection after ${o.connectTimeoutMs} ms`;
      this.#drop();
      this.#retry();
    }, o.connectTimeoutMs);
  }

  #onClose(code: number, reason: string): void {
    this.#drop();
    if (this.#terminal()) return;
    const codeName = errorCodeForClose(code);
    if (codeName !== undefined && !ERRORS[codeName].retry) {
      this.#fail(codeName, reason || ERRORS[codeName].message);
      return;
    }
    const closed = `connection closed (${code}${reason ? ` ${reason}` : ''})`;
    this.#status.lastError = this.#socketError === null ? closed : `${closed}: ${this.#socketError}`;
    this.#log(this.#status.lastError);
    this.#retry();
  }

  /** Forget the current socket (closing it if still open) and what it carried. */
  #drop(): void {
    this.#clearConnectTimer();
    // A send still in flight will never finish on this socket: let the task loop go on,
    // and never write into that frame again (a closing socket may still flush it).
    this.#unsent?.();
    this.#frame = null;
    const socket = this.#socket;
    this.#socket = null;
    this.#scheduler.clear();
    if (socket !== null) {
      // No-ops, not null: `ws` emits 'error' when a connecting socket is closed, and an
      // EventEmitter 'error' with no listener is an uncaught exception.
      socket.onopen = socket.onmessage = socket.onerror = socket.onclose = noop;
      try {
        socket.close(1000);
      } catch {
        // closing a socket that never opened may throw in some implementations
      }
    }
  }

  #retry(): void {
    const o = this.#o;
    // A connection that made progress, or lasted a full backoff period, resets the count;
    // one that dies right after welcome every time still runs out of attempts.
    const healthy = this.#sentOnSocket > 0 || (this.#welcomedAt > 0 && Date.now() - this.#welcomedAt >= o.maxMs);
    if (healthy) this.#status.attempt = 0;
    this.#status.attempt++;
    if (this.#status.attempt > o.maxAttempts) {
      this.#fail('UNREACHABLE', `gave up after ${o.maxAttempts} reconnect attempts to reach ${o.url}: ${this.#status.lastError ?? 'unknown error'}`);
      return;
    }
    const delay = backoffDelay(this.#status.attempt, o.initialMs, o.maxMs, o.random);
    this.#to('reconnecting');
    this.#log(`reconnecting in ${Math.round(delay)} ms`);
    this.#retryTimer = timers.setTimeout(() => {
      this.#retryTimer = null;
      if (this.#state === 'reconnecting') this.#connect();
    }, delay);
  }

  // ---- messages ------------------------------------------------------------

  #onFrame(data: unknown): void {
    const result = decodeServerMessage(data as Uint8Array | ArrayBuffer);
    if (!result.ok) {
      // Answer as the coordinator answers us: a typed error, and carry on.
      this.#log(`dropped a frame: ${result.message}`);
      this.#send(errorMessage(result.code, result.message));
      return;
    }
    const msg: ServerMessage = result.msg;
    switch (msg.type) {
      case 'welcome':
        this.#onWelcome(msg.workerId, msg.run);
        break;
      case 'params':
        this.#scheduler.addParams(msg.version, this.#codec?.adopt(msg.version, msg.params) ?? msg.params);
        this.#kick();
        break;
      case 'paramsDelta':
        this.#onDelta(msg);
        break;
      case 'task':
        this.#scheduler.addTask(msg);
        this.#kick();
        break;
      case 'done':
        this.#log(`run finished: ${msg.reason}`);
        this.#end('done');
        this.#result.resolve({ reason: msg.reason });
        break;
      case 'error':
        this.#onError(msg);
        break;
    }
  }

  #onWelcome(workerId: string, run: RunInfo): void {
    this.#status.workerId = workerId;
    this.#welcomedAt = Date.now();
    const previous = this.#setup;
    if (previous !== null && previous.runId === run.runId) {
      // Same run after a reconnect: the engine is (or is being) set up already.
      this.#to(previous.done ? 'ready' : 'setting-up');
      this.#kick();
      return;
    }
    this.#log(`joined run ${run.runId} as ${workerId}`);
    this.#scheduler.reset();
    this.#run = run;
    this.#codec = run.compress === undefined || run.compress === 'none' ? null : new WorkerCompression(run.compress, run.paramCount);
    this.#status.runId = run.runId;
    this.#status.paramsVersion = null;
    this.#to('setting-up');
    // Never two setups at once: a new run's waits for the old one to settle.
    const promise = (previous?.promise ?? Promise.resolve()).catch(() => {}).then(() => this.#o.engine.setup(run));
    const setup = { runId: run.runId, promise, done: false };
    this.#setup = setup;
    promise.then(
      () => {
        if (this.#setup !== setup || this.#terminal()) return;
        setup.done = true;
        if (this.#state === 'setting-up' && this.#socket !== null) this.#to('ready');
        this.#kick();
      },
      (error: unknown) => {
        if (this.#setup !== setup || this.#terminal()) return;
        this.#send({ type: 'leave', reason: `setup failed: ${messageOf(error)}`.slice(0, 1024) });
        this.#fail('SETUP_FAILED', `engine setup for run ${run.runId} failed: ${messageOf(error)}`);
      },
    );
  }

  /**
   * Compressed runs: the next parameters as a delta on the ones held. One
   * that cannot apply means this worker lost track of the parameters; it
   * rejoins, and joining brings the full parameters.
   */
  #onDelta(msg: ParamsDeltaMessage): void {
    const params = this.#codec?.applyDelta(msg) ?? 'paramsDelta in a run without compression';
    if (typeof params === 'string') {
      this.#status.lastError = params;
      this.#log(`${params}; reconnecting for the full parameters`);
      this.#drop();
      this.#retry();
      return;
    }
    this.#scheduler.addParams(msg.version, params);
    this.#kick();
  }

  #onError(msg: ErrorMessage): void {
    this.#status.lastError = `${msg.code}: ${msg.message}`;
    this.#log(`coordinator reports ${this.#status.lastError}`);
    if (!ERRORS[msg.code].retry) this.#fail(msg.code, msg.message);
    else this.#emit(); // a fatal but retryable error is followed by a close, handled there
  }

  // ---- tasks ---------------------------------------------------------------

  /** Run the pump if it is idle; every event that may unblock it calls this. */
  #kick(): void {
    this.#pump().catch((error: unknown) => this.#log(`task loop failed: ${messageOf(error)}`));
  }

  /** The one loop that touches the engine. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#terminal() && this.#setup?.done === true && this.#socket !== null) {
        const action = this.#scheduler.next();
        if (action.kind === 'wait') break;
        if (action.kind === 'apply') this.#applyParams(action.version, action.params);
        else if (action.kind === 'stale') {
          const detail = `task ${action.task.taskId} needs params v${action.task.paramsVersion}, which were replaced (holding v${action.held})`;
          this.#log(detail);
          this.#send(errorMessage('TASK_FAILED', detail, { taskId: action.task.taskId }));
        } else await this.#compute(action.task);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #applyParams(version: number, params: Float32Array): void {
    try {
      this.#o.engine.setParams(version, params);
      this.#status.paramsVersion = version;
    } catch (error) {
      // Tasks for this version cannot run; they wait, then go stale when newer params arrive.
      this.#scheduler.held = null;
      this.#status.paramsVersion = null;
      this.#log(`engine refused params v${version}: ${messageOf(error)}`);
      this.#send(errorMessage('TASK_FAILED', `setParams v${version}: ${messageOf(error)}`));
    }
    this.#emit();
  }

  async #compute(task: TaskMessage): Promise<void> {
    const socket = this.#socket;
    this.#status.busy = true;
    this.#emit();
    try {
      const r = await this.#o.engine.compute(task);
      if (socket !== this.#socket || this.#terminal()) return; // the task was reassigned when the connection went
      const gradient: GradientMessage = {
        type: 'gradient',
        step: task.step,
        taskId: task.taskId,
        samples: r.samples,
        computeMs: r.computeMs,
        nodes: r.nodes,
        losses: r.losses,
        grad: r.grad,
      };
      // An engine bug is reported here, naming the field, rather than as the coordinator's BAD_MESSAGE.
      const problem = checkGradient(gradient, this.#run?.paramCount);
      if (problem !== undefined) throw new Error(`engine returned a bad result: ${problem}`);
      const out = this.#compressed(gradient);
      if (this.#o.sendFrame) await this.#sendTracked(out);
      else this.#send(out);
      this.#count(task, r.samples, r.computeMs, r.losses);
    } catch (error) {
      this.#log(`task ${task.taskId} failed: ${messageOf(error)}`);
      this.#status.lastError = `task ${task.taskId}: ${messageOf(error)}`;
      if (socket === this.#socket) this.#send(errorMessage('TASK_FAILED', this.#status.lastError, { taskId: task.taskId }));
    } finally {
      this.#status.busy = false;
      this.#emit();
    }
  }

  /** The gradient as the run wants it: float32 as computed, or encoded with error feedback. */
  #compressed(gradient: GradientMessage): GradientMessage {
    if (this.#codec === null) return gradient;
    const { grad, ...rest } = gradient;
    return { ...rest, ...gradientFields(this.#codec.encode(grad!, gradient.nodes.length / 2)) };
  }

  #count(task: TaskMessage, samples: number, computeMs: number, losses: Float64Array): void {
    const s = this.#status;
    this.#sentOnSocket++;
    s.tasksDone++;
    if (task.step !== this.#lastStep) {
      s.stepsDone++;
      this.#lastStep = task.step;
    }
    s.samplesDone += samples;
    if (samples > 0) {
      let sum = 0;
      for (let i = 0; i < losses.length; i++) sum += losses[i];
      s.lossMean = sum / samples;
    }
    if (computeMs > 0 && samples > 0) {
      const speed = (samples * 1000) / computeMs;
      s.samplesPerSec = s.samplesPerSec === null ? speed : s.samplesPerSec + SPEED_EMA * (speed - s.samplesPerSec);
    }
  }

  // ---- plumbing ------------------------------------------------------------

  #send(msg: ClientMessage): void {
    const socket = this.#socket;
    if (socket === null || socket.readyState !== OPEN) return;
    try {
      socket.send(encode(msg));
    } catch (error) {
      this.#log(`send failed: ${messageOf(error)}`); // the close event follows
    }
  }

  /**
   * A gradient through sendFrame, encoded into the buffer the last one used
   * (it is written out by then); resolves once written out, or the
   * connection is gone.
   */
  #sendTracked(msg: ClientMessage): Promise<void> {
    const socket = this.#socket;
    if (socket === null || socket.readyState !== OPEN) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let settled = false;
      const done = (error?: Error): void => {
        if (settled) return;
        settled = true;
        if (this.#unsent === done) this.#unsent = null;
        if (error) this.#log(`send failed: ${messageOf(error)}`); // the close event follows
        resolve();
      };
      this.#unsent = done;
      try {
        const frame = encode(msg, this.#frame ?? undefined);
        // Kept when it has a buffer of its own (a small frame may share msgpackr's).
        if (frame.byteLength >= REUSE_FRAME_BYTES && frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength) this.#frame = frame;
        this.#o.sendFrame!(socket, frame, done);
      } catch (error) {
        done(error as Error);
      }
    });
  }

  #speed(): number | undefined {
    return this.#status.samplesPerSec ?? this.#o.speed;
  }

  #fail(code: WorkerClientError['code'], message: string): void {
    if (this.#terminal()) return;
    this.#status.lastError = `${code}: ${message}`;
    this.#log(`giving up: ${this.#status.lastError}`);
    this.#end('failed');
    this.#result.reject(new WorkerClientError(code, message));
  }

  /** Into a terminal state: no timers, no socket (closed with 1000, a normal closure). */
  #end(state: 'done' | 'stopped' | 'failed'): void {
    if (this.#retryTimer !== null) timers.clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#drop();
    this.#to(state);
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== null) timers.clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }

  #terminal(): boolean {
    return TERMINAL.includes(this.#state);
  }

  #to(state: ClientState): void {
    if (!NEXT[this.#state].includes(state)) throw new Error(`WorkerClient: no transition ${this.#state} → ${state}`);
    this.#state = state;
    this.#status.state = state;
    this.#emit();
  }

  #emit(): void {
    try {
      this.#o.onStatus?.(this.status);
    } catch (error) {
      this.#log(`onStatus threw: ${messageOf(error)}`);
    }
  }

  #log(line: string): void {
    this.#o.log?.(line);
  }
}

function noop(): void {}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error === undefined || error === null) return '';
  return String(error);
}
