/** Parent side of cells: start them, calibrate, warm up, and time them round-robin. */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HostReply, HostRequest } from './cell.js';
import { median, spread } from './stats.js';

export interface CellSpec {
  id: string;
  label: string;
  /** import()-able URL of the module exporting `factory`. */
  module: string;
  factory: string;
  args: unknown;
  /** Samples (or whatever unit the figure counts) per step. */
  unitsPerStep: number;
}

export interface CellResult {
  id: string;
  label: string;
  ok: boolean;
  error?: string;
  info?: Record<string, unknown>;
  stepsPerBlock: number;
  /** units per second of each timed block */
  rates: number[];
  median: number;
  spread: number;
  msPerStep: number;
  /**
   * CPU time of the cell's process over wall time during its timed blocks
   * (1 = one core throughout). Below ~0.95 for a one-thread cell, other work
   * on the machine took the core away and the figure understates the code.
   */
  cpuShare: number;
  /** Units per CPU-second of the cell's process (median over blocks): what it does per core it actually got. */
  cpuMedian: number;
  extras: Array<Record<string, unknown>>;
}

export interface CompareOptions {
  runs: number;
  /** Target duration of one timed block. */
  blockMs: number;
  /** Warm-up per cell before the first timed block. */
  warmupMs: number;
  log: (line: string) => void;
  /** Per-request limit; a cell that exceeds it is killed and reported failed. */
  timeoutMs?: number;
  maxStepsPerBlock?: number;
}

const HOST = fileURLToPath(new URL('./cell-host.ts', import.meta.url));

export class CellHost {
  private readonly child: ChildProcess;
  private stderr = '';
  private waiting: ((r: HostReply) => void) | null = null;
  private exited = false;

  constructor(readonly spec: CellSpec) {
    this.child = fork(HOST, [], { execArgv: process.execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.child.on('message', (m: HostReply) => {
      const w = this.waiting;
      this.waiting = null;
      w?.(m);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const w = this.waiting;
      this.waiting = null;
      w?.({ ok: false, error: `cell process exited (${signal ?? code})${this.stderr ? `: ${lastLines(this.stderr)}` : ''}` });
    });
  }

  call(req: HostRequest, timeoutMs = 300_000): Promise<HostReply> {
    if (this.exited) return Promise.resolve({ ok: false, error: `cell process is gone${this.stderr ? `: ${lastLines(this.stderr)}` : ''}` });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        this.kill();
        resolve({ ok: false, error: `no answer to ${req.cmd} within ${Math.round(timeoutMs / 1000)} s` });
      }, timeoutMs);
      this.waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.child.send(req);
    });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((res) => this.child.once('exit', () => res()));
    await this.call({ cmd: 'close' }, 10_000);
    const t = setTimeout(() => this.kill(), 5000);
    await done;
    clearTimeout(t);
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

function lastLines(s: string): string {
  return s.trim().split('\n').slice(-3).join(' | ');
}

function failed(spec: CellSpec, error: string, info?: Record<string, unknown>): CellResult {
  return { id: spec.id, label: spec.label, ok: false, error: error.split('\n')[0], info, stepsPerBlock: 0, rates: [], median: NaN, spread: NaN, msPerStep: NaN, cpuShare: NaN, cpuMedian: NaN, extras: [] };
}

/**
 * Starts every cell, sizes its blocks to ~blockMs, warms each up, then runs
 * `runs` rounds; each round times one block of every cell, in a rotating
 * order. A cell that fails is reported with its error; the others go on.
 */
export async function compareCells(specs: CellSpec[], o: CompareOptions): Promise<CellResult[]> {
  const timeout = o.timeoutMs ?? 300_000;
  const live = new Map<string, { host: CellHost; steps: number; rates: number[]; ms: number[]; cpu: number[]; extras: Array<Record<string, unknown>>; info?: Record<string, unknown> }>();
  const results = new Map<string, CellResult>();
  const fail = (spec: CellSpec, error: string): void => {
    const l = live.get(spec.id);
    results.set(spec.id, failed(spec, error, l?.info));
    l?.host.kill();
    live.delete(spec.id);
    o.log(`  ${spec.label}: failed: ${error.split('\n')[0]}`);
  };
  try {
    for (const spec of specs) {
      const host = new CellHost(spec);
      const r = await host.call({ cmd: 'setup', module: spec.module, factory: spec.factory, args: spec.args }, timeout);
      if (!r.ok) {
        host.kill();
        results.set(spec.id, failed(spec, r.error));
        o.log(`  ${spec.label}: unavailable: ${r.error.split('\n')[0]}`);
        continue;
      }
      live.set(spec.id, { host, steps: 1, rates: [], ms: [], cpu: [], extras: [], info: r.info });
    }
    // Calibrate: time single steps (the first ones pay for JIT and allocation) until two agree, then size blocks.
    for (const spec of specs) {
      const l = live.get(spec.id);
      if (!l) continue;
      let est = Infinity;
      const warmEnd = performance.now() + o.warmupMs;
      let steps = 1;
      let ok = true;
      for (let i = 0; i < 50 && (i < 3 || performance.now() < warmEnd); i++) {
        const p = await l.host.call({ cmd: 'prepare', steps }, timeout);
        const r = p.ok ? await l.host.call({ cmd: 'block', steps }, timeout) : p;
        if (!r.ok) {
          fail(spec, r.error);
          ok = false;
          break;
        }
        est = Math.min(est, r.ms! / steps);
        // Grow the warm-up blocks toward the block size, so warm-up exercises the same path as timing.
        steps = Math.max(1, Math.min(o.maxStepsPerBlock ?? 1e6, Math.round(o.blockMs / Math.max(est, 1e-3))));
      }
      if (!ok) continue;
      l.steps = steps;
      const p = await l.host.call({ cmd: 'prepare', steps }, timeout);
      if (!p.ok) fail(spec, p.error);
    }
    for (let round = 0; round < o.runs; round++) {
      const order = specs.filter((s) => live.has(s.id));
      const rot = round % Math.max(1, order.length);
      for (const spec of [...order.slice(rot), ...order.slice(0, rot)]) {
        const l = live.get(spec.id);
        if (!l) continue;
        const r = await l.host.call({ cmd: 'block', steps: l.steps }, timeout);
        if (!r.ok) {
          fail(spec, r.error);
          continue;
        }
        l.ms.push(r.ms! / l.steps);
        l.cpu.push(r.cpuShare ?? NaN);
        l.rates.push((l.steps * spec.unitsPerStep * 1000) / r.ms!);
        if (r.extra) l.extras.push(r.extra);
      }
    }
    for (const spec of specs) {
      const l = live.get(spec.id);
      if (!l) continue;
      results.set(spec.id, {
        id: spec.id,
        label: spec.label,
        ok: true,
        info: l.info,
        stepsPerBlock: l.steps,
        rates: l.rates,
        median: median(l.rates),
        spread: spread(l.rates),
        msPerStep: median(l.ms),
        cpuShare: median(l.cpu),
        cpuMedian: median(l.rates.map((r, i) => r / l.cpu[i]!)),
        extras: l.extras,
      });
    }
  } finally {
    await Promise.all([...live.values()].map((l) => l.host.close().catch(() => l.host.kill())));
  }
  return specs.map((s) => results.get(s.id)!);
}

/** Runs one block of a cell in a fresh process (long one-shot measurements: MNIST runs, micro-benchmarks). */
export async function runOnce(spec: CellSpec, steps = 1, timeoutMs = 900_000): Promise<{ ok: true; ms: number; info: Record<string, unknown>; extra: Record<string, unknown> } | { ok: false; error: string }> {
  const host = new CellHost(spec);
  try {
    const s = await host.call({ cmd: 'setup', module: spec.module, factory: spec.factory, args: spec.args }, timeoutMs);
    if (!s.ok) return { ok: false, error: s.error.split('\n')[0]! };
    const p = await host.call({ cmd: 'prepare', steps }, timeoutMs);
    if (!p.ok) return { ok: false, error: p.error.split('\n')[0]! };
    const r = await host.call({ cmd: 'block', steps }, timeoutMs);
    if (!r.ok) return { ok: false, error: r.error.split('\n')[0]! };
    return { ok: true, ms: r.ms!, info: s.info ?? {}, extra: r.extra ?? {} };
  } finally {
    await host.close().catch(() => host.kill());
  }
}
