import type { TaskMessage } from '@gradmesh/protocol';

export type SchedulerAction =
  | { kind: 'apply'; version: number; params: Float32Array }
  | { kind: 'compute'; task: TaskMessage }
  /** The task's parameters are gone (a newer version already arrived): it cannot be computed. */
  | { kind: 'stale'; task: TaskMessage; held: number | null }
  | { kind: 'wait' };

/**
 * Which parameters to adopt and which task to compute next. Tasks run one at
 * a time in arrival order, each with exactly the parameter version it names.
 * Parameters are applied only between computations (the engine may be reading
 * them), lazily when a task is queued — a task queued before a newer version
 * arrived still gets its own — and eagerly when no task is waiting.
 * Pure bookkeeping, no I/O, so it is tested on its own.
 */
export class TaskScheduler {
  /** The version the engine holds, or null before the first. */
  held: number | null = null;
  #params: { version: number; params: Float32Array }[] = [];
  #tasks: TaskMessage[] = [];

  addParams(version: number, params: Float32Array): void {
    const list = this.#params.filter((p) => p.version !== version);
    list.push({ version, params });
    list.sort((a, b) => a.version - b.version);
    this.#params = list;
  }

  addTask(task: TaskMessage): void {
    this.#tasks.push(task);
  }

  get queued(): number {
    return this.#tasks.length;
  }

  /** Connection lost: its tasks are reassigned by the coordinator; the engine keeps its parameters. */
  clear(): void {
    this.#tasks = [];
    this.#params = [];
  }

  /** A new run: nothing carries over. */
  reset(): void {
    this.clear();
    this.held = null;
  }

  /** The next thing to do. An 'apply' is assumed done once returned. */
  next(): SchedulerAction {
    const task = this.#tasks[0];
    if (task === undefined) {
      const latest = this.#params.pop();
      this.#params = [];
      return latest === undefined ? { kind: 'wait' } : this.#apply(latest);
    }
    const need = task.paramsVersion;
    if (this.held === need) {
      this.#tasks.shift();
      return { kind: 'compute', task };
    }
    // Queued tasks need need or later (tasks come in order), so older versions are of no use.
    while (this.#params.length > 0 && this.#params[0].version < need) this.#params.shift();
    const first = this.#params[0];
    if (first !== undefined && first.version === need) return this.#apply(this.#params.shift()!);
    if ((this.held !== null && this.held > need) || first !== undefined) {
      this.#tasks.shift();
      return { kind: 'stale', task, held: this.held };
    }
    return { kind: 'wait' };
  }

  #apply(p: { version: number; params: Float32Array }): SchedulerAction {
    this.held = p.version;
    return { kind: 'apply', version: p.version, params: p.params };
  }
}
