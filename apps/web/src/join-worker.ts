// The join page's Web Worker: the protocol client and the gradient engine run
// here, off the page's thread, so the page stays responsive while computing.
import { WorkerClient } from '@gradmesh/client';
import { BrowserTaskEngine } from './browser-engine.js';
import type { FromWorker, ToWorker } from './join-messages.js';

interface WorkerScope {
  postMessage(msg: FromWorker): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  close(): void;
}
const scope = self as unknown as WorkerScope;
const post = (msg: FromWorker): void => scope.postMessage(msg);

let client: WorkerClient | null = null;

scope.onmessage = (ev) => {
  const msg = ev.data;
  if (msg.type === 'start') {
    if (client) return;
    start(msg.url, msg.token, msg.name);
  } else if (msg.type === 'stop') {
    client?.stop(msg.reason);
  }
};

function start(url: string, token: string, name: string): void {
  const origin = new URL(url.replace(/^ws/, 'http')).origin;
  const log = (line: string): void => post({ type: 'log', line });
  const engine = new BrowserTaskEngine(origin, token, (run) => post({ type: 'run', run }), log);
  client = new WorkerClient({
    url,
    token,
    name,
    kind: 'browser',
    threads: 1,
    engine,
    WebSocket: WebSocket as never,
    log,
    // A laptop lid closing or a train going through a tunnel: keep trying for a few minutes.
    reconnect: { initialMs: 500, maxMs: 10_000, maxAttempts: 30 },
    onStatus: (status) => post({ type: 'status', status }),
  });
  client.run().then(
    (r) => post({ type: 'ended', how: client?.status.state === 'stopped' ? 'stopped' : 'done', reason: r.reason }),
    (err: Error) => post({ type: 'ended', how: 'failed', reason: err.message }),
  );
}
