/**
 * The model file format (.gmsh), little-endian:
 *
 *   0   "GMSH"                magic
 *   4   u32 format version    (FORMAT_VERSION)
 *   8   u32 header length H   bytes of JSON
 *   12  JSON header           ASCII: non-ASCII characters are \u-escaped
 *       zero padding          to a multiple of 4, so the arrays are aligned
 *       f32[paramCount]       parameters
 *       f32[stateLength]      optimizer state, if any
 *   end−4  u32 CRC-32         of every byte before it
 *
 * Arrays are copied as bytes, never through a Number, so every float — -0,
 * subnormals, NaN payloads — comes back with the same bits.
 */
import { crc32 } from './crc32.js';
import { paramLayout } from './layout.js';
import { optimizerStateSize, validateOptimizerConfig, type OptimizerConfig } from './optimizer.js';
import { validateSpec, type ModelSpec } from './spec.js';

export const FORMAT_MAGIC = 'GMSH';
export const FORMAT_VERSION = 1;

export interface SavedOptimizer {
  config: OptimizerConfig;
  state: Float32Array;
  t: number;
}

export interface SavedModel {
  spec: ModelSpec;
  params: Float32Array;
  optimizer?: SavedOptimizer;
  meta?: Record<string, unknown>;
}

interface Header {
  spec: ModelSpec;
  paramCount: number;
  optimizer?: { config: OptimizerConfig; t: number; stateLength: number };
  meta?: Record<string, unknown>;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Copies a float32 array's bytes to dst[at…] in little-endian order. */
function putFloats(dst: Uint8Array, at: number, src: Float32Array): void {
  const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (LITTLE_ENDIAN) {
    dst.set(bytes, at);
    return;
  }
  for (let i = 0; i < bytes.length; i += 4) {
    dst[at + i] = bytes[i + 3];
    dst[at + i + 1] = bytes[i + 2];
    dst[at + i + 2] = bytes[i + 1];
    dst[at + i + 3] = bytes[i];
  }
}

/** count little-endian float32s from src[at…] into a fresh (aligned) Float32Array. */
function takeFloats(src: Uint8Array, at: number, count: number): Float32Array {
  const out = new Float32Array(count);
  const bytes = new Uint8Array(out.buffer);
  if (LITTLE_ENDIAN) {
    bytes.set(src.subarray(at, at + 4 * count));
  } else {
    for (let i = 0; i < 4 * count; i += 4) {
      bytes[i] = src[at + i + 3];
      bytes[i + 1] = src[at + i + 2];
      bytes[i + 2] = src[at + i + 1];
      bytes[i + 3] = src[at + i];
    }
  }
  return out;
}

/** JSON with every non-ASCII UTF-16 unit escaped, so one byte per char. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

export function encodeModel(model: SavedModel): Uint8Array {
  validateSpec(model.spec);
  const paramCount = paramLayout(model.spec).paramCount;
  if (model.params.length !== paramCount) {
    throw new RangeError(`params has ${model.params.length} entries, the spec needs ${paramCount}`);
  }
  const header: Header = { spec: model.spec, paramCount };
  const opt = model.optimizer;
  if (opt !== undefined) {
    validateOptimizerConfig(opt.config);
    const expected = optimizerStateSize(opt.config.kind, paramCount);
    if (opt.state.length !== expected) {
      throw new RangeError(`optimizer state has ${opt.state.length} entries, ${opt.config.kind} needs ${expected}`);
    }
    header.optimizer = { config: opt.config, t: opt.t, stateLength: opt.state.length };
  }
  if (model.meta !== undefined) header.meta = model.meta;
  const json = asciiJson(header);
  const arraysAt = align4(12 + json.length);
  const stateLength = opt?.state.length ?? 0;
  const total = arraysAt + 4 * (paramCount + stateLength) + 4;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = FORMAT_MAGIC.charCodeAt(i);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setUint32(8, json.length, true);
  for (let i = 0; i < json.length; i++) out[12 + i] = json.charCodeAt(i);
  putFloats(out, arraysAt, model.params);
  if (opt !== undefined) putFloats(out, arraysAt + 4 * paramCount, opt.state);
  view.setUint32(total - 4, crc32(out.subarray(0, total - 4)), true);
  return out;
}

function fail(reason: string): never {
  throw new Error(`not a readable gradmesh model: ${reason}`);
}

export function decodeModel(bytes: Uint8Array): SavedModel {
  if (bytes.length < 16) fail(`${bytes.length} bytes is shorter than the smallest file`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== FORMAT_MAGIC.charCodeAt(i)) fail('bad magic (expected "GMSH")');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION) fail(`format version ${version}, this build reads version ${FORMAT_VERSION}`);
  const stored = view.getUint32(bytes.length - 4, true);
  const actual = crc32(bytes.subarray(0, bytes.length - 4));
  if (stored !== actual) fail(`checksum mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)}): corrupted or truncated`);
  const jsonLength = view.getUint32(8, true);
  if (12 + jsonLength > bytes.length - 4) fail(`header length ${jsonLength} runs past the end`);
  let json = '';
  for (let i = 0; i < jsonLength; i++) {
    const b = bytes[12 + i];
    if (b > 0x7f) fail('header is not ASCII JSON');
    json += String.fromCharCode(b);
  }
  let header: Header;
  try {
    header = JSON.parse(json) as Header;
  } catch {
    fail('header is not valid JSON');
  }
  try {
    validateSpec(header.spec);
    if (header.optimizer !== undefined) validateOptimizerConfig(header.optimizer.config);
  } catch (e) {
    fail((e as Error).message);
  }
  const paramCount = paramLayout(header.spec).paramCount;
  if (header.paramCount !== paramCount) fail(`header says ${header.paramCount} parameters, the spec has ${paramCount}`);
  const opt = header.optimizer;
  const stateLength = opt === undefined ? 0 : optimizerStateSize(opt.config.kind, paramCount);
  if (opt !== undefined && (opt.stateLength !== stateLength || !(Number.isInteger(opt.t) && opt.t >= 0))) {
    fail('optimizer header is inconsistent');
  }
  const arraysAt = align4(12 + jsonLength);
  const expected = arraysAt + 4 * (paramCount + stateLength) + 4;
  if (bytes.length !== expected) fail(`${bytes.length} bytes, the header describes ${expected}`);
  const result: SavedModel = { spec: header.spec, params: takeFloats(bytes, arraysAt, paramCount) };
  if (opt !== undefined) {
    result.optimizer = { config: opt.config, t: opt.t, state: takeFloats(bytes, arraysAt + 4 * paramCount, stateLength) };
  }
  if (header.meta !== undefined) result.meta = header.meta;
  return result;
}
