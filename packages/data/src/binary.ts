/**
 * GMDS: a compact binary dataset file. A browser downloads it once over HTTP;
 * Node caches MNIST as one (parsing the package's JSON costs ~1 s).
 *
 * Layout (version 1, all integers little-endian):
 *
 *   offset size
 *    0      4   magic "GMDS"
 *    4      2   u16 version = 1
 *    6      2   u16 header size = 48
 *    8      1   task        0 classification, 1 regression
 *    9      1   x encoding  0 float32; 1 uint8 codes into a 256-entry float32 palette
 *   10      1   y encoding  0 float32 rows; 1 uint8 class index; 2 uint16 class index
 *   11      1   reserved (0)
 *   12      4   u32 inputs
 *   16      4   u32 outputs
 *   20      4   u32 train n
 *   24      4   u32 test n
 *   28      4   u32 meta length (UTF-8 JSON {"name", "classes"?})
 *   32      4   u32 total file length
 *   36      4   u32 CRC-32 of the whole file except these 4 bytes
 *   40      8   reserved (0)
 *   48          meta, then [palette: 256 × f32 when x encoding is 1], train x,
 *               train y, test x, test y — each section padded to 4 bytes.
 *
 * The palette makes quantised features cheap *and* exact: MNIST's pixels are
 * k/255 rounded to 3 decimals (256 distinct values, not exactly k/255), so
 * they are stored as one byte each and decode to the very same float32s.
 * Encoding is deterministic: the same dataset gives the same bytes.
 */
import { type Dataset, type Split, type Task, validateDataset } from './dataset.js';
import { crc32 } from '@gradmesh/core';
import { DatasetError } from './errors.js';
import { decodeUtf8, encodeUtf8 } from './utf8.js';

export const GMDS_VERSION = 1;
const MAGIC = [0x47, 0x4d, 0x44, 0x53]; // "GMDS"
const HEADER = 48;
const CRC_AT = 36;
const PALETTE = 256;

const X_F32 = 0;
const X_PALETTE = 1;
const Y_F32 = 0;
const Y_U8 = 1;
const Y_U16 = 2;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const pad4 = (n: number): number => (n + 3) & ~3;

/** Float32 bit patterns in sorted order, or undefined if there are more than 256. */
function paletteOf(splits: Split[]): Uint32Array | undefined {
  const seen = new Set<number>();
  for (const s of splits) {
    const bits = new Uint32Array(s.x.buffer, s.x.byteOffset, s.x.length);
    for (let i = 0; i < bits.length; i++) {
      const b = bits[i];
      if (!seen.has(b)) {
        if (seen.size === PALETTE) return undefined;
        seen.add(b);
      }
    }
  }
  return Uint32Array.from(seen).sort();
}

/** Class index of each row if every row is exactly one-hot, else undefined. */
function labelsOf(s: Split, outputs: number): Uint32Array | undefined {
  const labels = new Uint32Array(s.n);
  for (let i = 0; i < s.n; i++) {
    let hot = -1;
    for (let j = 0; j < outputs; j++) {
      const v = s.y[i * outputs + j];
      if (v === 1 && hot < 0) hot = j;
      else if (v !== 0 || Object.is(v, -0)) return undefined;
    }
    if (hot < 0) return undefined;
    labels[i] = hot;
  }
  return labels;
}

export function encodeDatasetBinary(ds: Dataset): Uint8Array {
  validateDataset(ds);
  const splits = [ds.train, ds.test];
  const meta = encodeUtf8(JSON.stringify(ds.classes ? { name: ds.name, classes: ds.classes } : { name: ds.name }));
  const palette = paletteOf(splits);
  let yEnc = Y_F32;
  let labels: Uint32Array[] | undefined;
  if (ds.task === 'classification' && ds.outputs <= 65536) {
    const l = splits.map((s) => labelsOf(s, ds.outputs));
    if (l[0] && l[1]) {
      labels = l as Uint32Array[];
      yEnc = ds.outputs <= 256 ? Y_U8 : Y_U16;
    }
  }
  const xBytes = (n: number) => n * ds.inputs * (palette ? 1 : 4);
  const yBytes = (n: number) => (yEnc === Y_F32 ? n * ds.outputs * 4 : yEnc === Y_U8 ? n : 2 * n);
  let length = HEADER + pad4(meta.length) + (palette ? PALETTE * 4 : 0);
  for (const s of splits) length += pad4(xBytes(s.n)) + pad4(yBytes(s.n));
  if (length > 0xffffffff) {
    throw new DatasetError('BAD_ARGUMENT', `encodeDatasetBinary: "${ds.name}" needs ${length} bytes; GMDS v1 holds at most 4 GiB`);
  }

  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint16(4, GMDS_VERSION, true);
  view.setUint16(6, HEADER, true);
  out[8] = ds.task === 'classification' ? 0 : 1;
  out[9] = palette ? X_PALETTE : X_F32;
  out[10] = yEnc;
  view.setUint32(12, ds.inputs, true);
  view.setUint32(16, ds.outputs, true);
  view.setUint32(20, ds.train.n, true);
  view.setUint32(24, ds.test.n, true);
  view.setUint32(28, meta.length, true);
  view.setUint32(32, length, true);

  let at = HEADER;
  out.set(meta, at);
  at += pad4(meta.length);
  let codeOf: Map<number, number> | undefined;
  if (palette) {
    codeOf = new Map();
    for (let k = 0; k < palette.length; k++) {
      view.setUint32(at + 4 * k, palette[k], true);
      codeOf.set(palette[k], k);
    }
    at += PALETTE * 4;
  }
  splits.forEach((s, si) => {
    if (codeOf) {
      const bits = new Uint32Array(s.x.buffer, s.x.byteOffset, s.x.length);
      for (let i = 0; i < bits.length; i++) out[at + i] = codeOf.get(bits[i])!;
    } else {
      writeF32(view, at, s.x);
    }
    at += pad4(xBytes(s.n));
    if (labels) {
      const l = labels[si];
      for (let i = 0; i < l.length; i++) {
        if (yEnc === Y_U8) out[at + i] = l[i];
        else view.setUint16(at + 2 * i, l[i], true);
      }
    } else {
      writeF32(view, at, s.y);
    }
    at += pad4(yBytes(s.n));
  });
  view.setUint32(CRC_AT, fileCrc(out), true);
  return out;
}

function fileCrc(bytes: Uint8Array): number {
  return crc32(bytes.subarray(CRC_AT + 4), crc32(bytes.subarray(0, CRC_AT)));
}

function writeF32(view: DataView, at: number, values: Float32Array): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(view.buffer, at, values.length * 4).set(new Uint8Array(values.buffer, values.byteOffset, values.length * 4));
  } else {
    for (let i = 0; i < values.length; i++) view.setFloat32(at + 4 * i, values[i], true);
  }
}

function readF32(bytes: Uint8Array, at: number, count: number): Float32Array {
  const out = new Float32Array(count);
  if (LITTLE_ENDIAN) {
    // A byte copy: works whatever the alignment of `bytes` (Node Buffers often are not 4-aligned).
    new Uint8Array(out.buffer).set(bytes.subarray(at, at + count * 4));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(at + 4 * i, true);
  }
  return out;
}

function bad(message: string): never {
  throw new DatasetError('BAD_BINARY', `not a valid GMDS dataset: ${message}`);
}

/**
 * Decode a GMDS file. Checks magic, version, every length and the CRC before
 * building anything; the returned arrays are fresh copies, not views of `bytes`.
 */
export function decodeDatasetBinary(bytes: Uint8Array): Dataset {
  if (bytes.length < HEADER) bad(`${bytes.length} bytes is shorter than the ${HEADER}-byte header`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC[i]) bad('missing "GMDS" magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(4, true);
  if (version !== GMDS_VERSION) bad(`version ${version}, this reader understands version ${GMDS_VERSION}`);
  if (view.getUint16(6, true) !== HEADER) bad(`header size ${view.getUint16(6, true)}, expected ${HEADER}`);
  const length = view.getUint32(32, true);
  if (length !== bytes.length) bad(`header says ${length} bytes, got ${bytes.length} (truncated or padded?)`);
  const crc = view.getUint32(CRC_AT, true);
  if (fileCrc(bytes) !== crc) bad('CRC-32 mismatch (file is corrupt)');

  const taskCode = bytes[8];
  const xEnc = bytes[9];
  const yEnc = bytes[10];
  if (taskCode > 1) bad(`unknown task code ${taskCode}`);
  if (xEnc !== X_F32 && xEnc !== X_PALETTE) bad(`unknown x encoding ${xEnc}`);
  if (yEnc !== Y_F32 && yEnc !== Y_U8 && yEnc !== Y_U16) bad(`unknown y encoding ${yEnc}`);
  const task: Task = taskCode === 0 ? 'classification' : 'regression';
  const inputs = view.getUint32(12, true);
  const outputs = view.getUint32(16, true);
  const ns = [view.getUint32(20, true), view.getUint32(24, true)];
  const metaLength = view.getUint32(28, true);
  if (inputs === 0 || outputs === 0) bad('inputs and outputs must be positive');
  if (yEnc !== Y_F32 && task !== 'classification') bad('class-index labels in a regression dataset');
  if ((yEnc === Y_U8 && outputs > 256) || (yEnc === Y_U16 && outputs > 65536)) bad(`${outputs} classes do not fit the label encoding`);

  const xBytes = (n: number) => n * inputs * (xEnc === X_PALETTE ? 1 : 4);
  const yBytes = (n: number) => (yEnc === Y_F32 ? n * outputs * 4 : yEnc === Y_U8 ? n : 2 * n);
  let expected = HEADER + pad4(metaLength) + (xEnc === X_PALETTE ? PALETTE * 4 : 0);
  for (const n of ns) expected += pad4(xBytes(n)) + pad4(yBytes(n));
  if (expected !== length) bad(`sections need ${expected} bytes, file has ${length}`);

  let at = HEADER;
  let meta: { name?: unknown; classes?: unknown };
  try {
    meta = JSON.parse(decodeUtf8(bytes.subarray(at, at + metaLength))) as typeof meta;
  } catch {
    bad('metadata is not UTF-8 JSON');
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.name !== 'string') bad('metadata has no name');
  let classes: string[] | undefined;
  if (meta.classes !== undefined) {
    if (!Array.isArray(meta.classes) || !meta.classes.every((c) => typeof c === 'string')) bad('classes must be strings');
    classes = meta.classes as string[];
  }
  if (task === 'classification' && classes?.length !== outputs) bad(`classification needs ${outputs} class names`);
  at += pad4(metaLength);

  let palette: Float32Array | undefined;
  if (xEnc === X_PALETTE) {
    palette = readF32(bytes, at, PALETTE);
    at += PALETTE * 4;
  }
  const splits: Split[] = ns.map((n) => {
    let x: Float32Array;
    if (palette) {
      x = new Float32Array(n * inputs);
      // Copy bit patterns as integers: no float conversions in the 7.8M-pixel loop.
      const xBits = new Uint32Array(x.buffer);
      const pBits = new Uint32Array(palette.buffer);
      const codes = bytes.subarray(at, at + n * inputs);
      for (let i = 0; i < codes.length; i++) xBits[i] = pBits[codes[i]];
    } else {
      x = readF32(bytes, at, n * inputs);
    }
    at += pad4(xBytes(n));
    let y: Float32Array;
    if (yEnc === Y_F32) {
      y = readF32(bytes, at, n * outputs);
    } else {
      y = new Float32Array(n * outputs);
      for (let i = 0; i < n; i++) {
        const label = yEnc === Y_U8 ? bytes[at + i] : view.getUint16(at + 2 * i, true);
        if (label >= outputs) bad(`label ${label} is not below ${outputs} classes`);
        y[i * outputs + label] = 1;
      }
    }
    at += pad4(yBytes(n));
    return { n, x, y };
  });
  const ds: Dataset = { name: meta.name as string, inputs, outputs, task, train: splits[0], test: splits[1] };
  if (classes) ds.classes = classes;
  return ds;
}
