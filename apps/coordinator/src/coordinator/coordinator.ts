import { EventEmitter } from 'node:events';
import { coverRanges, filteredMean, microBatchCount, samplesIn, TreeAccumulator, type Aggregate, type StepOptimizer } from '@gradmesh/engine';
import { nodeAdd, nodeAllFinite } from '@gradmesh/engine/node';
import { evenUnlessSlower, medianOf } from '@gradmesh/data';
import {
  encode,
  errorMessage,
  gradientLength,
  gradientPayload,
  isFiniteArray,
  type ErrorCode,
  type GradientMessage,
  type HelloMessage,
  type RunInfo,
  type ServerMessage,
} from '@gradmesh/protocol';
import { Ledger } from './ledger.js';
import { GradientDecoder, ParamsView } from './compression.js';
import { ParamsFrames } from './params-frames.js';

/** How the coordinator reaches one worker, whatever carries the bytes. */
export interface WorkerHandle {
  send(msg: ServerMessage): void;
  /** Sends an already encoded message (one encoding of the parameters serves every worker). */
  sendEncoded?(bytes: Uint8Array): void;
  /** Bytes accepted by sendEncoded and not yet written out (a sent frame is written as it is). */
  queued?(): number;
  /** Writes out now what the sends of this turn held back to write together. */
  flush?(): void;
  close(code: number, reason: string): void;
}

export type MemberState = 'idle' | 'busy' | 'straggling';

export interface Member {
  id: string;
  name: string;
  kind: 'node' | 'browser';
  threads: number;
  handle: WorkerHandle;
  /** Compute speed, samples per second: the median of `speeds` once measured. */
  speed: number;
  /** The last few measured speeds (newest last). */
  speeds: number[];
  samplesDone: number;
  stepsDone: number;
  joinedAt: number;
  lastSeen: number;
  state: MemberState;
  /** Share of the last step's batch, 0..1. */
  share: number;
  /** Tasks taken away from it at a deadline whose (late) result has not come back. */
  overdue: number;
  /** Tasks ever assigned. */
  tasksAssigned: number;
  /** Consecutive tasks it reported as failed. */
  failures: number;
  /** The parameter version it was last sent: a compressed run's delta applies only to it. */
  paramsVersion: number;
}

interface Assignment {
  taskId: number;
  step: number;
  worker: string;
  mbLo: number;
  mbHi: number;
  sentAt: number;
  status: 'pending' | 'done' | 'cancelled';
}

export interface CoordinatorOptions {
  run: RunInfo;
  params: Float32Array;
  optimizer: StepOptimizer;
  /** Sample indices of global step t, and its epoch (the shared data order). */
  plan: (step: number) => { epoch: number; indices: Uint32Array };
  startStep: number;
  totalSteps: number;
  minWorkers: number;
  /** The straggler deadline is max(floor, factor × recent step time). */
  deadlineFloorMs?: number;
  deadlineFactor?: number;
  /** Stop (with a checkpoint) after this long without any worker, once the run has started. */
  workerTimeoutMs?: number;
  ledger?: Ledger;
  now?: () => number;
  /** mean: the canonical-tree sum (exact, the default); median / trimmed-mean: robust to hostile workers. */
  aggregate?: Aggregate;
  trim?: number;
}

export interface StepReport {
  step: number;
  epoch: number;
  loss: number;
  samples: number;
  ms: number;
  /** Slowest worker's compute time. */
  computeMs: number;
  /** Time waiting for the slowest worker beyond the median one. */
  waitMs: number;
  /** Everything else: messages, reduction, optimizer. */
  commMs: number;
  workers: number;
  reassigned: number;
}

/**
 * The synchronous data-parallel step, independent of sockets: membership,
 * shard assignment by measured speed, straggler deadlines and reassignment,
 * validation of every gradient, the canonical-tree reduction and the
 * optimizer step. A step's result is a function of (step, micro-batches)
 * only — not of who computed them or when they arrived — unless the run is
 * compressed (RunInfo.compress fp16|int8, see compression.ts): then workers
 * compute at a quantized view of the parameters and send quantized gradients
 * with error feedback, and the result depends on who computed what.
 */
export class Coordinator extends EventEmitter {
  readonly members = new Map<string, Member>();
  step: number;
  readonly ledger: Ledger;
  private nextWorker = 1;
  private nextTask = 1;
  private readonly assignments = new Map<number, Assignment>();
  /** Tasks out and not yet settled: pending, or overdue and cancelled while their worker is still connected. */
  get outstandingTasks(): number {
    return this.assignments.size;
  }
  private acc: TreeAccumulator | null = null;
  /** The reduction's add: SIMD via the native addon when it loads, the same bits as the JS loop. */
  private readonly add = nodeAdd();
  /** Every gradient is checked for NaN/±Inf before it is summed: SIMD when the native addon loads. */
  private readonly allFinite = nodeAllFinite(isFiniteArray);
  /** Gradients as float32 blocks per node (decoded in compressed runs). */
  private readonly decoder: GradientDecoder;
  /** Compressed runs: the parameters the workers hold, advanced by a delta each step. */
  private readonly paramsView: ParamsView | null;
  private readonly frames = new ParamsFrames();
  private stepResolve: (() => void) | null = null;
  private stepFailed: ((err: Error) => void) | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private recentStepMs: number[] = [];
  private unassigned: Array<[number, number]> = [];
  private current: { indices: Uint32Array; epoch: number; m: number; started: number; computeMs: number[]; finish: number[]; reassigned: number } | null = null;
  private stopped = false;
  private memberWaiters: Array<() => void> = [];
  readonly paramCount: number;
  private readonly now: () => number;
  lastLoss = NaN;
  epoch = 0;
  samplesPerSec = 0;
  state: 'waiting' | 'training' | 'done' | 'stopped' = 'waiting';

  constructor(readonly opts: CoordinatorOptions) {
    super();
    this.step = opts.startStep;
    this.paramCount = opts.run.paramCount;
    this.ledger = opts.ledger ?? new Ledger();
    this.now = opts.now ?? (() => performance.now());
    this.decoder = new GradientDecoder(this.paramCount);
    const compress = opts.run.compress ?? 'none';
    this.paramsView = compress === 'none' ? null : new ParamsView(compress, opts.params);
  }

  get params(): Float32Array {
    return this.opts.params;
  }

  /** The parameters workers compute with: the exact ones, or in a compressed run the view they hold. */
  private get workerParams(): Float32Array {
    return this.paramsView?.view ?? this.opts.params;
  }

  // ---- membership ------------------------------------------------------

  /** Admits a worker after its hello: it gets the run and the current parameters, and work from the next step. */
  join(handle: WorkerHandle, hello: HelloMessage): Member {
    const id = `w${this.nextWorker++}`;
    const m: Member = {
      id,
      name: hello.name,
      kind: hello.kind,
      threads: hello.threads,
      handle,
      speed: hello.speed && hello.speed > 0 ? hello.speed : this.typicalSpeed(hello.threads),
      speeds: [],
      samplesDone: 0,
      stepsDone: 0,
      joinedAt: Date.now(),
      lastSeen: Date.now(),
      state: 'idle',
      share: 0,
      overdue: 0,
      tasksAssigned: 0,
      failures: 0,
      paramsVersion: this.step,
    };
    this.members.set(id, m);
    handle.send({ type: 'welcome', workerId: id, run: this.opts.run });
    handle.send({ type: 'params', version: this.step, params: this.workerParams });
    this.emit('workers');
    for (const w of this.memberWaiters.splice(0)) w();
    // A step that is waiting for anyone to take orphaned work can use this worker now.
    if (this.current && this.unassigned.length > 0) this.assignUnassigned();
    return m;
  }

  /**
   * A newcomer's first share: the median speed of the others per thread, so it
   * gets a fair slice to be measured on (a guess far below the others would
   * round its share to zero and it would never be measured at all).
   */
  private typicalSpeed(threads: number): number {
    const per = [...this.members.values()].map((m) => m.speed / m.threads).sort((a, b) => a - b);
    return per.length ? per[per.length >> 1]! * threads : 1000 * threads;
  }

  /** A worker left or its connection dropped: its unfinished work is reassigned within the step. */
  leave(id: string, reason: string): void {
    const m = this.members.get(id);
    if (!m) return;
    this.members.delete(id);
    this.emit('log', `worker ${m.name} (${id}) left: ${reason}`);
    for (const a of [...this.assignments.values()]) {
      if (a.worker !== id) continue;
      if (a.status === 'pending') {
        this.ledger.record({ step: a.step, taskId: a.taskId, worker: id, mbLo: a.mbLo, mbHi: a.mbHi, status: 'lost' });
        this.unassigned.push([a.mbLo, a.mbHi]);
        if (this.current) this.current.reassigned++;
      }
      // Nothing from this id is accepted again (a returning worker joins under a new one):
      // its assignments, pending or already cancelled as overdue, are forgotten, not kept for good.
      this.assignments.delete(a.taskId);
    }
    this.emit('workers');
    if (this.current && this.unassigned.length > 0) this.assignUnassigned();
  }

  // ---- gradients -------------------------------------------------------

  /**
   * Validates and folds in a worker's gradient. Returns an error code for the
   * sender when the message is refused; nothing refused touches the model.
   */
  gradient(id: string, g: GradientMessage): ErrorCode | null {
    const m = this.members.get(id);
    if (!m) return 'UNKNOWN_TASK';
    m.lastSeen = Date.now();
    const a = this.assignments.get(g.taskId);
    if (!a || a.worker !== id) return 'UNKNOWN_TASK';
    if (a.step !== g.step) return 'STALE_STEP';
    if (a.status === 'cancelled') {
      this.ledger.record({ step: a.step, taskId: a.taskId, worker: id, mbLo: a.mbLo, mbHi: a.mbHi, status: 'late' });
      this.assignments.delete(g.taskId);
      // It is alive after all: it may have work again (its measured speed decides how much).
      m.overdue = Math.max(0, m.overdue - 1);
      if (m.overdue === 0 && m.state === 'straggling') m.state = this.hasPending(id) ? 'busy' : 'idle';
      return 'STALE_STEP';
    }
    if (a.status !== 'pending' || !this.current || a.step !== this.step) return 'STALE_STEP';
    const expected = coverRanges(this.current.m, a.mbLo, a.mbHi);
    const P = this.paramCount;
    if (!this.matchesRun(g, expected.length)) return 'WRONG_LENGTH';
    for (let i = 0; i < expected.length; i++) {
      if (g.nodes[2 * i] !== expected[i]![0] || g.nodes[2 * i + 1] !== expected[i]![1]) return 'WRONG_LENGTH';
    }
    const samples = samplesIn(this.current.indices.length, this.opts.run.microBatch, a.mbLo, a.mbHi);
    if (g.samples !== samples) return 'WRONG_LENGTH';
    for (let i = 0; i < g.losses.length; i++) if (!Number.isFinite(g.losses[i]!)) return 'NON_FINITE';
    // Checked after decoding: a NaN or ±Inf survives every encoding as one (int8 marks its block NaN).
    const parts = this.decoder.parts(g, expected.length);
    if (!parts.every((part) => this.allFinite(part))) {
      this.decoder.release(g, parts);
      return 'NON_FINITE';
    }

    a.status = 'done';
    this.assignments.delete(g.taskId);
    this.ledger.record({ step: a.step, taskId: a.taskId, worker: id, mbLo: a.mbLo, mbHi: a.mbHi, status: 'done', samples });
    if ((this.opts.aggregate ?? 'mean') === 'mean') {
      for (let i = 0; i < expected.length; i++) {
        const [lo, hi] = expected[i]!;
        this.acc!.add({ lo, hi, loss: g.losses[i]!, grad: parts[i]! });
      }
    } else {
      // Robust modes vote with each task's mean gradient.
      const v = new Float32Array(P);
      for (const part of parts) {
        for (let j = 0; j < P; j++) v[j] += part[j]!;
      }
      this.decoder.release(g, parts);
      for (let j = 0; j < P; j++) v[j] /= samples;
      let loss = 0;
      for (let i = 0; i < g.losses.length; i++) loss += g.losses[i]!;
      this.votes.push({ v, n: samples, lo: a.mbLo, hi: a.mbHi, worker: id, loss, taskId: a.taskId });
      this.voteLoss += loss;
      this.voteCovered += a.mbHi - a.mbLo;
    }
    m.samplesDone += samples;
    m.stepsDone++;
    m.failures = 0;
    if (g.computeMs > 0 && samples > 0) {
      // The median of the last few: one slow task (a GC, a busy core) does not move the
      // next split. Shares flip on noise otherwise (an average took in every spike): the
      // worker then handed the larger part is the step's straggler, and an uneven split of
      // the canonical tree makes each worker send two nodes instead of one.
      const speed = (samples * 1000) / g.computeMs;
      // Much faster than its recent median: the slow spell is over (a warm-up, a machine that
      // calmed down). A worker split out of the batch is measured only on the every-25th-step
      // probe, so a window of stale slow samples would keep it out for 3 more probes (75 steps).
      if (speed > RECOVERED * m.speed) m.speeds = [];
      m.speeds.push(speed);
      if (m.speeds.length > SPEED_WINDOW) m.speeds.shift();
      m.speed = medianOf(m.speeds);
    }
    if (m.state !== 'straggling') m.state = this.hasPending(id) ? 'busy' : 'idle';
    this.current.computeMs.push(g.computeMs);
    this.current.finish.push(this.now());
    if (this.stepComplete()) this.finishStep();
    return null;
  }

  /** The gradient's form is the run's (float32, fp16 or int8) and it holds one paramCount block per node. */
  private matchesRun(g: GradientMessage, nodes: number): boolean {
    if (gradientPayload(g).kind !== (this.opts.run.compress ?? 'none')) return false;
    return g.nodes.length === nodes * 2 && gradientLength(g) === nodes * this.paramCount;
  }

  /**
   * The worker says it could not compute a task (its engine threw, or the task
   * named parameters it had already replaced). A pending task's range goes to
   * others at once; an overdue one no longer counts against the worker.
   */
  taskFailed(id: string, taskId: number): void {
    const a = this.assignments.get(taskId);
    const m = this.members.get(id);
    if (!a || a.worker !== id || !m) return;
    this.assignments.delete(taskId);
    if (a.status === 'cancelled') {
      m.overdue = Math.max(0, m.overdue - 1);
      if (m.overdue === 0 && m.state === 'straggling') m.state = this.hasPending(id) ? 'busy' : 'idle';
      return;
    }
    if (a.status !== 'pending') return;
    a.status = 'cancelled';
    this.ledger.record({ step: a.step, taskId: a.taskId, worker: id, mbLo: a.mbLo, mbHi: a.mbHi, status: 'lost' });
    // Out of the pool for the rest of this step (others take the range); three failures in a row and it is out of the run.
    m.state = 'straggling';
    if (this.current && a.step === this.step) {
      this.unassigned.push([a.mbLo, a.mbHi]);
      this.current.reassigned++;
    }
    if (++m.failures >= 3) {
      m.handle.close(4010, 'three tasks failed in a row');
      this.leave(id, 'three tasks failed in a row'); // which hands out what is unassigned, this range included
      return;
    }
    if (this.current && this.unassigned.length > 0) this.assignUnassigned();
  }

  private votes: Array<{ v: Float32Array; n: number; lo: number; hi: number; worker: string; loss: number; taskId: number }> = [];
  private voteLoss = 0;
  private voteCovered = 0;
  private recomputed = false;

  private stepComplete(): boolean {
    const kind = this.opts.aggregate ?? 'mean';
    if (kind === 'mean') return this.acc!.complete;
    if (this.voteCovered !== this.current!.m) return false;
    // Outliers' micro-batches are recomputed by the others within the step, so the
    // step still uses every sample: an attacker costs a round trip, not a sample.
    // One recomputation round per step at most, so honest noise can never keep a step going.
    if (this.recomputed) return true;
    const { keptIndices } = filteredMean(this.votes, kind, this.opts.trim ?? 0.25, OUTLIER_FACTOR);
    if (keptIndices.length === this.votes.length) return true;
    this.recomputed = true;
    const dropped = this.votes.filter((_, i) => !keptIndices.includes(i));
    const suspects = new Set(dropped.map((d) => d.worker));
    const others = [...this.members.values()].filter((w) => !suspects.has(w.id));
    if (others.length === 0) return true; // nobody else to ask: the filtered mean stands
    this.votes = this.votes.filter((_, i) => keptIndices.includes(i));
    for (const d of dropped) {
      this.voteCovered -= d.hi - d.lo;
      this.voteLoss -= d.loss;
      this.unassigned.push([d.lo, d.hi]);
      const w = this.members.get(d.worker);
      if (w) w.state = 'straggling';
      // Cancels this task's earlier 'done' row: its samples are counted by the recomputation instead.
      this.ledger.record({ step: this.step, taskId: d.taskId, worker: d.worker, mbLo: d.lo, mbHi: d.hi, status: 'rejected' });
    }
    this.emit('log', `step ${this.step}: ${dropped.length} gradient(s) dropped as outliers; their micro-batches are recomputed`);
    this.current!.reassigned += dropped.length;
    this.assignUnassigned();
    return false;
  }

  /** The step's gradient sum and loss sum, by the configured aggregation. */
  private reduced(B: number): { grad: Float32Array; loss: number } {
    const kind = this.opts.aggregate ?? 'mean';
    if (kind === 'mean') return this.acc!.root();
    const { mean, kept } = filteredMean(this.votes, kind, this.opts.trim ?? 0.25, OUTLIER_FACTOR);
    if (kept < this.votes.length) this.emit('log', `step ${this.step}: ${this.votes.length - kept} of ${this.votes.length} gradients dropped as outliers (no one else to recompute them)`);
    for (let j = 0; j < mean.length; j++) mean[j] *= B;
    return { grad: mean, loss: this.voteLoss };
  }

  private hasPending(id: string): boolean {
    for (const a of this.assignments.values()) if (a.worker === id && a.status === 'pending') return true;
    return false;
  }

  // ---- the step loop ---------------------------------------------------

  async waitForWorkers(n: number): Promise<void> {
    while (this.members.size < n && !this.stopped) {
      await new Promise<void>((res) => this.memberWaiters.push(res));
    }
  }

  /**
   * Trains until totalSteps or stop(). `onStep` gets each step's report
   * after the next step's tasks have gone out, so the workers compute while
   * it runs (metrics, dashboard, evaluation, checkpoints) instead of
   * waiting for it; until it first awaits, the parameters are still those
   * of the step it reports (the next update needs gradients this thread
   * cannot take in meanwhile). `beforeStep` is awaited before a step's tasks
   * go out (a benchmark pauses there).
   */
  async run(onStep?: (r: StepReport) => Promise<void> | void, beforeStep?: (step: number) => Promise<void> | void): Promise<void> {
    await this.waitForWorkers(this.opts.minWorkers);
    this.state = 'training';
    this.emit('start');
    // Synchronous up to the tasks going out, unless beforeStep makes it wait.
    const start = (): Promise<StepReport | null> => {
      if (this.step >= this.opts.totalSteps || this.stopped) return Promise.resolve(null);
      const gate = beforeStep?.(this.step);
      if (gate instanceof Promise) return gate.then(() => (this.stopped ? null : this.runStep()));
      return this.runStep();
    };
    let report = await start();
    while (report !== null && !this.stopped) {
      const next = start();
      next.catch(() => {}); // awaited below; a failure must not go unhandled while onStep runs
      try {
        await onStep?.(report);
      } catch (err) {
        this.stop(); // no step left running (deadline timers, tasks) behind the error
        throw err;
      }
      report = await next;
    }
    this.state = this.stopped ? 'stopped' : 'done';
  }

  stop(): void {
    this.stopped = true;
    this.clearDeadline();
    for (const w of this.memberWaiters.splice(0)) w();
    this.stepFailed?.(new Error('stopped'));
  }

  private runStep(): Promise<StepReport> {
    const { epoch, indices } = this.opts.plan(this.step);
    const m = microBatchCount(indices.length, this.opts.run.microBatch);
    this.acc = new TreeAccumulator(m, this.add);
    this.decoder.reset();
    this.votes = [];
    this.voteLoss = 0;
    this.voteCovered = 0;
    this.recomputed = false;
    this.current = { indices, epoch, m, started: this.now(), computeMs: [], finish: [], reassigned: 0 };
    this.unassigned = [[0, m]];
    const done = new Promise<void>((res, rej) => {
      this.stepResolve = res;
      this.stepFailed = rej;
    });
    this.assignUnassigned();
    return done.then(
      () => this.completeStep(),
      (err: Error) => {
        if (this.stopped) return this.emptyReport();
        throw err;
      },
    );
  }

  private emptyReport(): StepReport {
    return { step: this.step, epoch: 0, loss: NaN, samples: 0, ms: 0, computeMs: 0, waitMs: 0, commMs: 0, workers: 0, reassigned: 0 };
  }

  /** Splits every unassigned micro-batch range over the available workers by speed. */
  private assignUnassigned(): void {
    if (!this.current || this.stopped) return;
    const healthy = [...this.members.values()].filter((w) => w.state !== 'straggling');
    const pool = healthy.length > 0 ? healthy : [...this.members.values()];
    if (pool.length === 0) {
      this.armWorkerTimeout();
      return;
    }
    this.clearWorkerTimeout();
    const ranges = this.unassigned.splice(0);
    const total = ranges.reduce((s, [lo, hi]) => s + hi - lo, 0);
    for (const w of this.members.values()) w.share = 0;
    // A worker gets at least one micro-batch (when there are enough to go round) until it has
    // finished SPEED_MIN_SAMPLES tasks, and every 25th step every worker does: a speed measured
    // as tiny would otherwise round its share to zero, and it would not be measured again —
    // a new worker's first tasks run cold (JIT, caches), so one slow measurement at the start
    // would starve it for 25 steps.
    const probe = this.step % 25 === 0;
    // Robust runs split evenly: shares by (self-reported) speed would let one liar take the whole batch.
    const weights = (this.opts.aggregate ?? 'mean') === 'mean' ? pool.map((w) => w.speed) : pool.map(() => 1);
    const floorShare = pool.map((w) => (w.stepsDone < SPEED_MIN_SAMPLES || (probe && w.overdue === 0) ? 1 : 0));
    for (const [lo, hi] of ranges) {
      const shards = evenUnlessSlower(hi - lo, weights, floorShare);
      shards.forEach((sh, i) => {
        if (sh.count === 0) return;
        const w = pool[i]!;
        w.share += sh.count / Math.max(1, total);
        this.sendTask(w, lo + sh.start, lo + sh.start + sh.count);
      });
    }
    // The parameters broadcast at the end of the last step and these tasks leave together, in
    // one write per socket, before run()'s step callback (metrics, dashboard feed, evaluation,
    // checkpoints) runs. Parameters with no task after them (the run paused or over) are
    // written out by the handle after this turn.
    for (const w of this.members.values()) w.handle.flush?.();
    this.armDeadline();
  }

  private sendTask(w: Member, mbLo: number, mbHi: number): void {
    const cur = this.current!;
    const mb = this.opts.run.microBatch;
    const B = cur.indices.length;
    const taskId = this.nextTask++;
    const a: Assignment = { taskId, step: this.step, worker: w.id, mbLo, mbHi, sentAt: this.now(), status: 'pending' };
    this.assignments.set(taskId, a);
    w.tasksAssigned++;
    if (w.state !== 'straggling') w.state = 'busy';
    w.handle.send({
      type: 'task',
      step: this.step,
      taskId,
      paramsVersion: this.step,
      batch: B,
      mbLo,
      mbHi,
      indices: cur.indices.subarray(Math.min(mbLo * mb, B), Math.min(mbHi * mb, B)),
    });
    this.ledger.record({ step: this.step, taskId, worker: w.id, mbLo, mbHi, status: 'assigned' });
  }

  private armDeadline(): void {
    this.clearDeadline();
    const recent = [...this.recentStepMs].sort((x, y) => x - y);
    const median = recent.length ? recent[recent.length >> 1]! : 0;
    const ms = Math.max(this.opts.deadlineFloorMs ?? 2000, (this.opts.deadlineFactor ?? 5) * median);
    this.deadline = setTimeout(() => this.onDeadline(), ms);
    this.deadline.unref?.();
  }

  private clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  private workerTimer: NodeJS.Timeout | null = null;
  private armWorkerTimeout(): void {
    if (this.workerTimer || this.opts.workerTimeoutMs === undefined) return;
    this.workerTimer = setTimeout(() => {
      this.workerTimer = null;
      if (this.members.size === 0 && this.current) {
        this.stepFailed?.(new WorkerTimeoutError(this.step, this.opts.workerTimeoutMs!));
      }
    }, this.opts.workerTimeoutMs);
  }

  private clearWorkerTimeout(): void {
    if (this.workerTimer) clearTimeout(this.workerTimer);
    this.workerTimer = null;
  }

  /** Workers still computing past the deadline are stragglers: their ranges go to others; their late results are discarded. */
  private onDeadline(): void {
    this.deadline = null;
    if (!this.current) return;
    let moved = 0;
    for (const a of this.assignments.values()) {
      if (a.status !== 'pending' || a.step !== this.step) continue;
      const w = this.members.get(a.worker);
      const others = [...this.members.values()].filter((x) => x.id !== a.worker && x.state !== 'straggling');
      if (others.length === 0) continue; // nobody better to give it to: keep waiting
      a.status = 'cancelled';
      this.ledger.record({ step: a.step, taskId: a.taskId, worker: a.worker, mbLo: a.mbLo, mbHi: a.mbHi, status: 'reassigned' });
      this.unassigned.push([a.mbLo, a.mbHi]);
      if (w) {
        w.overdue++;
        w.state = 'straggling';
        w.speed = Math.max(1, w.speed / 4);
        w.speeds = [];
        this.emit('log', `worker ${w.name} (${w.id}) missed the step ${this.step} deadline; its shard is reassigned`);
      }
      moved++;
    }
    this.current.reassigned += moved;
    if (this.unassigned.length > 0) this.assignUnassigned();
    else this.armDeadline();
  }

  private finishStep(): void {
    this.clearDeadline();
    const resolve = this.stepResolve;
    this.stepResolve = null;
    this.stepFailed = null;
    resolve?.();
  }

  private completeStep(): StepReport {
    const cur = this.current!;
    const B = cur.indices.length;
    const root = this.reduced(B);
    this.opts.optimizer.apply(this.opts.params, root.grad, B);
    for (const a of [...this.assignments.values()]) if (a.step === this.step && a.status !== 'cancelled') this.assignments.delete(a.taskId);
    const end = this.now();
    const ms = end - cur.started;
    this.recentStepMs.push(ms);
    if (this.recentStepMs.length > 20) this.recentStepMs.shift();
    const computeMs = Math.max(0, ...cur.computeMs);
    const finishes = cur.finish.map((f) => f - cur.started).sort((x, y) => x - y);
    const waitMs = finishes.length > 1 ? finishes[finishes.length - 1]! - finishes[(finishes.length - 1) >> 1]! : 0;
    const report: StepReport = {
      step: this.step,
      epoch: cur.epoch,
      loss: root.loss / B,
      samples: B,
      ms,
      computeMs,
      waitMs,
      commMs: Math.max(0, ms - computeMs - waitMs),
      workers: this.members.size,
      reassigned: cur.reassigned,
    };
    this.lastLoss = report.loss;
    this.epoch = cur.epoch;
    this.samplesPerSec = this.samplesPerSec === 0 ? (B * 1000) / ms : this.samplesPerSec * 0.9 + ((B * 1000) / ms) * 0.1;
    this.step++;
    this.current = null;
    this.acc = null;
    this.votes = [];
    for (const w of this.members.values()) {
      // A straggler stays out of the assignment pool until its overdue result comes back.
      if (w.state === 'straggling' && w.overdue === 0) w.state = 'idle';
    }
    this.broadcastParams();
    this.emit('step', report);
    return report;
  }

  /**
   * The new parameters to every worker, each message encoded once for all:
   * the full float32 parameters, or in a compressed run one delta, and the
   * full view to a worker that does not hold the delta's base.
   */
  private broadcastParams(): void {
    const base = this.step - 1;
    const delta = this.paramsView?.advance(this.opts.params, base, this.step);
    const full: ServerMessage = { type: 'params', version: this.step, params: this.workerParams };
    const sends = [...this.members.values()].map((w) => {
      const msg: ServerMessage = delta !== undefined && w.paramsVersion === base ? delta : full;
      w.paramsVersion = this.step;
      return { w, msg };
    });
    // One frame per message for every worker. The full parameters go into a frame buffer of an
    // earlier step that every socket it went to has written out (a handle that cannot tell
    // keeps its buffer for good); a delta frame is fresh (codec.ts: frames stay valid).
    const frames = new Map<ServerMessage, Uint8Array>();
    const fullTo = sends.filter((s) => s.msg === full && s.w.handle.sendEncoded).map((s) => s.w.handle);
    if (fullTo.length > 0) frames.set(full, this.frames.encode(full, fullTo.map((h) => ({ queued: () => h.queued?.() ?? Infinity }))));
    for (const { w, msg } of sends) {
      if (!w.handle.sendEncoded) {
        w.handle.send(msg);
        continue;
      }
      if (!frames.has(msg)) frames.set(msg, encode(msg));
      w.handle.sendEncoded(frames.get(msg)!);
    }
  }

  /** Tells every worker the run is over. */
  finish(reason: string): void {
    for (const w of this.members.values()) {
      w.handle.send({ type: 'done', reason });
    }
  }

  refuse(handle: WorkerHandle, code: ErrorCode, detail?: string): void {
    handle.send(errorMessage(code, detail));
  }
}

/**
 * A vote farther than this many median distances from the centre is an outlier. Honest shard
 * means of one batch differ by sampling noise (a few median distances at most); a hostile
 * gradient (×−1000, random, NaN-free garbage) is orders of magnitude away.
 */
const OUTLIER_FACTOR = 10;

/** Measured speeds a worker's share is based on (their median). */
const SPEED_WINDOW = 5;
/** A measurement this many times its worker's median restarts the window. */
const RECOVERED = 3;
/** Tasks a new worker completes before its share may drop to nothing. */
const SPEED_MIN_SAMPLES = 3;

export class WorkerTimeoutError extends Error {
  constructor(
    readonly step: number,
    readonly ms: number,
  ) {
    super(`no worker connected for ${Math.round(ms / 1000)} s at step ${step}; stopping`);
  }
}

