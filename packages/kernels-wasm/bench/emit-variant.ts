// Dev tool: writes the .wasm for a parameter set, e.g. to read what V8 makes of it:
//   node --import tsx bench/emit-variant.ts '{"mr":4}' /tmp/v.wasm
//   node --no-liftoff --print-wasm-code run-it.mjs /tmp/v.wasm
import { writeFileSync } from 'node:fs';
import { compileWasm } from '../scripts/build-wasm.js';
import { DEFAULT_PARAMS } from '../scripts/gen-wat.js';
const p = { ...DEFAULT_PARAMS, ...JSON.parse(process.argv[2] ?? '{}') };
writeFileSync(process.argv[3], (await compileWasm(p)).wasm);
