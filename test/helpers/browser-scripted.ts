// A scripted coordinator for browser tests: serves the real join page (and a
// dataset), speaks the protocol on /ws, and lets a test decide what each
// connection is sent and what the browser sent back.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeClientMessage, encode, type ClientMessage, type RunInfo, type ServerMessage } from '@gradmesh/protocol';
import { webPages } from '../../apps/coordinator/src/coordinator/web.js';
import { WEB_DIST } from './browser.js';

export interface ScriptedConnection {
  /** 1 for the first connection, 2 after a reconnect, … */
  n: number;
  ws: WebSocket;
  send(msg: ServerMessage): void;
}

export interface ScriptedCoordinator {
  base: string;
  token: string;
  joinUrl: string;
  /** Everything browsers sent, in order, with the connection it came on (arrays copied out of the frame). */
  received: Array<{ n: number; msg: ClientMessage }>;
  /** Resolves when a received message satisfies `pred`. */
  next(pred: (m: ClientMessage, n: number) => boolean, ms?: number): Promise<ClientMessage>;
  close(): Promise<void>;
}

export async function startScriptedCoordinator(opts: {
  token: string;
  datasetBytes: Uint8Array;
  onMessage: (conn: ScriptedConnection, msg: ClientMessage) => void;
}): Promise<ScriptedCoordinator> {
  const pages = webPages(WEB_DIST);
  const http: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/dataset.bin') {
      if (url.searchParams.get('token') !== opts.token) return void res.writeHead(401).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(opts.datasetBytes);
      return;
    }
    if (!pages(req, res, url)) res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server: http, path: '/ws' });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const received: Array<{ n: number; msg: ClientMessage }> = [];
  const waiters: Array<{ pred: (m: ClientMessage, n: number) => boolean; resolve: (m: ClientMessage) => void }> = [];
  let count = 0;
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    if (new URL(req.url ?? '/', base).searchParams.get('token') !== opts.token) return ws.close(4001);
    const conn: ScriptedConnection = { n: ++count, ws, send: (m) => ws.readyState === ws.OPEN && ws.send(encode(m)) };
    ws.on('message', (data: Buffer) => {
      const r = decodeClientMessage(new Uint8Array(data));
      if (!r.ok) throw new Error(`bad frame from the browser: ${r.message}`);
      // The decoded arrays view the frame's buffer: copy what we keep.
      const msg = Object.fromEntries(Object.entries(r.msg).map(([k, v]) => [k, ArrayBuffer.isView(v) ? (v as Float32Array).slice() : v])) as ClientMessage;
      received.push({ n: conn.n, msg });
      for (const w of [...waiters]) {
        if (w.pred(msg, conn.n)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(msg);
        }
      }
      opts.onMessage(conn, msg);
    });
  });
  return {
    base,
    token: opts.token,
    joinUrl: `${base}/join?token=${encodeURIComponent(opts.token)}`,
    received,
    next(pred, ms = 20_000) {
      const seen = received.find((r) => pred(r.msg, r.n));
      if (seen) return Promise.resolve(seen.msg);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching message from the browser in ${ms} ms; got ${received.map((r) => `${r.n}:${r.msg.type}`).join(' ')}`)), ms);
        waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
      });
    },
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise((r) => http.close(r));
    },
  };
}

/**
 * A scripted coordinator that plays a fixed script: each hello gets a welcome
 * to `run(base)` and every message of `script`; once as many gradients came
 * back as the script has tasks, done.
 */
export async function startScriptPlayer(opts: { token: string; datasetBytes: Uint8Array; run: (base: string) => RunInfo; script: ServerMessage[] }): Promise<ScriptedCoordinator> {
  const tasks = opts.script.filter((m) => m.type === 'task').length;
  const coord: ScriptedCoordinator = await startScriptedCoordinator({
    token: opts.token,
    datasetBytes: opts.datasetBytes,
    onMessage: (conn, msg) => {
      if (msg.type === 'hello') {
        conn.send({ type: 'welcome', workerId: 'w1', run: opts.run(coord.base) });
        for (const m of opts.script) conn.send(m);
      } else if (msg.type === 'gradient' && coord.received.filter((r) => r.msg.type === 'gradient').length === tasks) {
        conn.send({ type: 'done', reason: 'gradients checked' });
      }
    },
  });
  return coord;
}
