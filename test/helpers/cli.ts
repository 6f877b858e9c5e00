import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../apps/coordinator/src/main.ts', import.meta.url));
export const NODE_ARGS = ['--conditions=@gradmesh/source', '--import', 'tsx'];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `gradmesh ARGS` as a real process (the same command users run). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [...NODE_ARGS, MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function collect(child: ChildProcess): Promise<CliResult> & { stdout: () => string; stderr: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const p = new Promise<CliResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr }))) as Promise<CliResult> & {
    stdout: () => string;
    stderr: () => string;
  };
  p.stdout = () => stdout;
  p.stderr = () => stderr;
  return p;
}

export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliResult> {
  const child = spawnCli(args, env);
  const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const r = await collect(child);
  clearTimeout(t);
  return r;
}

export interface DoneLine {
  event: 'done';
  steps: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
  paramsSha256: string;
}

export function lastJson<T = DoneLine>(stdout: string): T {
  const lines = stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  if (lines.length === 0) throw new Error(`no JSON line in output:\n${stdout}`);
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export async function waitFor<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 25): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
