// A browser alone trains a run: the join page's Web Worker computes every
// gradient, and the result is the single-process result, bit for bit.
import { describe, expect, it } from 'vitest';
import { artifactPath, browserSuite, runBrowserTests, trainReference, watchProblems } from './helpers/browser.js';

// 300 steps of 32 on spirals with a 64-unit layer reach 94% test accuracy single-process in 0.3 s.
const RUN = ['--dataset', 'spirals', '--model', '64', '--steps', '300', '--batch', '32', '--lr', '0.01'];
const TARGET_ACCURACY = 0.9;

describe.runIf(runBrowserTests())('browser worker', () => {
  const suite = browserSuite();

  it('trains a run alone to the target accuracy, equal to single-process training', async () => {
    const reference = trainReference([...RUN, '--threads', '1']);
    const coord = await suite.start([...RUN, '--local-workers', '0', '--min-workers', '1']);
    const page = await suite.browser().newPage();
    const problems = watchProblems(page);
    await page.goto(coord.join);
    const { code, summary, stderr } = await coord.exited;
    expect(code, stderr).toBe(0);
    expect(summary!.steps).toBe(300);
    expect(summary!.testAccuracy).toBeGreaterThanOrEqual(TARGET_ACCURACY);
    expect(summary!.paramsSha256).toBe((await reference).paramsSha256);
    // The page says what it did: every step of the run, and that the run is over.
    await page.waitForFunction(() => document.querySelector('#state')?.textContent === 'finished', null, { timeout: 10_000 });
    expect(await page.textContent('#steps')).toBe('300');
    // 300 training samples: an epoch is 9 batches of 32 and one of 12, so 30 epochs of 300.
    expect(await page.textContent('#samples')).toBe('9,000');
    expect(Number(await page.textContent('#loss'))).toBeGreaterThan(0);
    await page.screenshot({ path: artifactPath('join-finished.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 120_000);
});
