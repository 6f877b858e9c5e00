/** Test helper: distance in units in the last place between two doubles. */
const f = new Float64Array(1);
const b = new BigInt64Array(f.buffer);

function ordered(x: number): bigint {
  f[0] = x;
  const v = b[0];
  return v < 0n ? -0x8000000000000000n - v : v;
}

export function ulpDistance(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y) ? 0 : Infinity;
  if (x === y) return 0;
  const d = ordered(x) - ordered(y);
  return Number(d < 0n ? -d : d);
}
