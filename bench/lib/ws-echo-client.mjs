// Echo client for the transport-floor measurements: connects to argv[2] and
// answers every second frame with a frame of argv[4] bytes (default 96),
// masked with a zero key as `gradmesh worker` masks. ws is resolved from the
// package.json given as argv[3] (the worker app's), as the worker would.
import { createRequire } from 'node:module';

const [url, from, size] = process.argv.slice(2);
const { WebSocket } = createRequire(from)('ws');
const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: (mask) => mask.fill(0) });
const reply = Buffer.alloc(Number(size ?? 96), 3);
let n = 0;
ws.on('message', () => {
  if (++n % 2 === 0) ws.send(reply);
});
ws.on('close', () => process.exit(0));
ws.on('error', (e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
