/**
 * The one-thread sgemm limit (OpenBLAS, n = 4096) when OpenBLAS and a C
 * compiler are installed; otherwise a note saying how to get it. Never required.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH } from '../lib/paths.js';
import { median, spread } from '../lib/stats.js';

export interface SgemmResult {
  ok: boolean;
  note?: string;
  core?: string;
  n?: number;
  gflops?: number;
  runs?: number[];
  spread?: number;
  /** CPU seconds / wall seconds: below ~0.95 the machine was busy and the limit reads low. */
  cpuShare?: number;
}

function hasOpenBlas(): boolean {
  try {
    return /libopenblas/.test(execFileSync('ldconfig', ['-p'], { encoding: 'utf8' }));
  } catch {
    return false;
  }
}

export function sgemmLimit(n: number, runs: number): SgemmResult {
  if (!hasOpenBlas()) return { ok: false, note: 'OpenBLAS not installed (apt-get install -y libopenblas-dev gives the one-thread sgemm limit)' };
  const src = join(BENCH, 'sections', 'sgemm.c');
  const hash = createHash('sha256').update(readFileSync(src)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'gradmesh-bench');
  mkdirSync(dir, { recursive: true });
  const exe = join(dir, `sgemm-${hash}`);
  if (!existsSync(exe)) {
    const cc = spawnSync('gcc', ['-O2', '-o', exe, src, '-lopenblas'], { encoding: 'utf8' });
    if (cc.error || cc.status !== 0) {
      return { ok: false, note: `OpenBLAS is installed but the sgemm probe did not compile: ${(cc.error?.message ?? cc.stderr).split('\n')[0]}` };
    }
  }
  // Debian's OpenBLAS is built for every x86 core and picks one at run time; a
  // release older than the CPU may pick AVX2 kernels on an AVX-512 machine, so
  // the SkylakeX (AVX-512) kernels are tried too and the faster one counts.
  const cores: Array<string | undefined> = [undefined];
  if (avx512()) cores.push('SkylakeX');
  let best: SgemmResult | null = null;
  const tried: string[] = [];
  for (const coretype of cores) {
    const r = spawnSync(exe, [String(n), String(runs)], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', ...(coretype ? { OPENBLAS_CORETYPE: coretype } : {}) },
      timeout: 600_000,
    });
    if (r.status !== 0) {
      tried.push(`${coretype ?? 'auto'}: failed (${(r.stderr || String(r.error)).split('\n')[0]})`);
      continue;
    }
    const out = JSON.parse(r.stdout) as { core: string; n: number; runs: Array<[number, number]> };
    const rates = out.runs.map(([wall]) => (2 * n ** 3) / wall / 1e9);
    const res: SgemmResult = { ok: true, core: out.core, n, gflops: median(rates), runs: rates, spread: spread(rates), cpuShare: median(out.runs.map(([w, c]) => c / w)) };
    tried.push(`${coretype ? `OPENBLAS_CORETYPE=${coretype}` : 'auto'} → ${out.core} ${median(rates).toFixed(1)} GFLOP/s`);
    if (!best || res.gflops! > best.gflops!) best = res;
  }
  if (!best) return { ok: false, note: `sgemm probe failed: ${tried.join('; ')}` };
  return { ...best, note: tried.join('; ') };
}

function avx512(): boolean {
  try {
    return /\bavx512f\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}
