/**
 * Lossy encodings of float32 vectors for the wire (`--compress`): IEEE half
 * precision, and int8 with one float32 scale per block of INT8_BLOCK values.
 *
 * Plain JS integer and double arithmetic only — no Float16Array (Node 20 has
 * none), no Math function whose result could differ between engines — so a
 * decode gives the same bits in Node and in every browser, and two peers that
 * decode the same bytes hold the same floats. Pure functions on arrays: what
 * the vectors mean (gradients, parameter deltas) is the caller's business.
 */

/** `none` sends float32 as it is; the others are lossy. */
export const COMPRESSIONS = ['none', 'fp16', 'int8'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Values per int8 scale. */
export const INT8_BLOCK = 256;
/** The largest finite half: 65504. */
const F16_MAX_BITS = 0x7bff;

/** An encoded vector, as it travels: 16-bit halves, or int8 codes with their blocks' scales. */
export type Quantized = { kind: 'fp16'; f16: Uint16Array } | { kind: 'int8'; i8: Int8Array; scale: Float32Array };

// ---- scalars ---------------------------------------------------------------

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** The half nearest to x (ties to even), as its 16 bits: subnormals, ±0, ±Inf on overflow, NaN stays NaN. */
export function f32ToF16(x: number): number {
  scratch[0] = x;
  return halfFromFloatBits(scratchBits[0]!);
}

/** The float32 value of a half's 16 bits: exact (every half is a float32). */
export function f16ToF32(h: number): number {
  scratchBits[0] = floatBitsFromHalf(h);
  return scratch[0]!;
}

/** float32 bits → half bits, round to nearest even. */
function halfFromFloatBits(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  // ±Inf, or NaN made quiet with the top of its payload kept.
  if (exp === 0xff) return sign | 0x7c00 | (mant === 0 ? 0 : 0x200 | (mant >>> 13));
  const e = exp - 112; // the half's biased exponent (bias 15 instead of 127)
  if (e >= 31) return sign | 0x7c00;
  // A normal half: drop 13 mantissa bits; a carry rounds into the exponent (up to Inf, as it should).
  if (e > 0) return sign | roundShift((e << 23) | mant, 13);
  // Below 2^-25 (float32 subnormals and zero included): ±0. Exactly 2^-25 is a tie, to even: also 0.
  if (e < -10) return sign;
  // A half subnormal counts units of 2^-24: the 24-bit significand shifted right by 14 - e.
  return sign | roundShift(mant | 0x800000, 14 - e);
}

/**
 * v >>> shift rounded to nearest, ties to even (v < 2^31, 1 ≤ shift ≤ 24):
 * adding half − 1, plus 1 when the kept part is odd, carries into the kept
 * part exactly when the dropped part is over half, or half with an odd result.
 */
function roundShift(v: number, shift: number): number {
  return (v + (1 << (shift - 1)) - 1 + ((v >>> shift) & 1)) >>> shift;
}

/** half bits → float32 bits (NaN payloads kept). */
function floatBitsFromHalf(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // A subnormal half is a normal float32: shift its leading 1 up to the implicit bit (bit 10).
  const shift = Math.clz32(mant) - 21;
  mant <<= shift;
  return (sign | ((113 - shift) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** 1.5 · 2^52: adding it leaves no bits below the units place. */
const ROUND_MAGIC = 6755399441055744;

/**
 * v rounded to an integer, half-way cases to the even one (Math.round would
 * round them up), for |v| < 2^51: adding 1.5 · 2^52 rounds to an integer by
 * IEEE double addition's own round-to-nearest-even, and subtracting it again
 * is exact. No branch, and the same result in every engine.
 */
export function roundHalfEven(v: number): number {
  return v + ROUND_MAGIC - ROUND_MAGIC;
}

// ---- vectors ---------------------------------------------------------------

/** Scales an int8 vector of `length` values needs. */
export function int8ScaleCount(length: number): number {
  return Math.ceil(length / INT8_BLOCK);
}

/** Room for `rows` vectors of `rowLength` values each (int8 blocks restart at every row). */
export function allocQuantized(kind: Exclude<Compression, 'none'>, rowLength: number, rows = 1): Quantized {
  if (kind === 'fp16') return { kind, f16: new Uint16Array(rows * rowLength) };
  return { kind, i8: new Int8Array(rows * rowLength), scale: new Float32Array(rows * int8ScaleCount(rowLength)) };
}

/** Rows lo..hi-1 of a Quantized holding rows of `rowLength` values: views, no copy. */
export function quantizedRows(q: Quantized, lo: number, hi: number, rowLength: number): Quantized {
  if (q.kind === 'fp16') return { kind: 'fp16', f16: q.f16.subarray(lo * rowLength, hi * rowLength) };
  const s = int8ScaleCount(rowLength);
  return { kind: 'int8', i8: q.i8.subarray(lo * rowLength, hi * rowLength), scale: q.scale.subarray(lo * s, hi * s) };
}

/** How many values q holds. */
export function quantizedLength(q: Quantized): number {
  return q.kind === 'fp16' ? q.f16.length : q.i8.length;
}

/** Encodes src into q (sized for it). */
export function quantize(src: Float32Array, q: Quantized): void {
  if (q.kind === 'fp16') encodeF16(src, q.f16);
  else encodeInt8(src, q.i8, q.scale);
}

/** Decodes q into dst (same length). */
export function dequantize(q: Quantized, dst: Float32Array): void {
  if (q.kind === 'fp16') decodeF16(q.f16, dst);
  else decodeInt8(q.i8, q.scale, dst);
}

/** dst += the decoded q, in float32; `scratch` (same length) is overwritten. Both ends of a delta call this, so they agree bit for bit. */
export function addDequantized(q: Quantized, dst: Float32Array, scratch: Float32Array): void {
  dequantize(q, scratch);
  for (let i = 0; i < dst.length; i++) dst[i] += scratch[i]!;
}

/**
 * Halves of src. A finite value beyond the half range saturates at ±65504
 * rather than becoming ±Inf, so a finite vector always encodes as a finite
 * one (an error-feedback caller carries the excess); ±Inf and NaN stay so.
 */
export function encodeF16(src: Float32Array, dst: Uint16Array): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    const e = ((b >>> 23) & 0xff) - 112;
    // The common cases inline: a normal half (a rounding carry runs into the exponent), a subnormal one.
    let h: number;
    if (e > 0 && e < 31) h = ((e << 23) + (b & 0x7fffff) + 0xfff + ((b >>> 13) & 1)) >>> 13;
    else if (e <= 0 && e >= -10) h = roundShift((b & 0x7fffff) | 0x800000, 14 - e);
    else h = halfFromFloatBits(b) & 0x7fff;
    const sign = (b >>> 16) & 0x8000;
    dst[i] = sign | (h === 0x7c00 && (b & 0x7f800000) !== 0x7f800000 ? F16_MAX_BITS : h);
  }
}

/** The float32 values of halves: exact. */
export function decodeF16(src: Uint16Array, dst: Float32Array): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i]!;
    const exp = h & 0x7c00;
    // The common case inline: a normal half, rebiased (+112 on the exponent) and widened.
    bits[i] = exp !== 0 && exp !== 0x7c00 ? (((h & 0x8000) << 16) | (((h & 0x7fff) + 0x1c000) << 13)) >>> 0 : floatBitsFromHalf(h);
  }
}

/**
 * int8 codes with one scale per block of INT8_BLOCK values: scale =
 * maxabs / 127 (as a float32), code = x / scale rounded half to even and
 * clamped to ±127, so |x − code·scale| ≤ scale / 2. A block holding NaN or
 * ±Inf gets scale NaN: it decodes to NaN, and a receiver that refuses
 * non-finite values refuses it. An all-zero block has scale 0.
 */
export function encodeInt8(src: Float32Array, q: Int8Array, scales: Float32Array): void {
  for (let b = 0; b < scales.length; b++) {
    const lo = b * INT8_BLOCK;
    const hi = Math.min(lo + INT8_BLOCK, src.length);
    const scale = blockScale(src, lo, hi);
    scales[b] = scale;
    const s = scales[b]!; // as stored: a float32
    if (s === 0 || s !== s) q.fill(0, lo, hi);
    else for (let i = lo; i < hi; i++) q[i] = clamp127(src[i]! / s + ROUND_MAGIC - ROUND_MAGIC); // roundHalfEven, inline
  }
}

/** maxabs / 127 over src[lo, hi), or NaN when a value is not finite. */
function blockScale(src: Float32Array, lo: number, hi: number): number {
  let max = 0;
  let nonFinite = 0; // x·0 is 0 for finite x, NaN otherwise
  for (let i = lo; i < hi; i++) {
    const x = src[i]!;
    const a = x < 0 ? -x : x;
    if (a > max) max = a;
    nonFinite += x * 0;
  }
  return nonFinite === 0 ? max / 127 : Number.NaN;
}

function clamp127(v: number): number {
  return v > 127 ? 127 : v < -127 ? -127 : v;
}

/** code · scale, rounded to float32. */
export function decodeInt8(q: Int8Array, scales: Float32Array, dst: Float32Array): void {
  for (let b = 0; b < scales.length; b++) {
    const s = scales[b]!;
    const lo = b * INT8_BLOCK;
    const hi = Math.min(lo + INT8_BLOCK, q.length);
    for (let i = lo; i < hi; i++) dst[i] = q[i]! * s;
  }
}
