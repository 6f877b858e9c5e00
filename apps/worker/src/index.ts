import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import { WorkerClient, type ClientStatus, type WebSocketLike } from '@gradmesh/client';
import { NodeTaskEngine } from './task-engine.js';

export { NodeTaskEngine } from './task-engine.js';

export interface WorkerOptions {
  url: string;
  token: string;
  threads: number;
  name?: string;
  /**
   * Mask client frames with random keys (RFC 6455). Default false: an
   * all-zero key, which `ws` recognises and skips — frames leave without
   * being copied and XORed. See nodeSocket.
   */
  randomMask?: boolean;
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
    WebSocket: nodeSocket(opts.randomMask ?? false) as never,
    sendFrame,
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

/**
 * The worker's WebSocket: `ws` with no compression offer and, unless
 * `randomMask`, an all-zero masking key. RFC 6455 has clients mask with
 * random keys so that script-chosen bytes cannot pose as HTTP to a proxy
 * cache between a browser and a server; a Node worker sends only the
 * gradients it computed, so a zero key loses nothing there — and over
 * wss:// TLS hides the bytes anyway. What it saves: masking copies every
 * frame (2.7 MB per 784-512-512-10 gradient) into a fresh buffer and XORs
 * it; with a zero key `ws` writes the frame as it is. Browsers always
 * mask (their WebSocket gives no choice).
 */
export function nodeSocket(randomMask: boolean): new (url: string) => WebSocket {
  const options = { perMessageDeflate: false, ...(randomMask ? {} : { generateMask: (mask: Buffer) => mask.fill(0) }) };
  return class NodeWebSocket extends WebSocket {
    constructor(url: string) {
      super(url, options);
    }
  };
}

/** ws's send, reporting when the frame is written out (the client then reuses its memory). */
export function sendFrame(socket: WebSocketLike, frame: Uint8Array, done: (error?: Error) => void): void {
  (socket as unknown as WebSocket).send(frame, { binary: true }, (error?: Error) => done(error ?? undefined));
}
