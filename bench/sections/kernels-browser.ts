/**
 * The `kernels` section's browser cell: gradmesh training in Chromium, in a
 * Web Worker as the join page computes (bench/browser/train-worker.ts,
 * bundled by esbuild and served from loopback). Steps are timed inside the
 * worker; the cell's CPU share is that of the browser's processes (and this
 * one, which drives them).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchBrowser } from '../../test/helpers/chromium.js';
import type { WorkerReply, WorkerRequest } from '../browser/train-worker.js';
import type { Cell } from '../lib/cell.js';
import type { Arch } from '../lib/models.js';
import { BENCH } from '../lib/paths.js';

async function bundle(): Promise<string> {
  const r = await build({
    entryPoints: [join(BENCH, 'browser', 'train-worker.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2022'],
    conditions: ['@gradmesh/source'],
    write: false,
    logLevel: 'warning',
  });
  return r.outputFiles[0]!.text;
}

function serve(worker: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/train-worker.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(worker);
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>gradmesh bench</title>');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** CPU time (ms) of a process and all its descendants, from /proc (Linux). */
function treeCpuMs(root: number): number {
  const TICK_MS = 10; // USER_HZ = 100 on Linux
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      cpu.set(Number(d), (Number(f[11]) + Number(f[12])) * TICK_MS);
    } catch {
      // the process ended while we looked
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parent.get(p) ?? 0, hops++) if (p === root) return true;
    return false;
  };
  let total = 0;
  for (const [pid, ms] of cpu) if (inTree(pid)) total += ms;
  return total;
}

export async function browserTrain(args: { arch: Arch; kernels: 'wasm' | 'js' }): Promise<Cell> {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM} (Debian: apt-get install chromium)`);
  const server = await serve(await bundle());
  let browser: Browser | null = null;
  try {
    browser = await launchBrowser();
    // Chromium's processes are descendants of this one (playwright spawns them).
    const pid = process.pid;
    const page: Page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const ask = (req: WorkerRequest): Promise<WorkerReply> =>
      page.evaluate(
        (r) =>
          new Promise<WorkerReply>((resolve) => {
            // The page's globals, typed here (the bench compiles against Node's types, not the DOM's).
            interface PageWorker {
              onmessage: (e: { data: WorkerReply }) => void;
              onerror: (e: { message: string }) => void;
              postMessage(m: WorkerRequest): void;
            }
            const g = globalThis as unknown as { benchWorker?: PageWorker; Worker: new (url: string) => PageWorker };
            g.benchWorker ??= new g.Worker('/train-worker.js');
            g.benchWorker.onmessage = (e) => resolve(e.data);
            g.benchWorker.onerror = (e) => resolve({ ok: false, error: e.message || 'worker failed to load' });
            g.benchWorker.postMessage(r);
          }),
        req,
      );
    const check = (r: WorkerReply): Extract<WorkerReply, { ok: true }> => {
      if (!r.ok) throw new Error(`browser worker: ${r.error}${errors.length ? ` (page: ${errors.join('; ')})` : ''}`);
      return r;
    };
    const setup = check(await ask({ cmd: 'setup', arch: args.arch, kernels: args.kernels }));
    const version = browser.version();
    const b = browser;
    return {
      info: { kernels: setup.kernels, browser: `chromium ${version}` },
      async block(steps) {
        const c0 = treeCpuMs(pid);
        const t0 = performance.now();
        const r = check(await ask({ cmd: 'block', steps }));
        const cpuShare = (treeCpuMs(pid) - c0) / (performance.now() - t0);
        return { ms: r.ms!, cpuShare, extra: { loss: r.loss } };
      },
      async close() {
        await b.close();
        server.close();
      },
    };
  } catch (err) {
    await browser?.close();
    server.close();
    throw err;
  }
}
