import type { RunHistory, StepReport } from './types.js';

/** Points kept per series; past it every other point is dropped, so a week-long run stays light. */
const MAX_POINTS = 50_000;

/** Weight of the newest step in the smoothed throughput line. */
const EMA = 0.1;

/**
 * The run's history as chart columns. x is "steps completed" (report.step + 1),
 * the same count eval messages carry, so both line up on one axis.
 */
export class RunSeries {
  x: number[] = [];
  loss: (number | null)[] = [];
  samplesPerSec: number[] = [];
  smoothSamplesPerSec: number[] = [];
  computeMs: number[] = [];
  commMs: number[] = [];
  waitMs: number[] = [];
  evalX: number[] = [];
  testLoss: (number | null)[] = [];
  testAccuracy: (number | null)[] = [];
  /** Bumped on every change: charts redraw only when it moved. */
  version = 0;

  get lastStep(): number {
    return this.x.length ? this.x[this.x.length - 1]! : 0;
  }

  clear(): void {
    for (const a of [this.x, this.loss, this.samplesPerSec, this.smoothSamplesPerSec, this.computeMs, this.commMs, this.waitMs, this.evalX, this.testLoss, this.testAccuracy]) a.length = 0;
    this.version++;
  }

  addStep(r: Pick<StepReport, 'step' | 'loss' | 'samples' | 'ms' | 'computeMs' | 'commMs' | 'waitMs'>): void {
    const x = r.step + 1;
    if (x <= this.lastStep) return; // already have it (history and live overlap)
    const sps = r.ms > 0 ? (r.samples * 1000) / r.ms : 0;
    const prev = this.smoothSamplesPerSec.length ? this.smoothSamplesPerSec[this.smoothSamplesPerSec.length - 1]! : sps;
    this.x.push(x);
    this.loss.push(r.loss);
    this.samplesPerSec.push(sps);
    this.smoothSamplesPerSec.push(prev + EMA * (sps - prev));
    this.computeMs.push(r.computeMs);
    this.commMs.push(r.commMs);
    this.waitMs.push(r.waitMs);
    if (this.x.length > MAX_POINTS) this.halve();
    this.version++;
  }

  addEval(step: number, testLoss: number | null, testAccuracy: number | null): void {
    const last = this.evalX.length ? this.evalX[this.evalX.length - 1]! : -1;
    if (step < last) return;
    if (step === last) {
      // A repeat (the final evaluation is reported twice: as an eval and in the summary).
      this.testLoss[this.testLoss.length - 1] = testLoss;
      this.testAccuracy[this.testAccuracy.length - 1] = testAccuracy;
    } else {
      this.evalX.push(step);
      this.testLoss.push(testLoss);
      this.testAccuracy.push(testAccuracy);
    }
    this.version++;
  }

  /** Replaces everything with the coordinator's history (then live steps append). */
  load(h: RunHistory): void {
    this.clear();
    const s = h.steps;
    for (let i = 0; i < s.step.length; i++) {
      this.addStep({ step: s.step[i]!, loss: s.loss[i] ?? null, samples: s.samples[i]!, ms: s.ms[i]!, computeMs: s.computeMs[i]!, commMs: s.commMs[i]!, waitMs: s.waitMs[i]! });
    }
    const e = h.evals;
    for (let i = 0; i < e.step.length; i++) this.addEval(e.step[i]!, e.testLoss[i] ?? null, e.testAccuracy[i] ?? null);
  }

  private halve(): void {
    const keep = <T>(a: T[]): T[] => a.filter((_, i) => i % 2 === 1 || i === a.length - 1);
    this.x = keep(this.x);
    this.loss = keep(this.loss);
    this.samplesPerSec = keep(this.samplesPerSec);
    this.smoothSamplesPerSec = keep(this.smoothSamplesPerSec);
    this.computeMs = keep(this.computeMs);
    this.commMs = keep(this.commMs);
    this.waitMs = keep(this.waitMs);
  }
}
