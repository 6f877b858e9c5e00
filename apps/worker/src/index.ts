import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import { WorkerClient, type ClientStatus } from '@gradmesh/client';
import { NodeTaskEngine } from './task-engine.js';

export { NodeTaskEngine } from './task-engine.js';

export interface WorkerOptions {
  url: string;
  token: string;
  threads: number;
  name?: string;
  log?: (line: string) => void;
  onStatus?: (s: ClientStatus) => void;
}

/**
 * A Node worker: joins a coordinator, computes on a thread pool, reconnects
 * after a lost connection. Resolves with the coordinator's reason when the run
 * is done; rejects (with the coordinator's reason) when refused.
 */
export async function runWorker(opts: WorkerOptions): Promise<{ reason: string }> {
  const log = opts.log ?? (() => {});
  const engine = new NodeTaskEngine(opts.threads, opts.token, log, opts.url);
  const client = new WorkerClient({
    url: opts.url,
    token: opts.token,
    name: opts.name ?? `${hostname()}-${process.pid}`,
    kind: 'node',
    threads: opts.threads,
    engine,
    WebSocket: WebSocket as never,
    log,
    reconnect: { initialMs: 200, maxMs: 5000, maxAttempts: 40 },
    ...(opts.onStatus ? { onStatus: opts.onStatus } : {}),
  });
  const stop = (): void => client.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await client.run();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await engine.close();
  }
}
