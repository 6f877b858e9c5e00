// The AVX-512 kernels run only on CPUs that have AVX-512. On one that does
// not, compile them against SIMDe (AVX-512 intrinsics implemented with AVX2;
// Debian package libsimde-dev) and require the same bits as the AVX2 kernels.
// Skipped, saying why, when g++, SIMDe or AVX2 is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { nativeIsas } from '../src/index.js';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const gxx = spawnSync('g++', ['--version']).status === 0;
const simde = existsSync('/usr/include/simde/x86/avx512.h');
const avx2 = nativeIsas().includes('avx2');
const why = !gxx ? 'no g++' : !simde ? 'no SIMDe headers (apt-get install libsimde-dev)' : !avx2 ? 'no AVX2 here' : '';

test.skipIf(why !== '')(`AVX-512 kernels (emulated via SIMDe) match the AVX2 kernels bit for bit${why ? ` — skipped: ${why}` : ''}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'gm-avx512-'));
  try {
    const exe = join(dir, 'check');
    const cc = spawnSync('g++', [
      '-O2', '-std=gnu++17', '-mavx2', '-mfma', '-ffp-contract=off', '-DGM_AVX512_VIA_SIMDE', '-w', '-Wno-psabi',
      join(pkgDir, 'test/native/avx512_check.cc'), join(pkgDir, 'csrc/gemm_avx512.cc'), join(pkgDir, 'csrc/gemm_avx2.cc'),
      '-o', exe,
    ], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    const run = spawnSync(exe, { encoding: 'utf8' });
    expect(run.stdout).toMatch(/\d+ cases, 0 mismatches/);
    expect(run.status).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
