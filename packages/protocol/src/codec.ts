import { Packr } from 'msgpackr';
import type { z } from 'zod';
import { errorText, type ErrorCode } from './errors.js';
import { scanFrame } from './frame-scan.js';
import { MAX_DEPTH } from './limits.js';
import { clientMessageSchema, messageSchema, serverMessageSchema, type ClientMessage, type Message, type ServerMessage } from './messages.js';
import { bytesOf } from './typed-arrays.js';
import { PROTOCOL_VERSION } from './version.js';

/**
 * One msgpackr instance for both directions, configured for untrusted input:
 * - useRecords: false — no record structures; the peer cannot define how
 *   later bytes decode (the frame scan also refuses the record extension);
 * - structuredClone: false — no id/pointer references (shared or cyclic objects);
 * - mapsAsObjects: true — maps decode to plain objects; msgpackr renames a
 *   `__proto__` key to `__proto_`, so no decoded object gets a chosen
 *   prototype and Object.prototype is never written (tested);
 * - moreTypes/bundleStrings: false — nothing beyond plain MessagePack is written;
 * - int64AsType: 'number' — 64-bit ints decode to numbers; above 2^53 they
 *   are inexact and the schemas' safe-integer bounds refuse them.
 * msgpackr has no depth limit; the frame scan bounds it.
 */
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  moreTypes: false,
  bundleStrings: false,
  variableMapSize: true,
  int64AsType: 'number',
});

export type DecodeResult<T> = { ok: true; msg: T } | { ok: false; code: ErrorCode; message: string };

/**
 * One frame. Typed-array fields become bin holding their bytes (views, not
 * copies, until they are written into the frame: one memcpy each).
 * Undefined optional fields are left out (msgpackr would write an extension).
 * The input is trusted to match its type; decoding is where checking happens.
 * The result stays valid: msgpackr never writes over a frame it returned.
 *
 * `into`: a buffer to write the frame into when it is large enough (the
 * result is then a view of it). A sender that reuses one buffer for the
 * large message of every step (a 2.7 MB gradient or parameter broadcast of
 * 784-512-512-10) copies into warm memory instead of faulting in fresh
 * pages each time; the buffer must not be reused before the frame is
 * written out.
 */
export function encode(msg: Message, into?: Uint8Array): Uint8Array {
  const parts = frameParts(msg);
  if (parts.length === 1 && into === undefined) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = into !== undefined && into.byteLength >= n ? into.subarray(0, n) : new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/**
 * The frame as consecutive pieces: [head, payload, tail] where payload is a
 * view of the message's largest typed array, or one piece when nothing is
 * big enough to align.
 */
function frameParts(msg: Message): Uint8Array[] {
  const wire: Record<string, unknown> = {};
  let big: { key: string; bytes: Uint8Array } | undefined;
  for (const [key, value] of Object.entries(msg)) {
    if (value === undefined) continue;
    if (!ArrayBuffer.isView(value)) {
      wire[key] = value;
      continue;
    }
    const bytes = bytesOf(value);
    if (bytes.byteLength >= ALIGN_MIN_BYTES && (big === undefined || bytes.byteLength > big.bytes.byteLength)) {
      if (big) wire[big.key] = big.bytes;
      big = { key, bytes };
    } else {
      wire[key] = bytes;
    }
  }
  if (big === undefined) return [plain(packr.pack(wire))];
  return alignedParts(plain(packr.pack(wire)), big.key, big.bytes) ?? [plain(packr.pack({ ...wire, [big.key]: big.bytes }))];
}

// In Node msgpackr returns a Buffer; the API promises a plain Uint8Array.
const plain = (frame: Uint8Array): Uint8Array => new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);

/** Payloads at least this big are placed at an aligned offset in their frame. */
const ALIGN_MIN_BYTES = 4096;
/** The payload's offset in the frame is a multiple of this (every element type we send). */
const ALIGN = 8;
/** The padding entry's key; decoding drops it before validation. */
const PAD_KEY = '_';

/**
 * A frame whose largest typed array starts at a multiple of 8 bytes, so the
 * receiver's decode is a view into the frame, not a copy (a fresh 2.7 MB
 * buffer plus memcpy cost ~0.5–1 ms per gradient, on both ends of every
 * step). Still plain MessagePack: one map, led by a padding entry
 * `_: "<spaces>"` sized to align the payload that follows it, then the
 * payload as bin32, then the other fields as msgpackr wrote them. A receive
 * buffer starting at an aligned address keeps the alignment: ws hands over
 * a message longer than a socket read in a fresh buffer, and browsers give
 * an ArrayBuffer. Returned as [head, payload, tail]; undefined when `rest`
 * is not a small fixmap.
 */
function alignedParts(rest: Uint8Array, key: string, payload: Uint8Array): Uint8Array[] | undefined {
  const entries = rest[0]! - 0x80;
  if (!(entries >= 0 && entries + 2 <= 15) || key.length > 31 || !/^[\x20-\x7e]*$/.test(key)) return undefined;
  // map header, "_" key, pad fixstr header, key fixstr, bin32 header
  const fixed = 1 + 2 + 1 + (1 + key.length) + 5;
  const pad = (ALIGN - (fixed % ALIGN)) % ALIGN;
  const head = new Uint8Array(fixed + pad);
  let o = 0;
  head[o++] = 0x80 + entries + 2;
  head[o++] = 0xa1;
  head[o++] = PAD_KEY.charCodeAt(0);
  head[o++] = 0xa0 + pad;
  head.fill(0x20, o, o + pad);
  o += pad;
  head[o++] = 0xa0 + key.length;
  for (let i = 0; i < key.length; i++) head[o++] = key.charCodeAt(i);
  head[o++] = 0xc6;
  new DataView(head.buffer).setUint32(o, payload.byteLength);
  return [head, payload, rest.subarray(1)];
}

/**
 * A frame from the coordinator. Never throws. Typed arrays in the result are
 * views of `bytes` when aligned, so the caller must not reuse that buffer.
 */
export function decodeServerMessage(bytes: Uint8Array | ArrayBuffer): DecodeResult<ServerMessage> {
  return decodeWith(serverMessageSchema, bytes);
}

/**
 * A frame from a client. Never throws. A hello naming another protocol
 * version is PROTOCOL_MISMATCH even when the rest of it would not validate:
 * a newer client may well send fields this version does not know.
 */
export function decodeClientMessage(bytes: Uint8Array | ArrayBuffer): DecodeResult<ClientMessage> {
  return decodeWith(clientMessageSchema, bytes, (value) => {
    if (isObject(value) && value.type === 'hello' && value.protocol !== PROTOCOL_VERSION) {
      const theirs = typeof value.protocol === 'number' ? `version ${value.protocol}` : 'no version';
      return fail('PROTOCOL_MISMATCH', `client speaks ${theirs}, coordinator speaks version ${PROTOCOL_VERSION}`);
    }
    return undefined;
  });
}

/** Either direction: for tools and relays that see both. Never throws. */
export function decode(bytes: Uint8Array | ArrayBuffer): DecodeResult<Message> {
  return decodeWith(messageSchema, bytes);
}

/**
 * The plain value in a frame, before any schema: a fresh plain Uint8Array
 * view is handed to msgpackr (so bin comes back as Uint8Array, never Buffer,
 * and msgpackr's cached `dataView` property lands on our view, not the
 * caller's), after the frame scan has vetted it.
 */
export function unpackFrame(input: Uint8Array | ArrayBuffer): DecodeResult<unknown> {
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  // By tag, not instanceof: an ArrayBuffer from another realm (iframe, vm) is still one.
  else if (Object.prototype.toString.call(input) === '[object ArrayBuffer]') bytes = new Uint8Array(input);
  else return fail('BAD_FRAME', 'expected binary data');
  const problem = scanFrame(bytes, MAX_DEPTH);
  if (problem !== undefined) return fail('BAD_FRAME', problem);
  try {
    return { ok: true, msg: packr.unpack(bytes) as unknown };
  } catch (error) {
    return fail('BAD_FRAME', oneLine(error instanceof Error ? error.message : String(error)));
  }
}

function decodeWith<T>(
  schema: z.ZodType<T>,
  input: Uint8Array | ArrayBuffer,
  precheck?: (value: unknown) => DecodeResult<T> | undefined,
): DecodeResult<T> {
  const frame = unpackFrame(input);
  if (!frame.ok) return frame;
  // The alignment padding (see encode) is framing, not a field.
  if (isObject(frame.msg) && Object.hasOwn(frame.msg, PAD_KEY)) delete frame.msg[PAD_KEY];
  return precheck?.(frame.msg) ?? validate(schema, frame.msg);
}

function validate<T>(schema: z.ZodType<T>, value: unknown): DecodeResult<T> {
  try {
    const result = schema.safeParse(value);
    if (result.success) return { ok: true, msg: result.data };
    return fail('BAD_MESSAGE', describeIssue(result.error.issues[0], value));
  } catch (error) {
    // safeParse does not throw for data; this guards the promise that decode never does.
    return fail('BAD_MESSAGE', oneLine(error instanceof Error ? error.message : String(error)));
  }
}

/** "task.mbHi: is below mbLo": the message type, the field path, what is wrong. */
function describeIssue(issue: z.core.$ZodIssue | undefined, value: unknown): string {
  if (issue === undefined) return 'invalid';
  const type = isObject(value) ? value.type : undefined;
  let what: string;
  if (issue.code === 'invalid_union' && issue.path.length === 1 && issue.path[0] === 'type') {
    const expected = (issue as { options?: unknown[] }).options?.join(' | ') ?? 'a known type';
    const got = typeof type === 'string' ? `unknown message type '${clip(type, 32)}'` : 'missing or not a string';
    return clip(oneLine(`type: ${got} (expected ${expected})`), 300);
  }
  if (issue.code === 'unrecognized_keys') what = `unknown field ${issue.keys.map((k) => `'${clip(k, 32)}'`).join(', ')}`;
  else what = issue.message;
  const path = [typeof type === 'string' ? clip(type, 32) : 'message', ...issue.path.map(String)].join('.');
  return clip(oneLine(`${path}: ${what}`), 300);
}

function fail(code: ErrorCode, detail: string): { ok: false; code: ErrorCode; message: string } {
  return { ok: false, code, message: errorText(code, detail) };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
