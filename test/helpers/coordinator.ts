import type { ChildProcess } from 'node:child_process';
import { collect, spawnCli, waitFor, type CliResult } from './cli.js';

export interface RunningCoordinator {
  child: ChildProcess;
  base: string;
  wsUrl: string;
  token: string;
  result: Promise<CliResult>;
  stdout: () => string;
  stderr: () => string;
  status: () => Promise<StatusJson>;
  startWorker: (name: string, threads?: number, extra?: string[]) => { child: ChildProcess; result: Promise<CliResult> };
}

export interface StatusJson {
  state: string;
  step: number;
  totalSteps: number;
  workers: Array<{ id: string; name: string; kind: string; threads: number; samplesDone: number; share: number; state: string }>;
}

/** Starts `gradmesh coordinator` on a free port and reads its printed addresses. */
export async function startCoordinator(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunningCoordinator> {
  const child = spawnCli(['coordinator', '--port', '0', ...args], env);
  const result = collect(child);
  let exited = false;
  void result.then(() => (exited = true));
  const line = await waitFor(
    'the coordinator to print its address',
    () => {
      if (exited) throw new Error(`coordinator exited early:\n${result.stderr()}`);
      return /machines:\s+pnpm gradmesh worker --url (\S+) --token (\S+)/.exec(result.stdout());
    },
    60_000,
  );
  const wsUrl = line[1]!;
  const token = line[2]!;
  const base = wsUrl.replace(/^ws/, 'http').replace(/\/ws$/, '');
  return {
    child,
    base,
    wsUrl,
    token,
    result,
    stdout: result.stdout,
    stderr: result.stderr,
    status: async () => (await (await fetch(`${base}/api/status`)).json()) as StatusJson,
    startWorker: (name, threads = 1, extra = []) => {
      const w = spawnCli(['worker', '--url', wsUrl, '--token', token, '--threads', String(threads), '--name', name, ...extra]);
      return { child: w, result: collect(w) };
    },
  };
}
