import { defineConfig } from 'vitest/config';

// Tests run on TypeScript source: the "@gradmesh/source" export condition points
// every workspace package at src/, so no build is needed before `vitest run`.
export default defineConfig({
  resolve: { conditions: ['@gradmesh/source'] },
  ssr: { resolve: { conditions: ['@gradmesh/source'], externalConditions: ['@gradmesh/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
