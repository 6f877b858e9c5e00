import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Coordinator, StepReport } from './coordinator.js';
import type { TrainConfig } from '../train-options.js';
import { prometheusText } from './status.js';
import { tokenMatches } from './server.js';

export interface WebRouteOptions {
  coordinator: Coordinator;
  datasetBytes: Uint8Array;
  token: string;
  config: TrainConfig;
  getStatus: () => unknown;
  /** The built pages (apps/web/dist by default). */
  webDir?: string;
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;

/** apps/web/dist, from apps/coordinator/src/coordinator (or dist/coordinator once compiled): the same depth. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

/**
 * HTTP routes: the dashboard (/), the join page (/join) and their bundled
 * assets; status JSON, step history, Prometheus metrics; the dataset for
 * workers (token required).
 */
export function webRoutes(o: WebRouteOptions): Route {
  const pages = webPages(o.webDir ?? DEFAULT_WEB_DIR);
  const history = new StepHistory(o.coordinator, o.getStatus as () => { testLoss?: number | null; testAccuracy?: number | null });
  return (req, res, url) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    switch (url.pathname) {
      case '/api/status':
        sendJson(req, res, o.getStatus());
        return true;
      case '/api/history':
        sendJson(req, res, history.toJSON());
        return true;
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' }).end(prometheusText(o.coordinator, o.config));
        return true;
      case '/dataset.bin': {
        const auth = req.headers.authorization;
        const given = url.searchParams.get('token') ?? (auth?.startsWith('Bearer ') ? auth.slice(7) : null);
        if (!tokenMatches(given, o.token)) {
          res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' }).end('unauthorized: the run token is required\n');
          return true;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': o.datasetBytes.byteLength, 'cache-control': 'private, max-age=3600' });
        res.end(req.method === 'HEAD' ? undefined : o.datasetBytes);
        return true;
      }
      default:
        return pages(req, res, url);
    }
  };
}

function sendJson(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

// ---- pages and assets ---------------------------------------------------

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
};

/** Only flat names the bundler writes: no slashes, no leading dot, so no way out of the directory. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.(js|css|map|txt)$/;
/** esbuild's [name]-[hash]: content-addressed, so cacheable for good. */
const HASHED = /-[A-Z0-9]{8}\.(?:js|css)(?:\.map|\.LEGAL\.txt)?$/;

// The pages load only their own scripts and styles and talk only to their own
// origin (the feed and worker sockets, the dataset, /api/history). 'self' in
// connect-src covers ws: to the same host in CSP3 browsers.
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  // The pages' URLs carry the run token: never send them elsewhere as a referrer.
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  // Cross-origin isolation (where the browser grants it: https or localhost) gives the
  // join page's worker a 5 µs clock instead of 100 µs, so small tasks time honestly.
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

interface Cached {
  mtimeMs: number;
  size: number;
  body: Buffer;
  etag: string;
}

/**
 * Serves apps/web/dist: `/` → index.html (the dashboard), `/join` →
 * join.html, and the hashed bundles by name. HTML is revalidated on every
 * load (no-cache + ETag) so a rebuild is picked up; hashed assets are
 * immutable. Without a build, `/` and `/join` say how to make one.
 */
export function webPages(dir: string): Route {
  const cache = new Map<string, Cached>();
  const read = (name: string): Cached | null => {
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      return null;
    }
    if (!st.isFile()) return null;
    const hit = cache.get(name);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit;
    const body = readFileSync(path);
    const entry = { mtimeMs: st.mtimeMs, size: st.size, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
    cache.set(name, entry);
    return entry;
  };
  const send = (req: IncomingMessage, res: ServerResponse, name: string, f: Cached, extra: Record<string, string>): void => {
    const ext = name.slice(name.lastIndexOf('.') + 1);
    const headers: Record<string, string | number> = {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'cache-control': HASHED.test(name) ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag: f.etag,
      'x-content-type-options': 'nosniff',
      ...extra,
    };
    if (req.headers['if-none-match'] === f.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': f.body.byteLength });
    res.end(req.method === 'HEAD' ? undefined : f.body);
  };
  return (req, res, url) => {
    const page = url.pathname === '/' || url.pathname === '/index.html' ? 'index.html' : url.pathname === '/join' || url.pathname === '/join.html' ? 'join.html' : null;
    if (page) {
      const f = read(page);
      if (!f) {
        res
          .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
          .end(`the web pages are not built (no ${join(dir, page)}): run \`pnpm build\` in the gradmesh checkout, then reload\n`);
        return true;
      }
      send(req, res, page, f, PAGE_HEADERS);
      return true;
    }
    const name = url.pathname.slice(1);
    if (!ASSET_NAME.test(name)) return false;
    const f = read(name);
    if (!f) return false;
    // A cross-origin-isolated page's worker script must opt in too.
    send(req, res, name, f, name.endsWith('.js') ? { 'cross-origin-embedder-policy': 'require-corp' } : {});
    return true;
  };
}

// ---- step history ---------------------------------------------------------

/** Steps kept; past it every other one is dropped, so memory stays bounded on long runs. */
const MAX_HISTORY = 50_000;

const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const finite = (x: number | null | undefined): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

/**
 * What a dashboard opened mid-run needs to draw the run from its start: every
 * step's loss and timings, and the test evaluations. The feed carries only
 * what happens after a dashboard connects.
 */
class StepHistory {
  private step: number[] = [];
  private loss: (number | null)[] = [];
  private ms: number[] = [];
  private computeMs: number[] = [];
  private commMs: number[] = [];
  private waitMs: number[] = [];
  private samples: number[] = [];
  private readonly evalStep: number[] = [];
  private readonly evalLoss: (number | null)[] = [];
  private readonly evalAccuracy: (number | null)[] = [];
  private lastTestLoss: number | null = null;

  constructor(coordinator: Coordinator, getStatus: () => { testLoss?: number | null; testAccuracy?: number | null }) {
    coordinator.on('step', (r: StepReport) => {
      // The command evaluates the test split after a step's report goes out, so the
      // evaluation of "k steps done" is visible when step k (0-based) reports.
      const s = getStatus();
      const testLoss = finite(s.testLoss);
      if (testLoss !== null && testLoss !== this.lastTestLoss) {
        this.lastTestLoss = testLoss;
        this.evalStep.push(r.step);
        this.evalLoss.push(testLoss);
        this.evalAccuracy.push(finite(s.testAccuracy));
      }
      this.step.push(r.step);
      this.loss.push(finite(r.loss));
      this.ms.push(round3(r.ms));
      this.computeMs.push(round3(r.computeMs));
      this.commMs.push(round3(r.commMs));
      this.waitMs.push(round3(r.waitMs));
      this.samples.push(r.samples);
      if (this.step.length > MAX_HISTORY) this.halve();
    });
  }

  private halve(): void {
    const keep = <T>(a: T[]): T[] => a.filter((_, i) => i % 2 === 1 || i === a.length - 1);
    this.step = keep(this.step);
    this.loss = keep(this.loss);
    this.ms = keep(this.ms);
    this.computeMs = keep(this.computeMs);
    this.commMs = keep(this.commMs);
    this.waitMs = keep(this.waitMs);
    this.samples = keep(this.samples);
  }

  toJSON() {
    return {
      steps: { step: this.step, loss: this.loss, ms: this.ms, computeMs: this.computeMs, commMs: this.commMs, waitMs: this.waitMs, samples: this.samples },
      evals: { step: this.evalStep, testLoss: this.evalLoss, testAccuracy: this.evalAccuracy },
    };
  }
}
