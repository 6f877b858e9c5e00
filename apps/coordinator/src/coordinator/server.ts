import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  decodeClientMessage,
  encode,
  errorMessage,
  ERRORS,
  PROTOCOL_VERSION,
  type ErrorCode,
  type ServerMessage,
} from '@gradmesh/protocol';
import type { Coordinator, Member, WorkerHandle } from './coordinator.js';

export interface ServerOptions {
  host: string;
  port: number;
  token: string;
  /** Largest frame a peer may send (set from the model size). */
  maxPayload: number;
  maxConnections?: number;
  /** Queued outgoing bytes above which a slow peer is dropped (workers) or skipped (feeds). */
  maxBufferedBytes?: number;
  heartbeatMs?: number;
  helloTimeoutMs?: number;
  /** Extra HTTP routes (dashboard, join page, assets, dataset download). */
  routes?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;
  /** Extra origins allowed to open worker sockets besides the coordinator's own. */
  allowOrigins?: string[];
  log?: (line: string) => void;
}

/** Constant-time token check: digests first, so lengths leak nothing either. */
export function tokenMatches(given: string | null | undefined, token: string): boolean {
  const a = createHash('sha256').update(given ?? '').digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given !== null && given !== undefined;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  socket.write(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`);
  socket.destroy();
}

/**
 * The coordinator's one port: HTTP routes and two WebSocket endpoints —
 * `/ws` for workers (token required, checked at the upgrade before any state
 * exists) and `/feed` for dashboards (read-only: whatever a feed client sends
 * is ignored).
 */
export class CoordinatorServer {
  readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly feeds = new Set<WebSocket>();
  private readonly sockets = new Set<WebSocket>();
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly alive = new WeakMap<WebSocket, boolean>();
  url = '';
  /** Message bytes sent to and received from workers since start (WebSocket payloads; framing and TCP not counted). */
  readonly wire = { sentBytes: 0, receivedBytes: 0 };

  constructor(
    readonly coordinator: Coordinator,
    readonly opts: ServerOptions,
  ) {
    this.http = createServer((req, res) => this.onRequest(req, res));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload, perMessageDeflate: false });
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  async listen(): Promise<string> {
    await new Promise<void>((res, rej) => {
      this.http.once('error', rej);
      this.http.listen(this.opts.port, this.opts.host, () => res());
    });
    const addr = this.http.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.opts.port;
    const host = this.opts.host.includes(':') ? `[${this.opts.host}]` : this.opts.host;
    this.url = `http://${host}:${port}`;
    const every = this.opts.heartbeatMs ?? 10_000;
    // ws ping/pong: a half-open connection misses one pong and is terminated at the next tick (within two intervals).
    this.heartbeat = setInterval(() => {
      for (const ws of this.sockets) {
        if (this.alive.get(ws) === false) {
          ws.terminate();
          continue;
        }
        this.alive.set(ws, false);
        try {
          ws.ping();
        } catch {}
      }
    }, every);
    this.heartbeat.unref();
    return this.url;
  }

  get connections(): number {
    return this.sockets.size;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      res.writeHead(400).end('bad request\n');
      return;
    }
    try {
      if (this.opts.routes?.(req, res, url)) return;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    } catch (err) {
      this.opts.log?.(`http ${url.pathname}: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('internal error\n');
    }
  }

  private originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true; // not a browser
    const host = req.headers.host;
    try {
      const o = new URL(origin);
      if (host && o.host === host) return true;
    } catch {
      return false;
    }
    return (this.opts.allowOrigins ?? []).includes(origin);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      refuseUpgrade(socket, 400, 'Bad Request');
      return;
    }
    if (this.sockets.size >= (this.opts.maxConnections ?? 512)) {
      refuseUpgrade(socket, 503, 'Too Many Connections');
      return;
    }
    if (url.pathname === '/feed') {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onFeed(ws));
      return;
    }
    if (url.pathname !== '/ws') {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    const auth = req.headers.authorization;
    const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
    if (!tokenMatches(given, this.opts.token)) {
      refuseUpgrade(socket, 401, 'Unauthorized');
      return;
    }
    if (!this.originAllowed(req)) {
      refuseUpgrade(socket, 403, 'Forbidden Origin');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onWorker(ws));
  }

  private track(ws: WebSocket): void {
    this.sockets.add(ws);
    this.alive.set(ws, true);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('close', () => this.sockets.delete(ws));
    // ws answers protocol errors itself (e.g. 1009 for an oversize frame) and closes; terminating
    // at once would reset the connection before that close frame is read. Terminate only if it hangs.
    ws.on('error', () => setTimeout(() => ws.terminate(), 2000).unref());
  }

  private onFeed(ws: WebSocket): void {
    this.track(ws);
    this.feeds.add(ws);
    ws.on('close', () => this.feeds.delete(ws));
    ws.on('message', () => {}); // read-only: nothing a feed client sends is acted on
    this.emitFeedTo(ws, this.snapshot?.());
  }

  /** Set by the app: the full state a new dashboard starts from. */
  snapshot: (() => unknown) | undefined;

  /** Sends JSON to every dashboard; a dashboard that cannot keep up misses updates instead of growing our memory. */
  broadcastFeed(msg: unknown | (() => unknown)): void {
    if (this.feeds.size === 0) return;
    const text = JSON.stringify(typeof msg === 'function' ? (msg as () => unknown)() : msg);
    for (const ws of this.feeds) this.emitFeedTo(ws, text);
  }

  private emitFeedTo(ws: WebSocket, msg: unknown): void {
    if (msg === undefined || ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > (this.opts.maxBufferedBytes ?? 8 << 20) / 8) return;
    ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  private onWorker(ws: WebSocket): void {
    this.track(ws);
    let member: Member | null = null;
    const maxBuffered = this.opts.maxBufferedBytes ?? 8 << 20;
    // What is sent to a worker in one go leaves in one writev: corked at the first send,
    // uncorked by flush() (the coordinator's, once a broadcast is out) or after this turn.
    const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    let corked = false;
    // Bytes this turn's sends added (held by the cork until flush), and the largest frame sent.
    let heldThisTurn = 0;
    let largest = 0;
    const handle: WorkerHandle = {
      send: (msg: ServerMessage) => {
        if (ws.readyState === ws.OPEN) handle.sendEncoded!(encode(msg));
      },
      sendEncoded: (bytes: Uint8Array) => {
        if (ws.readyState !== ws.OPEN) return;
        // A worker that cannot drain what it is sent falls out of the run rather than growing our
        // memory. What counts is what earlier turns left unwritten — not this turn's own frames
        // (a step's parameters and task leave together) — against a limit that grows with the
        // largest frame a healthy worker is sent (a big model's parameters).
        largest = Math.max(largest, bytes.byteLength);
        if (ws.bufferedAmount - heldThisTurn > Math.max(maxBuffered, 2 * largest)) {
          dropSlow();
          return;
        }
        if (socket && !corked) {
          corked = true;
          heldThisTurn = 0;
          socket.cork();
          setImmediate(() => handle.flush!());
        }
        this.wire.sentBytes += bytes.byteLength;
        const before = ws.bufferedAmount;
        ws.send(bytes);
        if (corked) heldThisTurn += ws.bufferedAmount - before;
      },
      // A closing socket may still flush what it holds: only a closed one holds nothing.
      queued: () => (ws.readyState === ws.CLOSED ? 0 : ws.bufferedAmount),
      flush: () => {
        if (!corked) return;
        corked = false;
        heldThisTurn = 0;
        socket?.uncork();
      },
      close: (code, reason) => {
        handle.flush!();
        ws.close(code, reason.slice(0, 120));
      },
    };
    // A peer that does not read what we send cannot be closed gracefully (it would not read the
    // close either): it leaves the run now and its connection is cut.
    const dropSlow = (): void => {
      if (member) this.coordinator.leave(member.id, `more than ${maxBuffered} bytes queued; the connection is too slow (RATE_LIMITED)`);
      member = null;
      if (ws.readyState !== ws.OPEN) return;
      // Told why (if it ever reads again), and cut if it does not finish closing soon.
      fail('RATE_LIMITED', `more than ${maxBuffered} bytes queued; the connection is too slow`);
      setTimeout(() => ws.terminate(), 5000).unref();
    };
    const fail = (code: ErrorCode, detail?: string): void => {
      try {
        if (ws.readyState === ws.OPEN) ws.send(encode(errorMessage(code, detail, { fatal: true })));
      } catch {}
      ws.close(ERRORS[code].close, (detail ?? ERRORS[code].message).slice(0, 120));
    };
    const helloTimer = setTimeout(() => {
      if (!member) fail('NOT_HELLO_FIRST', 'no hello within the time limit');
    }, this.opts.helloTimeoutMs ?? 10_000);
    helloTimer.unref();

    ws.on('message', (data, isBinary) => {
      try {
        if (!isBinary) {
          handle.send(errorMessage('BAD_FRAME', 'text frames are not part of the protocol'));
          return;
        }
        const bytes = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
        this.wire.receivedBytes += bytes.byteLength;
        const r = decodeClientMessage(bytes as Uint8Array);
        if (!r.ok) {
          // Before hello, or for a fatal code (a protocol mismatch), the connection ends; otherwise the frame is dropped.
          const prefix = `${ERRORS[r.code].message}: `;
          const detail = r.message.startsWith(prefix) ? r.message.slice(prefix.length) : r.message;
          if (!member || ERRORS[r.code].fatal) fail(r.code, detail);
          else handle.send(errorMessage(r.code, detail));
          return;
        }
        const msg = r.msg;
        if (!member) {
          if (msg.type !== 'hello') {
            fail('NOT_HELLO_FIRST');
            return;
          }
          if (msg.protocol !== PROTOCOL_VERSION) {
            fail('PROTOCOL_MISMATCH', `coordinator speaks protocol ${PROTOCOL_VERSION}, worker sent ${msg.protocol}; upgrade gradmesh on the worker`);
            return;
          }
          clearTimeout(helloTimer);
          member = this.coordinator.join(handle, msg);
          this.opts.log?.(`worker ${member.name} (${member.id}, ${member.kind}, ${member.threads} threads) joined`);
          return;
        }
        switch (msg.type) {
          case 'hello':
            handle.send(errorMessage('BAD_MESSAGE', 'hello was already received'));
            return;
          case 'gradient': {
            const code = this.coordinator.gradient(member.id, msg);
            if (code) handle.send(errorMessage(code, undefined, { taskId: msg.taskId, fatal: false }));
            return;
          }
          case 'leave':
            this.coordinator.leave(member.id, msg.reason ?? 'left');
            member = null;
            ws.close(1000, 'bye');
            return;
          case 'error':
            this.opts.log?.(`worker ${member.name}: ${msg.code}: ${msg.message}`);
            if (msg.taskId !== undefined) this.coordinator.taskFailed(member.id, msg.taskId);
            return;
        }
      } catch (err) {
        // Nothing from a socket may crash the coordinator.
        this.opts.log?.(`internal error handling a message: ${(err as Error).stack ?? err}`);
        try {
          handle.send(errorMessage('INTERNAL'));
        } catch {}
      }
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (member) this.coordinator.leave(member.id, 'connection closed');
      member = null;
    });
  }

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    // Graceful first, so what was just sent (`done`) is flushed and read; then whatever is left.
    const open = [...this.sockets];
    for (const ws of open) {
      (ws as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
      ws.close(1001, 'coordinator closing');
    }
    await Promise.race([
      Promise.all(open.map((ws) => (ws.readyState === ws.CLOSED ? undefined : new Promise((res) => ws.once('close', res))))),
      new Promise((res) => setTimeout(res, 1000).unref()),
    ]);
    for (const ws of this.sockets) ws.terminate();
    await new Promise<void>((res) => this.wss.close(() => res()));
    await new Promise<void>((res) => this.http.close(() => res()));
    this.http.closeAllConnections?.();
  }
}
