import type { TaskMessage } from '@gradmesh/protocol';
import { describe, expect, test } from 'vitest';
import { TaskScheduler, backoffDelay } from '../src/index.js';

const task = (taskId: number, paramsVersion: number): TaskMessage => ({
  type: 'task', step: taskId, taskId, paramsVersion, batch: 64, mbLo: 0, mbHi: 1, indices: new Uint32Array([taskId]),
});
const p = (v: number) => new Float32Array([v]);

/** Runs the scheduler to 'wait', returning what it did in order. */
function drain(s: TaskScheduler): string[] {
  const out: string[] = [];
  for (;;) {
    const a = s.next();
    if (a.kind === 'wait') return out;
    out.push(a.kind === 'apply' ? `apply v${a.version}` : `${a.kind} t${a.task.taskId}`);
  }
}

describe('TaskScheduler', () => {
  test('params then task: apply, then compute', () => {
    const s = new TaskScheduler();
    s.addParams(1, p(1));
    s.addTask(task(1, 1));
    expect(drain(s)).toEqual(['apply v1', 'compute t1']);
  });

  test('a task for params not yet received waits for them', () => {
    const s = new TaskScheduler();
    s.addParams(1, p(1));
    expect(drain(s)).toEqual(['apply v1']);
    s.addTask(task(7, 2));
    expect(drain(s)).toEqual([]);
    s.addParams(2, p(2));
    expect(drain(s)).toEqual(['apply v2', 'compute t7']);
  });

  test('a queued task keeps its version even when a newer one arrives behind it', () => {
    // arrivals while the engine was busy: params v2, task(v2), params v3, task(v3)
    const s = new TaskScheduler();
    s.addParams(2, p(2));
    s.addTask(task(1, 2));
    s.addParams(3, p(3));
    s.addTask(task(2, 3));
    expect(drain(s)).toEqual(['apply v2', 'compute t1', 'apply v3', 'compute t2']);
  });

  test('a task whose params were superseded is reported stale, not computed with the wrong ones', () => {
    const s = new TaskScheduler();
    s.addParams(3, p(3));
    expect(drain(s)).toEqual(['apply v3']);
    s.addTask(task(1, 2));
    expect(drain(s)).toEqual(['stale t1']);
    // and when the needed version was skipped in the pending list
    const t = new TaskScheduler();
    t.addTask(task(2, 4));
    t.addParams(5, p(5));
    expect(drain(t)).toEqual(['stale t2', 'apply v5']);
  });

  test('with no task waiting, only the newest params are applied', () => {
    const s = new TaskScheduler();
    s.addParams(1, p(1));
    s.addParams(3, p(3));
    s.addParams(2, p(2));
    expect(drain(s)).toEqual(['apply v3']);
    expect(s.held).toBe(3);
  });

  test('clear keeps the held version (same run), reset forgets it (new run)', () => {
    const s = new TaskScheduler();
    s.addParams(1, p(1));
    drain(s);
    s.addTask(task(1, 1));
    s.clear();
    expect(s.queued).toBe(0);
    expect(s.held).toBe(1);
    s.reset();
    expect(s.held).toBeNull();
  });
});

describe('backoffDelay', () => {
  test('doubles from initialMs up to maxMs, jitter within the upper half', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 100, 1000, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3].map((n) => backoffDelay(n, 100, 1000, () => 0))).toEqual([50, 100, 200]);
    expect(backoffDelay(1e6, 100, 1000, () => 0.5)).toBe(750);
  });
});
