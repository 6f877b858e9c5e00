import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The "." entry point runs in browsers and worker threads: nothing it imports
// may touch Node (tsconfig.isomorphic.json checks the types; this checks the text).
const src = join(import.meta.dirname, '../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node' ? [] : files(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

describe('isomorphic entry point', () => {
  it('imports nothing from node: and uses no Node or DOM globals', () => {
    const offenders: string[] = [];
    for (const f of files(src)) {
      const text = readFileSync(f, 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '');
      for (const bad of [/from ['"]node:/, /from ['"](fs|path|os|crypto|url)['"]/, /\bBuffer\b/, /\bprocess\./, /\b(window|document|self)\./, /\brequire\(/]) {
        if (bad.test(text)) offenders.push(`${relative(src, f)}: ${bad}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
