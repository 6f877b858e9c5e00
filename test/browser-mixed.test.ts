// One Node worker and two browsers share every step; the result is the
// single-process result, bit for bit (the canonical reduction tree makes the
// sum independent of who computed which micro-batch).
import { describe, expect, it } from 'vitest';
import { getStatus, browserSuite, runBrowserTests, trainReference, watchProblems, type Status, type StatusWorker } from './helpers/browser.js';

// A run this long without a step fails the test, saying where it stood.
const STALL_MS = 60_000;
// 8 micro-batches a step, so three workers all get a share.
const RUN = ['--dataset', 'spirals', '--model', '64', '--steps', '120', '--batch', '64', '--micro-batch', '8', '--lr', '0.01'];

describe.runIf(runBrowserTests())('mixed run', () => {
  const suite = browserSuite();

  it('one Node worker and two browsers train together, equal to single-process training', async () => {
    const reference = trainReference([...RUN, '--threads', '1']);
    // A short pause between steps, so /api/status is sampled during the run however fast the machine.
    const coord = await suite.start([...RUN, '--local-workers', '1', '--local-threads', '1', '--min-workers', '3', '--step-delay', '10']);
    const context = await suite.browser().newContext();
    const pages = await Promise.all([context.newPage(), context.newPage()]);
    const problems = pages.map(watchProblems);
    await Promise.all(pages.map((p, i) => p.goto(`${coord.join}&name=browser-${i + 1}`)));

    // Watch /api/status while the run goes: the last report of each worker while it was a member.
    const seen = new Map<string, StatusWorker>();
    let maxWorkers = 0;
    let ended = false;
    const exited = coord.exited.finally(() => (ended = true));
    // A run that stops moving fails here, saying where it stood, instead of at the test's timeout with nothing to go on.
    let lastStep = -1;
    let movedAt = Date.now();
    while (!ended) {
      let s: Status | null = null;
      try {
        s = await getStatus(coord.base);
      } catch {
        // the coordinator is shutting down
      }
      if (s) {
        if (s.state === 'training') maxWorkers = Math.max(maxWorkers, s.workers.length);
        for (const w of s.workers) seen.set(w.id, w);
        if (s.step !== lastStep) [lastStep, movedAt] = [s.step, Date.now()];
        if (Date.now() - movedAt > STALL_MS) {
          const where = `state ${s.state}, step ${s.step}/${s.totalSteps}, workers ${s.workers.map((w) => `${w.name} (${w.kind}, ${w.state}, ${w.stepsDone} steps)`).join(', ') || 'none'}`;
          const pagesSay = await Promise.all(pages.map((p) => p.textContent('#state').catch(() => '?')));
          await coord.kill();
          const { stderr } = await exited;
          throw new Error(`the run made no progress for ${STALL_MS / 1000} s: ${where}; pages: ${pagesSay.join(', ')}; page problems: ${problems.flat().join('; ') || 'none'}; coordinator stderr: ${stderr.slice(-1500)}`);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const { code, summary, stderr } = await exited;
    expect(code, stderr).toBe(0);
    expect(maxWorkers).toBe(3);
    const workers = [...seen.values()];
    expect(workers.map((w) => w.kind).sort()).toEqual(['browser', 'browser', 'node']);
    expect(workers.map((w) => w.name).sort()).toEqual(['browser-1', 'browser-2', 'local-1']);
    for (const w of workers) expect(w.samplesDone, `${w.name} samples`).toBeGreaterThan(0);
    expect(summary!.paramsSha256).toBe((await reference).paramsSha256);
    // Each page counted its own contribution.
    for (const p of pages) {
      await p.waitForFunction(() => document.querySelector('#state')?.textContent === 'finished', null, { timeout: 10_000 });
      expect(Number((await p.textContent('#steps'))!.replace(/,/g, ''))).toBeGreaterThan(0);
    }
    expect(problems.flat()).toEqual([]);
    await context.close();
  }, 120_000);
});
