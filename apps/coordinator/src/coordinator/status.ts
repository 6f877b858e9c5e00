import type { Coordinator } from './coordinator.js';
import type { TrainConfig } from '../train-options.js';

export interface StatusExtra {
  startedAt: number;
  test: { loss: number; accuracy: number; step: number };
  url: string;
  /** Message bytes to and from workers so far (CoordinatorServer.wire). */
  wire?: { sentBytes: number; receivedBytes: number };
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** /api/status: the run's state and every worker, as JSON. */
export function statusJson(c: Coordinator, cfg: TrainConfig, extra: StatusExtra) {
  const now = Date.now();
  const elapsed = (performance.now() - extra.startedAt) / 1000;
  return {
    state: c.state,
    step: c.step,
    totalSteps: cfg.steps,
    epoch: c.epoch,
    loss: num(c.lastLoss),
    testLoss: num(extra.test.loss),
    testAccuracy: num(extra.test.accuracy),
    samplesPerSec: Math.round(c.samplesPerSec),
    elapsedSec: Math.round(elapsed * 10) / 10,
    etaSec: c.samplesPerSec > 0 ? Math.round(((cfg.steps - c.step) * cfg.batch) / c.samplesPerSec) : null,
    compress: c.opts.run.compress ?? 'none',
    wire: extra.wire ? { ...extra.wire } : null,
    workers: [...c.members.values()].map((w) => ({
      id: w.id,
      name: w.name,
      kind: w.kind,
      threads: w.threads,
      samplesPerSec: Math.round(w.speed),
      share: Math.round(w.share * 1000) / 1000,
      samplesDone: w.samplesDone,
      stepsDone: w.stepsDone,
      lastSeenMsAgo: now - w.lastSeen,
      state: w.state,
    })),
  };
}

/** /metrics in Prometheus text exposition format. */
export function prometheusText(c: Coordinator, cfg: TrainConfig): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: Array<[string, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 'NaN'}`);
  };
  const esc = (s: string): string => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  metric('gradmesh_step', 'counter', 'Optimizer steps completed.', [['', c.step]]);
  metric('gradmesh_total_steps', 'gauge', 'Steps the run will take.', [['', cfg.steps]]);
  metric('gradmesh_loss', 'gauge', 'Mean training loss of the last step.', [['', c.lastLoss]]);
  metric('gradmesh_samples_per_second', 'gauge', 'Training throughput (moving average).', [['', c.samplesPerSec]]);
  metric('gradmesh_workers', 'gauge', 'Workers connected.', [['', c.members.size]]);
  const ws = [...c.members.values()];
  metric('gradmesh_worker_samples_total', 'counter', 'Samples computed by each worker.', ws.map((w) => [`{worker="${esc(w.name)}",id="${w.id}",kind="${w.kind}"}`, w.samplesDone]));
  metric('gradmesh_worker_samples_per_second', 'gauge', 'Measured compute speed of each worker.', ws.map((w) => [`{worker="${esc(w.name)}",id="${w.id}",kind="${w.kind}"}`, w.speed]));
  return `${lines.join('\n')}\n`;
}
