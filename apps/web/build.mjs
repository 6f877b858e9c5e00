// Bundles the dashboard and the join page for the coordinator to serve.
//
//   node build.mjs            → dist/{index.html, join.html, *-HASH.js, *-HASH.css, manifest.json}
//
// Workspace packages resolve to their TypeScript source (the "@gradmesh/source"
// condition), so the bundle never needs the other packages built first. Asset
// names carry a content hash: the coordinator serves them as immutable and the
// two HTML pages (which name the current hashes) as no-cache.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, 'dist');
const base = { logLevel: 'warning', absWorkingDir: root };

const common = {
  ...base,
  bundle: true,
  minify: true,
  sourcemap: 'linked',
  format: 'iife',
  platform: 'browser',
  target: ['es2022'],
  conditions: ['@gradmesh/source'],
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  outdir: out,
  metafile: true,
  legalComments: 'linked',
  // The pages must never reach for Node: a `node:` import is a build error, not a runtime surprise.
  plugins: [
    {
      name: 'no-node-builtins',
      setup(b) {
        b.onResolve({ filter: /^node:/ }, (args) => ({ errors: [{ text: `${args.path} imported from ${args.importer}: the web bundle must not use Node modules` }] }));
      },
    },
    {
      // zod's namespace export drags in every locale's messages (~260 kB of a
      // 520 kB worker); the protocol only ever reports in English.
      name: 'zod-english-only',
      setup(b) {
        const filter = /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/;
        b.onLoad({ filter }, (args) => ({ contents: 'export { default as en } from "./en.js";', loader: 'js', resolveDir: dirname(args.path) }));
      },
    },
  ],
};

/** Output file (relative to dist) of each entry point, from esbuild's metafile. */
function outputsOf(metafile) {
  const byEntry = {};
  for (const [file, o] of Object.entries(metafile.outputs)) {
    if (!o.entryPoint) continue;
    const name = basename(o.entryPoint).replace(/\.ts$/, '');
    byEntry[name] = { js: basename(file), css: o.cssBundle ? basename(o.cssBundle) : null };
  }
  return byEntry;
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

// The worker first: the join page needs its hashed name.
const worker = await build({ ...common, entryPoints: ['src/join-worker.ts'] });
const workerFile = outputsOf(worker.metafile)['join-worker'].js;

const pages = await build({
  ...common,
  entryPoints: ['src/dashboard.ts', 'src/join.ts'],
  define: { __JOIN_WORKER_URL__: JSON.stringify(`/${workerFile}`) },
});
const assets = { ...outputsOf(worker.metafile), ...outputsOf(pages.metafile) };

async function page(template, entry) {
  const html = await readFile(join(root, 'src', template), 'utf8');
  const a = assets[entry];
  const tags = `${a.css ? `<link rel="stylesheet" href="/${a.css}">\n    ` : ''}<script defer src="/${a.js}"></script>`;
  if (!html.includes('<!-- assets -->')) throw new Error(`${template} has no <!-- assets --> marker`);
  await writeFile(join(out, template), html.replace('<!-- assets -->', tags));
}
await page('index.html', 'dashboard');
await page('join.html', 'join');
await writeFile(join(out, 'manifest.json'), `${JSON.stringify(assets, null, 2)}\n`);

const sizes = Object.entries(pages.metafile.outputs)
  .concat(Object.entries(worker.metafile.outputs))
  .filter(([f]) => !f.endsWith('.map') && !f.endsWith('.LEGAL.txt'))
  .map(([f, o]) => `${basename(f)} ${(o.bytes / 1024).toFixed(1)} kB`);
process.stdout.write(`web: built ${sizes.join(', ')}\n`);
