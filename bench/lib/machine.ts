/** What the numbers were measured on: CPU, load, versions, commit. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { REPO } from './paths.js';

function cpuinfo(): { model: string; family?: string; modelNo?: string; isa: string[] } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const first = text.split('\n\n')[0]!;
    const field = (k: string): string | undefined => first.match(new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm'))?.[1];
    const flags = (field('flags') ?? '').split(' ');
    return {
      model: field('model name') ?? cpus()[0]?.model ?? 'unknown',
      family: field('cpu family'),
      modelNo: field('model'),
      isa: ['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512vl', 'avx512_bf16'].filter((f) => flags.includes(f)),
    };
  } catch {
    return { model: cpus()[0]?.model ?? 'unknown', isa: [] };
  }
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(): Record<string, unknown> {
  return {
    cpu: cpuinfo(),
    cores: availableParallelism(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform}-${process.arch}`,
    loadavg: loadavg(),
    commit: git(['rev-parse', 'HEAD']),
    dirty: (git(['status', '--porcelain']) ?? '').length > 0,
  };
}
