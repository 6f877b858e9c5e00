import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadKernels } from '@gradmesh/engine/node';
import { collect, lastJson, runCli, spawnCli, waitFor } from './helpers/cli.js';

// spirals, 2-64-64-3, batch 64 in micro-batches of 8: threads split at different micro-batch boundaries.
const RUN = ['train', '--dataset', 'spirals', '--model', '64,64', '--steps', '120', '--batch', '64', '--micro-batch', '8', '--seed', '3', '--quiet', '--json'];

function losses(file: string): number[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((x) => x.event === undefined).map((x) => x.loss);
}

describe('worker-thread data parallelism (piscina)', () => {
  // wasm (the default) copies through per-thread slots; js and native compute
  // straight into shared memory the main thread reads in place.
  test.each(['wasm', 'js', 'native'])('--threads 1, 2 and 4 take the same steps: same per-step losses, identical paramsSha256 (%s kernels)', async (kernels) => {
    if (kernels === 'native' && loadKernels('auto', 1).family !== 'native') {
      console.log('threads: native kernels not built here; the native case is covered where the addon builds');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'gm-'));
    const runs = await Promise.all(
      [1, 2, 4].map(async (t) => {
        // Every step split over all threads (the default keeps this small model's steps on one).
        const r = await runCli([...RUN, '--kernels', kernels, '--threads', String(t), '--metrics-out', join(dir, `t${t}.jsonl`)], { GRADMESH_MIN_SHARD_MS: '0' });
        expect(r.code, r.stderr).toBe(0);
        return { sha: lastJson(r.stdout).paramsSha256, losses: losses(join(dir, `t${t}.jsonl`)) };
      }),
    );
    expect(runs[0]!.losses).toHaveLength(120);
    for (const r of runs.slice(1)) {
      r.losses.forEach((l, i) => expect(Math.abs(l - runs[0]!.losses[i]!)).toBeLessThanOrEqual(1e-5 * Math.abs(runs[0]!.losses[i]!)));
      // The reduction order is the canonical tree over micro-batches, whatever the thread count: same bits.
      expect(r.sha).toBe(runs[0]!.sha);
    }
  });

  test('a thread that throws ends the run with an error naming the step, not a hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-'));
    const out = join(dir, 'model.gmsh');
    const t0 = Date.now();
    const r = await runCli([...RUN, '--threads', '2', '--save', out], { GRADMESH_FAULT_THREAD_STEP: '17', GRADMESH_MIN_SHARD_MS: '0' }, 60_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/step 17/);
    expect(r.stderr).toMatch(/injected fault/);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(existsSync(out)).toBe(false);
  });

  // Steps never wait on the event loop (threads answer through shared memory): the trainer must still see the signal.
  test.each([1, 2])('Ctrl-C stops the run and exits promptly, leaving no model file (%i threads)', async (threads) => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-'));
    const out = join(dir, 'model.gmsh');
    const child = spawnCli(['train', '--dataset', 'spirals', '--model', '256,256', '--steps', '100000', '--threads', String(threads), '--save', out], { GRADMESH_MIN_SHARD_MS: '0' });
    const r = collect(child);
    try {
      await waitFor('training to start', () => /step \d+/.test(r.stderr()), 60_000);
      const t0 = Date.now();
      child.kill('SIGINT');
      const res = await Promise.race([r, new Promise<null>((ok) => setTimeout(() => ok(null), 10_000))]);
      expect(res, 'the run did not stop within 10 s of SIGINT').not.toBeNull();
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(res!.code).toBe(1);
      expect(res!.stderr).toMatch(/interrupted at step \d+; nothing was saved/);
    } finally {
      child.kill('SIGKILL'); // a run that ignored the signal must not outlive the test
    }
    expect(existsSync(out)).toBe(false);
  });
});
