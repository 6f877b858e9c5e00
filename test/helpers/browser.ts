// Helpers for the real-browser tests: Debian's chromium driven by
// playwright-core (never a downloaded browser), and coordinators started as
// real processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ARTIFACTS = `${ROOT}test-artifacts`;
import { launchBrowser } from './chromium.js';

export { CHROMIUM, launchBrowser, runBrowserTests } from './chromium.js';
export const WEB_DIST = `${ROOT}apps/web/dist`;

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return `${ARTIFACTS}/${name}`;
}

/**
 * Collects what a page reports as broken: uncaught exceptions, console
 * errors (CSP violations land there) and failed requests, including the
 * page's Web Workers.
 */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('worker', (w) => w.on('console', (m) => m.type() === 'error' && problems.push(`worker console: ${m.text()}`)));
  return problems;
}

export interface DoneSummary {
  event: 'done';
  steps: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
  paramsSha256: string;
}

export interface RunningCoordinator {
  base: string;
  dashboard: string;
  join: string;
  token: string;
  wsUrl: string;
  proc: ChildProcess;
  /** Resolves when the process exits, with its summary line (from --json) if it printed one. */
  exited: Promise<{ code: number | null; summary: DoneSummary | null; stdout: string; stderr: string }>;
  /** Kills the coordinator and its local workers (one process group); safe to call twice. */
  kill(): Promise<void>;
}

const NODE_ARGS = ['--conditions=@gradmesh/source', '--import', 'tsx', 'apps/coordinator/src/main.ts'];

/** `gradmesh coordinator ARGS --port 0 --json`, resolved once it has printed its addresses. */
export async function startCoordinator(args: string[]): Promise<RunningCoordinator> {
  // Its own process group, so a test can end the coordinator and the local workers it spawned together.
  const proc = spawn(process.execPath, [...NODE_ARGS, 'coordinator', ...args, '--port', '0', '--json'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; summary: DoneSummary | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('exit', (code) => {
      // Let the pipes drain.
      setTimeout(() => {
        const line = stdout.split('\n').find((l) => l.startsWith('{"event":"done"'));
        resolve({ code, summary: line ? (JSON.parse(line) as DoneSummary) : null, stdout, stderr });
      }, 50);
    });
  });
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        proc.kill('SIGKILL');
      }
    }
    await exited;
  };
  const urls = await new Promise<{ dashboard: string; join: string; token: string; wsUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`coordinator printed no addresses in 30 s\nstdout: ${stdout}\nstderr: ${stderr}`)), 30_000);
    const check = (): void => {
      const dashboard = /dashboard: (\S+)/.exec(stdout)?.[1];
      const join = /browsers: +(\S+)/.exec(stdout)?.[1];
      const machines = /machines: +pnpm gradmesh worker --url (\S+) --token (\S+)/.exec(stdout);
      if (dashboard && join && machines) {
        clearTimeout(timer);
        resolve({ dashboard, join, wsUrl: machines[1]!, token: machines[2]! });
      }
    };
    proc.stdout!.on('data', check);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`coordinator exited (${code}) before printing its addresses\nstdout: ${stdout}\nstderr: ${stderr}`));
    });
  });
  return { ...urls, base: new URL(urls.dashboard).origin, proc, exited, kill };
}

/** `gradmesh train ARGS --json --quiet`: the single-process reference. */
export async function trainReference(args: string[]): Promise<DoneSummary> {
  const proc = spawn(process.execPath, [...NODE_ARGS, 'train', ...args, '--json', '--quiet'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((res) => proc.on('exit', res));
  const line = stdout.split('\n').find((l) => l.startsWith('{"event":"done"'));
  if (code !== 0 || !line) throw new Error(`train exited ${code}\n${stdout}\n${stderr}`);
  return JSON.parse(line) as DoneSummary;
}

export interface StatusWorker {
  id: string;
  name: string;
  kind: 'node' | 'browser';
  threads: number;
  samplesDone: number;
  stepsDone: number;
  state: string;
}

export interface Status {
  state: string;
  step: number;
  totalSteps: number;
  workers: StatusWorker[];
}

export async function getStatus(base: string): Promise<Status> {
  const res = await fetch(`${base}/api/status`);
  return (await res.json()) as Status;
}

/** Polls until `pred` holds (or throws after `ms`). */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, pred: (v: T) => boolean, ms = 30_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    try {
      last = await fn();
      if (pred(last)) return last;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Call inside a describe: one browser for the suite, and every coordinator the
 * tests start through `start` is killed when the suite ends.
 */
export function browserSuite(): { browser: () => Browser; start: (args: string[]) => Promise<RunningCoordinator> } {
  let browser: Browser | undefined;
  const running: RunningCoordinator[] = [];
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await Promise.all(running.map((c) => c.kill()));
    await browser?.close();
  });
  return {
    browser: () => browser!,
    start: async (args) => {
      const c = await startCoordinator(args);
      running.push(c);
      return c;
    },
  };
}
