// `install` lifecycle script: build the addon with node-gyp, and never fail
// the install. Without the addon, loadNativeKernels() returns null with the
// reason and callers fall back to the WASM or JS kernels.
//
// Why not plain `node-gyp rebuild`: node-gyp looks for Node's headers in
// npm_config_nodedir, which npm sets from .npmrc but pnpm does not pass on,
// so under pnpm it tries to download them (and fails offline). Node's own
// installation ships them (<prefix>/include/node), so point node-gyp there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const give_up = (why) => {
  console.log(`gradmesh: native kernels unavailable (${why}); falling back to WASM/JS kernels`);
  process.exit(0);
};

if (process.env.GRADMESH_SKIP_NATIVE_BUILD) give_up('GRADMESH_SKIP_NATIVE_BUILD is set');

let gyp;
try {
  gyp = createRequire(join(pkgDir, 'package.json')).resolve('node-gyp/bin/node-gyp.js');
} catch {
  gyp = process.env.npm_config_node_gyp;
}
if (!gyp || !existsSync(gyp)) give_up('node-gyp is not installed');

const args = [gyp, 'rebuild'];
const prefix = join(dirname(process.execPath), '..');
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
const r = spawnSync(process.execPath, args, { cwd: pkgDir, stdio: 'inherit' });
if (r.status !== 0) give_up(r.error ? r.error.message : `node-gyp exited with ${r.status ?? r.signal}`);
