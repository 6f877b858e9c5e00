// Debian's chromium, driven by playwright-core (never a downloaded browser):
// the browser tests and the bench's browser cell launch it the same way.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/**
 * Whether to run the browser tests: where chromium is installed, and always
 * in CI (.ci/run installs it; a missing browser there must fail, not skip).
 */
export function runBrowserTests(): boolean {
  return existsSync(CHROMIUM) || process.env.CI === 'true';
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
}
