/**
 * Typed arrays travel as MessagePack bin: their raw bytes. Every engine we
 * target (x86, ARM, browsers) is little-endian, so those bytes are the
 * little-endian encoding and neither side swaps; a big-endian host would
 * silently corrupt every payload, so it is refused at import time.
 */
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('@gradmesh/protocol requires a little-endian host');
}

export type NumericArray = Float32Array | Float64Array | Uint32Array | Uint16Array | Int8Array;

export interface NumericArrayType<T extends NumericArray> {
  readonly name: string;
  readonly BYTES_PER_ELEMENT: number;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
}

/** A view of the array's bytes: no copy. */
export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

/**
 * The typed array whose bytes these are. A view (zero-copy) when the bytes
 * sit at an offset aligned for the element type — typed array views require
 * it — else one memcpy into a fresh buffer. Never an element-by-element copy.
 * The caller has checked that byteLength is a multiple of the element size.
 */
export function viewAs<T extends NumericArray>(type: NumericArrayType<T>, bytes: Uint8Array): T {
  const size = type.BYTES_PER_ELEMENT;
  const length = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return new type(bytes.buffer, bytes.byteOffset, length);
  // Not bytes.slice(): on a Node Buffer that is a view, not a copy.
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new type(copy.buffer, 0, length);
}

/** True when no element is NaN or ±Infinity (the coordinator runs it on every gradient). */
export function isFiniteArray(array: Float32Array | Float64Array): boolean {
  return array instanceof Float32Array ? finite32(array) : finite64(array);
}

// x·0 is 0 for every finite x and NaN for NaN and ±Infinity, so the sum stays 0
// exactly when all are finite: no branch in the loop (about twice as fast as
// testing each element), and one monomorphic loop per array type.
function finite32(a: Float32Array): boolean {
  let acc = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) acc += a[i]! * 0;
  return acc === 0;
}

function finite64(a: Float64Array): boolean {
  let acc = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) acc += a[i]! * 0;
  return acc === 0;
}
