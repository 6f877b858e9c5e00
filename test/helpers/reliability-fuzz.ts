import fc from 'fast-check';

/**
 * Hostile frames for the coordinator: a small MessagePack writer that can say
 * anything the format allows (and some things it does not), and fast-check
 * arbitraries built on it. msgpackr itself would refuse to write most of these
 * (keys that are not strings, `__proto__` as a key, raw truncations), which is
 * why the frames are written by hand.
 */

/** A MessagePack value as the writer sees it. Maps are entry lists so that `__proto__` stays a key. */
export type Mp =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Mp[]
  | { $map: Array<[Mp, Mp]> }
  | { $ext: number; data: Uint8Array }
  | { $f32: number }
  | { $f64: number }
  | { $u64: bigint }
  | { $i64: bigint }
  | { $raw: Uint8Array };

class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  be(n: number, size: 1 | 2 | 4): void {
    for (let i = size - 1; i >= 0; i--) this.byte(Math.floor(n / 2 ** (8 * i)) & 0xff);
  }

  view(size: number, fill: (dv: DataView) => void): void {
    const b = new Uint8Array(size);
    fill(new DataView(b.buffer));
    this.bytes(b);
  }

  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function write(w: Writer, v: Mp): void {
  if (v === null) return w.byte(0xc0);
  if (v === true) return w.byte(0xc3);
  if (v === false) return w.byte(0xc2);
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
      if (v >= 0 && v <= 0x7f) return w.byte(v);
      if (v < 0 && v >= -32) return w.byte(v & 0xff);
      if (v >= 0) {
        if (v <= 0xff) return (w.byte(0xcc), w.be(v, 1));
        if (v <= 0xffff) return (w.byte(0xcd), w.be(v, 2));
        if (v <= 0xffffffff) return (w.byte(0xce), w.be(v, 4));
        return (w.byte(0xcf), w.view(8, (d) => d.setBigUint64(0, BigInt(v))));
      }
      if (v >= -0x80) return (w.byte(0xd0), w.view(1, (d) => d.setInt8(0, v)));
      if (v >= -0x8000) return (w.byte(0xd1), w.view(2, (d) => d.setInt16(0, v)));
      if (v >= -0x80000000) return (w.byte(0xd2), w.view(4, (d) => d.setInt32(0, v)));
      return (w.byte(0xd3), w.view(8, (d) => d.setBigInt64(0, BigInt(v))));
    }
    return (w.byte(0xcb), w.view(8, (d) => d.setFloat64(0, v)));
  }
  if (typeof v === 'string') {
    const b = new TextEncoder().encode(v);
    if (b.length < 32) w.byte(0xa0 | b.length);
    else if (b.length <= 0xff) (w.byte(0xd9), w.be(b.length, 1));
    else if (b.length <= 0xffff) (w.byte(0xda), w.be(b.length, 2));
    else (w.byte(0xdb), w.be(b.length, 4));
    return w.bytes(b);
  }
  if (v instanceof Uint8Array) {
    if (v.length <= 0xff) (w.byte(0xc4), w.be(v.length, 1));
    else if (v.length <= 0xffff) (w.byte(0xc5), w.be(v.length, 2));
    else (w.byte(0xc6), w.be(v.length, 4));
    return w.bytes(v);
  }
  if (Array.isArray(v)) {
    if (v.length < 16) w.byte(0x90 | v.length);
    else if (v.length <= 0xffff) (w.byte(0xdc), w.be(v.length, 2));
    else (w.byte(0xdd), w.be(v.length, 4));
    for (const x of v) write(w, x);
    return;
  }
  if ('$map' in v) {
    const n = v.$map.length;
    if (n < 16) w.byte(0x80 | n);
    else if (n <= 0xffff) (w.byte(0xde), w.be(n, 2));
    else (w.byte(0xdf), w.be(n, 4));
    for (const [k, x] of v.$map) {
      write(w, k);
      write(w, x);
    }
    return;
  }
  if ('$ext' in v) {
    const n = v.data.length;
    const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
    if (fixed[n] !== undefined) w.byte(fixed[n]!);
    else if (n <= 0xff) (w.byte(0xc7), w.be(n, 1));
    else if (n <= 0xffff) (w.byte(0xc8), w.be(n, 2));
    else (w.byte(0xc9), w.be(n, 4));
    w.byte(v.$ext);
    return w.bytes(v.data);
  }
  if ('$f32' in v) return (w.byte(0xca), w.view(4, (d) => d.setFloat32(0, v.$f32)));
  if ('$f64' in v) return (w.byte(0xcb), w.view(8, (d) => d.setFloat64(0, v.$f64)));
  if ('$u64' in v) return (w.byte(0xcf), w.view(8, (d) => d.setBigUint64(0, BigInt.asUintN(64, v.$u64))));
  if ('$i64' in v) return (w.byte(0xd3), w.view(8, (d) => d.setBigInt64(0, BigInt.asIntN(64, v.$i64))));
  if ('$raw' in v) return w.bytes(v.$raw);
  throw new Error('unknown value');
}

export function pack(v: Mp): Uint8Array {
  const w = new Writer();
  write(w, v);
  return w.done();
}

export const map = (o: Record<string, Mp>, extra: Array<[Mp, Mp]> = []): { $map: Array<[Mp, Mp]> } => ({ $map: [...Object.entries(o), ...extra] });
const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

// ---- arbitraries -------------------------------------------------------------

/** Numbers a schema should choke on, and some it should not. */
const nastyNumber: fc.Arbitrary<Mp> = fc.oneof(
  fc.constantFrom<Mp>({ $f64: Number.NaN }, { $f64: Infinity }, { $f64: -Infinity }, { $f32: Number.NaN }, { $f32: Infinity }, { $f32: -Infinity }, { $f64: -0 }),
  fc.constantFrom<Mp>(-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 53, Number.MAX_SAFE_INTEGER, -(2 ** 53), 1e308, -1e308, 5e-324, 0.5, 1.5),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((b): Mp => ({ $u64: b })),
  fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }).map((b): Mp => ({ $i64: b })),
  fc.integer(),
  fc.double(),
);

/** Any MessagePack value, extensions included, a few levels deep. */
export const anyValue: fc.Arbitrary<Mp> = fc.letrec<{ v: Mp }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant<Mp>(null),
    fc.boolean(),
    nastyNumber,
    fc.string({ maxLength: 40 }),
    fc.constantFrom<Mp>('__proto__', 'constructor', 'prototype', 'hello', 'gradient', 'leave', 'error', 'toString', 'valueOf'),
    fc.uint8Array({ maxLength: 64 }),
    fc.record({ $ext: fc.integer({ min: -128, max: 127 }).map((t) => t & 0xff), data: fc.uint8Array({ maxLength: 20 }) }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom<Mp>('__proto__', 'constructor', 'type'), tie('v')), tie('v')), { maxLength: 4 }).map((e): Mp => ({ $map: e })),
  ),
})).v;

/** An object that, merged naively into a prototype, would pollute it: the coordinator is probed for `speed` later. */
export const POLLUTION_SPEED = 123456789;
const pollution: fc.Arbitrary<[Mp, Mp]> = fc.constantFrom<[Mp, Mp]>(
  ['__proto__', map({ speed: POLLUTION_SPEED, polluted: true, threads: 77 })],
  ['constructor', map({ prototype: map({ speed: POLLUTION_SPEED, polluted: true }) })],
  ['__proto__', { $map: [['__proto__', map({ speed: POLLUTION_SPEED })]] }],
  ['prototype', map({ speed: POLLUTION_SPEED })],
  ['__proto__', map({ type: 'hello', speed: POLLUTION_SPEED })],
);

const name = fc.oneof(fc.string({ minLength: 1, maxLength: 64 }), fc.string({ minLength: 65, maxLength: 300 }), fc.constant(''));

function helloFields(): fc.Arbitrary<Record<string, Mp>> {
  return fc.record({
    type: fc.constant<Mp>('hello'),
    protocol: fc.constant<Mp>(1),
    name: name as fc.Arbitrary<Mp>,
    kind: fc.constantFrom<Mp>('node', 'browser', 'gpu', ''),
    threads: fc.oneof(fc.integer({ min: 1, max: 1024 }), nastyNumber) as fc.Arbitrary<Mp>,
  });
}

/**
 * Gradients of every wrong shape: nodes/losses/grad of mismatched lengths,
 * byte lengths that are not element multiples, NaN and ±Infinity inside,
 * stale, future and absurd step and task numbers.
 */
function gradientFields(paramCount: number): fc.Arbitrary<Record<string, Mp>> {
  const floats = (n: number, poison: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.sin(i + 1) * 1e-3;
    if (n > 0 && poison > 0) a[(poison * 7919) % n] = [Number.NaN, Infinity, -Infinity][poison % 3]!;
    return bytesOf(a);
  };
  return fc
    .record({
      nodes: fc.integer({ min: 0, max: 4 }),
      gradPer: fc.oneof(fc.constant(paramCount), fc.integer({ min: 0, max: paramCount * 2 })),
      lossCount: fc.integer({ min: 0, max: 4 }),
      poison: fc.integer({ min: 0, max: 5 }),
      lossPoison: fc.boolean(),
      oddBytes: fc.integer({ min: 0, max: 3 }),
      step: fc.oneof(fc.integer({ min: 0, max: 400 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 40), nastyNumber as fc.Arbitrary<unknown>),
      taskId: fc.oneof(fc.integer({ min: 0, max: 5000 }), nastyNumber as fc.Arbitrary<unknown>),
      samples: fc.oneof(fc.integer({ min: 0, max: 64 }), nastyNumber as fc.Arbitrary<unknown>),
      computeMs: fc.oneof(fc.double({ min: 0, max: 1e4, noNaN: true }), nastyNumber as fc.Arbitrary<unknown>),
    })
    .map((g) => {
      const nodes = new Uint32Array(g.nodes * 2);
      for (let i = 0; i < nodes.length; i += 2) (nodes[i] = i), (nodes[i + 1] = i + 1);
      const losses = new Float64Array(g.lossCount).fill(1.25);
      if (g.lossPoison && losses.length) losses[0] = Number.NaN;
      let grad = floats(g.gradPer * Math.max(1, g.nodes), g.poison);
      if (g.oddBytes) grad = grad.slice(0, Math.max(0, grad.length - g.oddBytes));
      return {
        type: 'gradient',
        step: g.step as Mp,
        taskId: g.taskId as Mp,
        samples: g.samples as Mp,
        computeMs: g.computeMs as Mp,
        nodes: bytesOf(nodes),
        losses: bytesOf(losses),
        grad,
      } satisfies Record<string, Mp>;
    });
}

function otherFields(): fc.Arbitrary<Record<string, Mp>> {
  return fc.oneof(
    fc.record({ type: fc.constant<Mp>('error'), code: fc.constantFrom<Mp>('TASK_FAILED', 'BAD_FRAME', 'NOPE', 42), message: fc.string({ maxLength: 50 }), fatal: fc.oneof(fc.boolean(), fc.constant<Mp>('yes')) }),
    fc.record({ type: fc.constant<Mp>('leave'), reason: fc.oneof(fc.string({ maxLength: 30 }), nastyNumber) }),
    // Server-to-client messages sent the wrong way, and unknown types.
    fc.record({ type: fc.constantFrom<Mp>('welcome', 'params', 'task', 'done', 'bogus', '', 'HELLO'), version: nastyNumber, params: fc.uint8Array({ maxLength: 64 }) }),
  );
}

export interface Shaped {
  category: string;
  frame: Uint8Array | string;
}

/** A message-shaped map, then mutated: a field dropped, added, retyped, a pollution key, an extension value. */
function shaped(paramCount: number): fc.Arbitrary<Shaped> {
  return fc
    .record({
      base: fc.oneof(helloFields(), gradientFields(paramCount), gradientFields(paramCount), otherFields()),
      mutation: fc.constantFrom('none', 'drop', 'add', 'retype', 'pollute', 'pollute', 'ext', 'intkey'),
      pick: fc.nat(),
      value: anyValue,
      extra: pollution,
      ext: fc.record({ $ext: fc.constantFrom(0x72, 0x70, 0x73, 0x74, 0x78, 0xff, 0x00, 0x01, 0x65), data: fc.uint8Array({ maxLength: 16 }) }),
    })
    .map(({ base, mutation, pick, value, extra, ext }) => {
      const entries: Array<[Mp, Mp]> = Object.entries(base);
      const at = entries.length ? pick % entries.length : 0;
      switch (mutation) {
        case 'drop':
          entries.splice(at, 1);
          break;
        case 'add':
          entries.push([`field${pick % 7}`, value]);
          break;
        case 'retype':
          if (entries[at]) entries[at] = [entries[at]![0], value];
          break;
        case 'pollute':
          entries.splice(at, 0, extra);
          break;
        case 'ext':
          if (entries[at]) entries[at] = [entries[at]![0], ext];
          break;
        case 'intkey':
          entries.push([pick % 100, value]);
          break;
      }
      const type = base.type;
      return { category: `${typeof type === 'string' ? type : 'map'}:${mutation}`, frame: pack({ $map: entries }) };
    });
}

/** Nesting far past the frame scan's limit, as arrays, maps, or a mix. */
const deep: fc.Arbitrary<Shaped> = fc.record({ depth: fc.oneof(fc.integer({ min: 30, max: 40 }), fc.integer({ min: 100, max: 20_000 })), kind: fc.constantFrom(0x91, 0x81, 0xdc) }).map(({ depth, kind }) => {
  const parts: number[] = [];
  for (let i = 0; i < depth; i++) {
    if (kind === 0x81) parts.push(0x81, 0xa1, 0x61); // {"a": …
    else if (kind === 0xdc) parts.push(0xdc, 0x00, 0x01); // array16 of 1
    else parts.push(0x91);
  }
  parts.push(0xc0);
  return { category: 'deep', frame: new Uint8Array(parts) };
});

/** A well-formed message cut short, with junk after it, or with bytes flipped. */
function damaged(paramCount: number): fc.Arbitrary<Shaped> {
  return fc
    .record({ msg: fc.oneof(helloFields(), gradientFields(paramCount)), how: fc.constantFrom('truncate', 'trail', 'flip'), at: fc.nat(), junk: fc.uint8Array({ minLength: 1, maxLength: 8 }) })
    .map(({ msg, how, at, junk }) => {
      const full = pack(map(msg));
      if (how === 'truncate') return { category: 'truncated', frame: full.slice(0, at % full.length) };
      if (how === 'trail') {
        const f = new Uint8Array(full.length + junk.length);
        f.set(full);
        f.set(junk, full.length);
        return { category: 'trailing-bytes', frame: f };
      }
      const f = full.slice();
      for (let i = 0; i < junk.length; i++) f[(at + i * 131) % f.length] ^= junk[i]! | 1;
      return { category: 'flipped', frame: f };
    });
}

const extTop: fc.Arbitrary<Shaped> = fc
  .record({ $ext: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 300 }) })
  .map((e) => ({ category: 'extension', frame: pack(e) }));

const rawBytes: fc.Arbitrary<Shaped> = fc.uint8Array({ minLength: 0, maxLength: 512 }).map((b) => ({ category: 'random-bytes', frame: b }));

const text: fc.Arbitrary<Shaped> = fc.string({ maxLength: 100 }).map((s) => ({ category: 'text-frame', frame: s }));

/** The whole mix, weighted towards frames that get past the first checks. */
export function hostileFrames(paramCount: number): fc.Arbitrary<Shaped> {
  return fc.oneof(
    { arbitrary: shaped(paramCount), weight: 10 },
    { arbitrary: damaged(paramCount), weight: 4 },
    { arbitrary: rawBytes, weight: 3 },
    { arbitrary: deep, weight: 1 },
    { arbitrary: extTop, weight: 1 },
    { arbitrary: text, weight: 1 },
  );
}

/**
 * Frames just over the payload limit and a few times over it. (Far larger ones,
 * still being written when the coordinator gives up on them, are the limits
 * test's business: see the 16 MiB case there.)
 */
export function oversizeFrames(limit: number): Shaped[] {
  const big = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
  return [
    { category: 'oversize', frame: big(limit + 1, 0x00) },
    { category: 'oversize', frame: pack(map({ type: 'gradient', grad: big(limit, 0x41) })) },
    { category: 'oversize', frame: big(2 * limit, 0x91) },
  ];
}
