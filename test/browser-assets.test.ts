// How the coordinator serves the web pages: content types, caching (HTML
// revalidated, hashed bundles immutable), security headers, 404 for anything
// else with no way out of the directory, and a 503 that says how to build
// when the pages are not built.
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webPages } from '../apps/coordinator/src/coordinator/web.js';
import { WEB_DIST } from './helpers/browser.js';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A raw request: the path goes out exactly as written (no client-side normalisation of `..`). */
function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(dir: string): Promise<{ server: Server; port: number }> {
  const pages = webPages(dir);
  const server = createServer((req, res) => {
    if (!pages(req, res, new URL(req.url ?? '/', 'http://localhost'))) res.writeHead(404).end('not found\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('web pages and assets', () => {
  let built: { server: Server; port: number };
  let missing: { server: Server; port: number };
  const manifest = JSON.parse(readFileSync(`${WEB_DIST}/manifest.json`, 'utf8')) as Record<string, { js: string; css: string | null }>;

  beforeAll(async () => {
    built = await serve(WEB_DIST);
    missing = await serve(`${WEB_DIST}-does-not-exist`);
  });
  afterAll(async () => {
    for (const s of [built, missing]) await new Promise((r) => s?.server.close(r));
  });

  it('serves the dashboard and the join page as revalidated HTML naming the hashed bundles', async () => {
    for (const [path, entry] of [['/', 'dashboard'], ['/join?token=x', 'join']] as const) {
      const r = await get(built.port, path);
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-security-policy']).toContain("default-src 'self'");
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(r.body).toContain(`src="/${manifest[entry]!.js}"`);
      expect(r.body).toContain(`href="/${manifest[entry]!.css}"`);
      const again = await get(built.port, path, { headers: { 'if-none-match': r.headers.etag! } });
      expect(again.status).toBe(304);
      expect(again.body).toBe('');
    }
    const head = await get(built.port, '/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(100);
    expect(head.body).toBe('');
  });

  it('serves hashed bundles with their content types, cached for good', async () => {
    const files = Object.values(manifest).flatMap((a) => [a.js, a.css].filter((f): f is string => f !== null));
    expect(files.map((f) => f.replace(/-[A-Z0-9]{8}\./, '-HASH.')).sort()).toEqual(
      ['dashboard-HASH.css', 'dashboard-HASH.js', 'join-HASH.css', 'join-HASH.js', 'join-worker-HASH.js'].sort(),
    );
    for (const f of files) {
      const r = await get(built.port, `/${f}`);
      expect(r.status, f).toBe(200);
      expect(r.headers['content-type']).toBe(f.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    // The join page's script names its worker bundle by hash.
    const join = await get(built.port, `/${manifest.join!.js}`);
    expect(join.body).toContain(`/${manifest['join-worker']!.js}`);
  });

  it('answers 404 for anything else, with no way out of the directory', async () => {
    for (const path of [
      '/nope.js',
      '/manifest.json',
      '/index',
      '/../package.json',
      '/..%2Fpackage.json',
      '/%2e%2e/build.mjs',
      '/%2e%2e%2fbuild.mjs',
      '/..\\build.mjs',
      '/.hidden.js',
      '/%2Fetc%2Fpasswd',
      '//etc/passwd',
      `/src/${'dashboard.ts'}`,
    ]) {
      const r = await get(built.port, path);
      expect(r.status, path).toBe(404);
      expect(r.body).toBe('not found\n');
    }
  });

  it('says how to build when the pages are not built', async () => {
    for (const path of ['/', '/join']) {
      const r = await get(missing.port, path);
      expect(r.status).toBe(503);
      expect(r.body).toMatch(/^the web pages are not built .*run `pnpm build`.*\n$/);
      expect(r.body.split('\n')).toHaveLength(2);
    }
    expect((await get(missing.port, '/dashboard-ABCDEFGH.js')).status).toBe(404);
  });
});
