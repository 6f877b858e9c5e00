/**
 * Learning-rate schedules: the rate used for step t (0-based: t steps taken
 * so far). Warmup multiplies whatever the schedule gives by (t+1)/warmupSteps
 * for the first warmupSteps steps, so step 0 is never taken at rate 0.
 */
import { cosPi, powInt } from './detmath.js';

export type Schedule =
  | { kind: 'constant' }
  | { kind: 'step'; every: number; gamma: number }
  | { kind: 'cosine'; totalSteps: number; minLr?: number };

export function validateSchedule(s: Schedule): void {
  if (typeof s !== 'object' || s === null) throw new Error('schedule must be an object');
  switch (s.kind) {
    case 'constant':
      return;
    case 'step':
      if (!(Number.isInteger(s.every) && s.every > 0)) throw new Error(`step schedule: every must be a positive integer, got ${s.every}`);
      if (!(typeof s.gamma === 'number' && s.gamma > 0 && s.gamma <= 1)) throw new Error(`step schedule: gamma must be in (0, 1], got ${s.gamma}`);
      return;
    case 'cosine':
      if (!(Number.isInteger(s.totalSteps) && s.totalSteps > 0)) {
        throw new Error(`cosine schedule: totalSteps must be a positive integer, got ${s.totalSteps}`);
      }
      if (s.minLr !== undefined && !(typeof s.minLr === 'number' && s.minLr >= 0)) {
        throw new Error(`cosine schedule: minLr must be a non-negative number, got ${s.minLr}`);
      }
      return;
    default:
      throw new Error(`schedule kind must be constant, step or cosine, got ${String((s as { kind: unknown }).kind)}`);
  }
}

/** The rate for step t under `schedule` (default constant) and optional warmup. */
export function scheduledLr(lr: number, t: number, schedule?: Schedule, warmupSteps = 0): number {
  let rate = lr;
  if (schedule?.kind === 'step') {
    rate = lr * powInt(schedule.gamma, Math.floor(t / schedule.every));
  } else if (schedule?.kind === 'cosine') {
    const minLr = schedule.minLr ?? 0;
    const progress = Math.min(t, schedule.totalSteps) / schedule.totalSteps;
    rate = minLr + ((lr - minLr) * (1 + cosPi(progress))) / 2;
  }
  if (t < warmupSteps) rate = (rate * (t + 1)) / warmupSteps;
  return rate;
}
