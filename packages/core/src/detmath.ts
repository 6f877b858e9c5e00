/**
 * Deterministic elementary functions: the same bits in every JS engine.
 *
 * ECMA-262 lets Math.exp/log/tanh/cos be "implementation-approximated",
 * so V8, SpiderMonkey and JavaScriptCore may differ in the last bit, and a
 * gradient computed in a browser would then differ from the coordinator's.
 * Everything here uses only + − × ÷, √ and comparisons, which ECMA-262
 * defines as IEEE-754 round-to-nearest (and JS never contracts a*b+c into an
 * FMA), so results are identical everywhere. Accuracy is within a few ulps of
 * double.
 *
 * exp and log are fdlibm's algorithms (range reduction + minimax polynomial).
 * expm1/log1p use Kahan's correction tricks on top of them; sinPi/cosPi take
 * the argument in half-turns, which makes range reduction exact.
 */

// Bit access for log. Typed arrays use the platform's byte order, so find
// which 32-bit word holds the sign and exponent once.
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
f64[0] = 1;
const HI = u32[1] === 0x3ff00000 ? 1 : 0;
const LO = 1 - HI;

/** Exact powers of two 2^-1074 … 2^1023, built by doubling/halving (exact). */
const POW2_MIN = -1074;
const POW2 = new Float64Array(1023 - POW2_MIN + 1);
{
  POW2[-POW2_MIN] = 1;
  for (let k = 1; k <= 1023; k++) POW2[k - POW2_MIN] = POW2[k - 1 - POW2_MIN] * 2;
  for (let k = -1; k >= POW2_MIN; k--) POW2[k - POW2_MIN] = POW2[k + 1 - POW2_MIN] * 0.5;
}

/** 2^k for integer k in [-1074, 1023]. */
export function pow2(k: number): number {
  return POW2[k - POW2_MIN];
}

// fdlibm e_exp.c
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700e0;
const P1 = 1.66666666666666019037e-1;
const P2 = -2.77777777770155933842e-3;
const P3 = 6.61375632143793436117e-5;
const P4 = -1.65339022054652515390e-6;
const P5 = 4.13813679705723846039e-8;
const EXP_OVERFLOW = 7.09782712893383973096e2;
const EXP_UNDERFLOW = -7.45133219101941108420e2;

/** e^x, within 1 ulp. */
export function exp(x: number): number {
  if (!(x === x)) return x;
  if (x > EXP_OVERFLOW) return Infinity;
  if (x < EXP_UNDERFLOW) return 0;
  const ax = x < 0 ? -x : x;
  if (ax < 3.725290298461914e-9) return 1 + x; // |x| < 2^-28
  let hi: number;
  let lo: number;
  let k: number;
  if (ax > 0.5 * LN2_HI) {
    if (ax < 1.5 * LN2_HI) k = x < 0 ? -1 : 1;
    else k = Math.trunc(INV_LN2 * x + (x < 0 ? -0.5 : 0.5));
    hi = x - k * LN2_HI; // exact: k·LN2_HI has trailing zero bits
    lo = k * LN2_LO;
  } else {
    k = 0;
    hi = x;
    lo = 0;
  }
  const r = hi - lo;
  const t = r * r;
  const c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k === 0) return 1 - ((r * c) / (c - 2) - r);
  const y = 1 - ((lo - (r * c) / (2 - c)) - hi);
  // Scale in two exact-then-rounding steps so subnormal results round once.
  if (k >= -1021) return k === 1024 ? y * 2 * POW2[1023 - POW2_MIN] : y * POW2[k - POW2_MIN];
  return y * POW2[k + 1000 - POW2_MIN] * POW2[-1000 - POW2_MIN];
}

// fdlibm e_log.c
const TWO54 = 1.80143985094819840000e16;
const LG1 = 6.666666666666735130e-1;
const LG2 = 3.999999999940941908e-1;
const LG3 = 2.857142874366239149e-1;
const LG4 = 2.222219843214978396e-1;
const LG5 = 1.818357216161805012e-1;
const LG6 = 1.531383769920937332e-1;
const LG7 = 1.479819860511658591e-1;

/** Natural logarithm, within 1 ulp. log(0) = -Infinity, log(x<0) = NaN. */
export function log(x: number): number {
  if (!(x === x)) return x;
  if (x <= 0) return x === 0 ? -Infinity : NaN;
  if (x === Infinity) return x;
  let k = 0;
  let xs = x;
  if (x < 2.2250738585072014e-308) {
    // subnormal: scale into the normal range
    k -= 54;
    xs = x * TWO54;
  }
  f64[0] = xs;
  let hx = u32[HI] | 0;
  const ex = (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const i = (hx + 0x95f64) & 0x100000;
  // Normalise x or x/2 into [sqrt(2)/2, sqrt(2)): fdlibm writes the exponent
  // bits; multiplying by the exact power of two gives the same value faster.
  const shift = ex + (i >> 20);
  k += shift;
  const f = xs * POW2[-shift - POW2_MIN] - 1;
  const dk = k;
  if ((0x000fffff & (2 + hx)) < 3) {
    // |f| < 2^-20
    if (f === 0) return k === 0 ? 0 : dk * LN2_HI + dk * LN2_LO;
    const R = f * f * (0.5 - 0.33333333333333333 * f);
    return k === 0 ? f - R : dk * LN2_HI - ((R - dk * LN2_LO) - f);
  }
  const s = f / (2 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const R = t2 + t1;
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    const hfsq = 0.5 * f * f;
    if (k === 0) return f - (hfsq - s * (hfsq + R));
    return dk * LN2_HI - ((hfsq - (s * (hfsq + R) + dk * LN2_LO)) - f);
  }
  if (k === 0) return f - s * (f - R);
  return dk * LN2_HI - ((s * (f - R) - dk * LN2_LO) - f);
}

/** e^x − 1, accurate near 0 (Kahan: the rounding error of e^x cancels). */
export function expm1(x: number): number {
  if (!(x === x)) return x;
  if (x > EXP_OVERFLOW) return Infinity;
  if (x < -40) return -1; // e^-40 is below half an ulp of 1
  if (x > 36) return exp(x) - 1; // e^36 > 2^51: the −1 cannot cancel, and x·(u−1) could overflow
  const u = exp(x);
  if (u === 1) return x;
  const um1 = u - 1;
  if (um1 === -1) return -1;
  return (um1 * x) / log(u);
}

/** log(1 + x), accurate near 0 (Kahan/Goldberg: divide out 1+x's rounding). */
export function log1p(x: number): number {
  if (!(x === x)) return x;
  if (x === Infinity) return x;
  if (x > 9007199254740992) return log(x); // 1+x rounds to x beyond 2^53
  const u = 1 + x;
  if (u === 1) return x;
  return (log(u) * x) / (u - 1);
}

/** Logistic 1/(1+e^-x), without overflow for either sign. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + exp(-x));
  const e = exp(x);
  return e / (1 + e);
}

/** log(1 + e^x) = max(x,0) + log1p(e^-|x|): no overflow, no cancellation. */
export function softplus(x: number): number {
  const ax = x < 0 ? -x : x;
  return (x > 0 ? x : 0) + log1p(exp(-ax));
}

/** Hyperbolic tangent via expm1, so it keeps full relative accuracy near 0. */
export function tanh(x: number): number {
  if (!(x === x)) return x;
  const ax = x < 0 ? -x : x;
  if (ax > 22) return x < 0 ? -1 : 1; // tanh(22) rounds to 1
  if (ax < 3.725290298461914e-9) return x;
  const t = expm1(2 * ax);
  const r = t / (t + 2);
  return x < 0 ? -r : r;
}

/**
 * Square root: Math.sqrt itself. Unlike exp or log, ECMA-262 pins its every
 * bit — ES2025 §21.3.2.32 returns 𝔽(the square root of ℝ(n)), the correctly
 * rounded root, as it does for + − × ÷ — so it is the same in every
 * conformant engine (and it is WebAssembly's f64.sqrt, and the hardware's).
 * It replaced a Newton iteration written when the spec still called sqrt
 * "implementation-approximated": that one was correctly rounded "in all but
 * rare near-halfway cases", and 3× slower — Adam's update, one sqrt per
 * parameter, spent most of its time there (37.6 ms for 670k parameters).
 */
export function sqrt(x: number): number {
  return Math.sqrt(x);
}

// sin(πt) and cos(πt) Taylor coefficients, built from Math.PI by exact-order
// arithmetic at load time (same bits everywhere). |t| ≤ 1/4 keeps the first
// omitted term below 1e-19.
const SIN_C: number[] = [];
const COS_C: number[] = [];
{
  let term = Math.PI; // π^n / n!
  for (let n = 1; n <= 18; n++) {
    if (n > 1) term = (term * Math.PI) / n;
    const sign = ((n >> 1) & 1) === 0 ? 1 : -1;
    if (n % 2 === 1) SIN_C.push(sign * term);
    else COS_C.push(sign * term);
  }
}
const [S1, S3, S5, S7, S9, S11, S13, S15, S17] = SIN_C;
const [C2, C4, C6, C8, C10, C12, C14, C16, C18] = COS_C;

function sinPiKernel(t: number): number {
  const z = t * t;
  return t * (S1 + z * (S3 + z * (S5 + z * (S7 + z * (S9 + z * (S11 + z * (S13 + z * (S15 + z * S17))))))));
}

function cosPiKernel(t: number): number {
  const z = t * t;
  return 1 + z * (C2 + z * (C4 + z * (C6 + z * (C8 + z * (C10 + z * (C12 + z * (C14 + z * (C16 + z * C18))))))));
}

/** x reduced exactly into [-1, 1] modulo 2. */
function reduceHalfTurns(x: number): number {
  if (x >= -1 && x <= 1) return x;
  return x - 2 * Math.round(x * 0.5);
}

/** sin(π·x). Exact reduction: sinPi(1) is exactly 0, unlike sin(Math.PI). */
export function sinPi(x: number): number {
  if (!isFinite(x)) return NaN;
  const r = reduceHalfTurns(x);
  const a = r < 0 ? -r : r;
  let s: number;
  if (a <= 0.25) s = sinPiKernel(a);
  else if (a <= 0.75) s = cosPiKernel(0.5 - a);
  else s = sinPiKernel(1 - a);
  return r < 0 ? -s : s;
}

/** cos(π·x). */
export function cosPi(x: number): number {
  if (!isFinite(x)) return NaN;
  const r = reduceHalfTurns(x);
  const a = r < 0 ? -r : r;
  if (a <= 0.25) return cosPiKernel(a);
  if (a <= 0.75) return sinPiKernel(0.5 - a);
  return -cosPiKernel(1 - a);
}

/** base^n for a non-negative integer n by binary powering (fixed order). */
export function powInt(base: number, n: number): number {
  let result = 1;
  let b = base;
  let e = n;
  while (e > 0) {
    if (e & 1) result *= b;
    b *= b;
    e = Math.floor(e / 2);
  }
  return result;
}
