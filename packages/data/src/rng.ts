/**
 * Seeded randomness for this package: core's Rng (xoshiro128**, deterministic
 * normals) plus `deriveSeed`, which turns a user seed and stream labels into
 * the 32-bit seed of an independent stream (train vs test, epoch e, …).
 */
import { Rng } from '@gradmesh/core';

export { permutation } from '@gradmesh/core';
export type { Rng } from '@gradmesh/core';

const TWO_32 = 4294967296;

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const u32Of = (w: number): number => ((w % TWO_32) + TWO_32) % TWO_32;

/**
 * One 32-bit seed from a user seed and stream labels, e.g.
 * `deriveSeed(seed, EPOCH_STREAM, epoch)`. Any safe integer is accepted
 * (negative too, all 53 bits count); distinct inputs give unrelated streams.
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const w of [seed, ...parts]) {
    if (!Number.isSafeInteger(w)) throw new RangeError(`seed must be a safe integer, got ${w}`);
    h = fmix32((h ^ fmix32(u32Of(w))) + 0x632be5ab);
    h = fmix32((h ^ fmix32(u32Of(Math.floor(w / TWO_32)) ^ 0x5bd1e995)) + 0x9e3779b9);
  }
  return h;
}

/** A generator for one derived stream. */
export function streamRng(seed: number, ...parts: number[]): Rng {
  return new Rng(deriveSeed(seed, ...parts));
}
