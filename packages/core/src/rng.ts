/**
 * Seeded randomness: xoshiro128** (Blackman & Vigna) with its state filled by
 * splitmix32. Only 32-bit integer ops (Math.imul, >>>) and exact double
 * arithmetic, so a seed gives the same bits in every engine; normals use the
 * deterministic log/sqrt/cos of detmath for the same reason.
 *
 * The seeding and `next()` construction match @gradmesh/data's interim copy,
 * so swapping that copy for this class changes no dataset.
 */
import { cosPi, log, sqrt } from './detmath.js';

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** A generator for a seed; only its low 32 bits matter. */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`Rng seed must be an integer, got ${seed}`);
    let z = seed >>> 0;
    const split = (): number => {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z ^ (z >>> 16);
      t = Math.imul(t, 0x21f0aaad);
      t ^= t >>> 15;
      t = Math.imul(t, 0x735a2d97);
      return (t ^ (t >>> 15)) >>> 0;
    };
    this.setWords(split(), split(), split(), split());
  }

  private setWords(a: number, b: number, c: number, d: number): void {
    this.s0 = a | 0;
    this.s1 = b | 0;
    this.s2 = c | 0;
    this.s3 = d | 0;
    // The all-zero state is xoshiro's one fixed point.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Uniform integer in [0, 2^32). */
  nextU32(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (27 + 26 from two draws). */
  next(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, bound), unbiased (rejection), 0 < bound ≤ 2^32. */
  below(bound: number): number {
    if (!(Number.isInteger(bound) && bound > 0 && bound <= 4294967296)) {
      throw new RangeError(`Rng.below bound must be an integer in [1, 2^32], got ${bound}`);
    }
    // Reject the top 2^32 mod bound values so every residue is equally likely.
    const threshold = (4294967296 - bound) % bound;
    for (;;) {
      const r = this.nextU32();
      if (r >= threshold) return r % bound;
    }
  }

  /** Standard normal by Box–Muller (one draw per call, no cached spare, so
   *  the state is just the four words). */
  normal(): number {
    const u = 1 - this.next(); // (0, 1]: log stays finite
    const v = this.next();
    return sqrt(-2 * log(u)) * cosPi(2 * v);
  }

  /** The four state words, for checkpoints. */
  state(): Uint32Array {
    return Uint32Array.of(this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0);
  }

  /** A generator continuing exactly where `state()` was taken. */
  static fromState(s: ArrayLike<number>): Rng {
    if (s.length !== 4) throw new RangeError(`Rng state must have 4 words, got ${s.length}`);
    for (let i = 0; i < 4; i++) {
      const w = s[i];
      if (!(Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
        throw new RangeError(`Rng state word ${i} must be a uint32, got ${w}`);
      }
    }
    if ((s[0] | s[1] | s[2] | s[3]) === 0) throw new RangeError('Rng state must not be all zero');
    const r = new Rng(0);
    r.setWords(s[0], s[1], s[2], s[3]);
    return r;
  }
}

/** Fisher–Yates shuffle, in place; returns `arr`. */
export function shuffleInPlace<A extends { length: number; [i: number]: unknown }>(arr: A, rng: Rng): A {
  for (let i = arr.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = arr[i];
    arr[i] = arr[j];
    arr[j] = t;
  }
  return arr;
}

/** A uniformly random permutation of 0 … n−1. */
export function permutation(n: number, rng: Rng): Uint32Array {
  if (!(Number.isInteger(n) && n >= 0 && n <= 4294967296)) {
    throw new RangeError(`permutation size must be an integer in [0, 2^32], got ${n}`);
  }
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, rng);
}
