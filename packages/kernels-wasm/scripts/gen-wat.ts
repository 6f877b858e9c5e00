// Generates the WebAssembly text of the gemm kernels. The micro-kernel is an
// MR×NR register tile unrolled over rows and vectors (optionally k): repetitive
// code that is clearer as a few loops here than as 300 lines of hand-copied
// WAT. The output is plain SIMD128 (no relaxed-simd: no fused multiply-add),
// so every engine computes the same bits.
//
// Memory layout and pointers are bytes into the one linear memory; the JS side
// (src/wasm-kernels.ts) owns allocation and passes a scratch pointer.

export interface KernelParams {
  /** rows of the register tile */
  mr: number;
  /** f32x4 vectors across the tile (NR = 4·nv columns) */
  nv: number;
  /** k steps per unrolled loop iteration */
  unroll: number;
  /** largest k-block: a packed B panel is kc·NR floats and should stay in L1 */
  kc: number;
  /** largest m-block: the A rows of one block should stay in L2 */
  mc: number;
}

// Chosen with bench/tune.ts (Node 20 / V8 11.3 on Zen 3, CPU time, min of
// 15): V8 gives wasm 15 xmm registers on x64, and a 5×8 tile (10
// accumulators, 2 B vectors, a broadcast, a product temporary) is the largest
// that does not spill; it beat 4×8 and 3×12 by ~10 % on the training shapes.
// Unrolling k (unroll 2) made V8 11 hoist the second step's loads and spill
// (~25 % slower; Chromium 156's compiler does not, but gains nothing either).
// kc 512 (a 16 KiB B panel) beat 256 by ~3 % on the 784-512-512 shapes.
export const DEFAULT_PARAMS: KernelParams = { mr: 5, nv: 2, unroll: 1, kc: 512, mc: 128 };

/**
 * WAT transposing rows $r{4g}..$r{4g+3} (4 floats each at offset $po) into 4
 * k steps of the packed panel at $dp: columns 4g..4g+3 of rows p..p+3.
 */
function transpose4(g: number, NR: number, indent: string): string {
  // i8x16.shuffle lane lists for f32 lanes: a from the first operand (0-3), b+4 from the second
  const sh = (lanes: number[]) => lanes.flatMap((l) => [0, 1, 2, 3].map((b) => l * 4 + b)).join(' ');
  const row = (q: number) => `(v128.load (i32.add (local.get $r${4 * g + q}) (local.get $po)))`;
  const out = [
    `(local.set $t0 (i8x16.shuffle ${sh([0, 4, 1, 5])} ${row(0)} ${row(1)}))`,
    `(local.set $t1 (i8x16.shuffle ${sh([2, 6, 3, 7])} ${row(0)} ${row(1)}))`,
    `(local.set $t2 (i8x16.shuffle ${sh([0, 4, 1, 5])} ${row(2)} ${row(3)}))`,
    `(local.set $t3 (i8x16.shuffle ${sh([2, 6, 3, 7])} ${row(2)} ${row(3)}))`,
    `(v128.store offset=${16 * g} (local.get $dp) (i8x16.shuffle ${sh([0, 1, 4, 5])} (local.get $t0) (local.get $t2)))`,
    `(v128.store offset=${NR * 4 + 16 * g} (local.get $dp) (i8x16.shuffle ${sh([2, 3, 6, 7])} (local.get $t0) (local.get $t2)))`,
    `(v128.store offset=${2 * NR * 4 + 16 * g} (local.get $dp) (i8x16.shuffle ${sh([0, 1, 4, 5])} (local.get $t1) (local.get $t3)))`,
    `(v128.store offset=${3 * NR * 4 + 16 * g} (local.get $dp) (i8x16.shuffle ${sh([2, 3, 6, 7])} (local.get $t1) (local.get $t3)))`,
  ];
  return out.map((l) => indent + l).join('\n');
}

/** WAT moving `count` floats from $src to $dst (locals), as v128 + f32 moves. */
function copyFloats(count: number, dst: string, src: string, indent: string): string {
  const out: string[] = [];
  let o = 0;
  for (; o + 4 <= count; o += 4) out.push(`${indent}(v128.store offset=${o * 4} (local.get ${dst}) (v128.load offset=${o * 4} (local.get ${src})))`);
  for (; o < count; o++) out.push(`${indent}(f32.store offset=${o * 4} (local.get ${dst}) (f32.load offset=${o * 4} (local.get ${src})))`);
  return out.join('\n');
}

// The optional element-wise passes of core's Kernels contract. Each must give
// exactly the bits of core's JS reference (packages/core/src/kernels/
// elementwise.ts): relu is a select; the others promote to f64x2 (exact), do
// the reference's double + and × (IEEE, never fused) and demote once (IEEE
// round to nearest), summing a column over rows in row order. Fixed code, not
// generated from the tile parameters.
// f32 lanes 2, 3 → 0, 1 (for f64x2.promote_low_f32x4), and two demoted halves → one f32x4
const HIGH_HALF = 'i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15';
const JOIN_HALVES = 'i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23';
const ELEMENTWISE_WAT = `
  ;; x[i] ← x[i] < 0 ? 0 : x[i], i < n. f32x4.pmax(x, 0) is lane-wise
  ;; "x < 0 ? 0 : x": NaN and −0 pass through, as in the reference.
  (func (export "relu") (param $n i32) (param $x i32)
    (local $end i32) (local $end16 i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end16 (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -16)) (i32.const 2))))
    (block $d16 (loop $l16
      (br_if $d16 (i32.ge_u (local.get $x) (local.get $end16)))
      (v128.store offset=0 (local.get $x) (f32x4.pmax (v128.load offset=0 (local.get $x)) (v128.const i32x4 0 0 0 0)))
      (v128.store offset=16 (local.get $x) (f32x4.pmax (v128.load offset=16 (local.get $x)) (v128.const i32x4 0 0 0 0)))
      (v128.store offset=32 (local.get $x) (f32x4.pmax (v128.load offset=32 (local.get $x)) (v128.const i32x4 0 0 0 0)))
      (v128.store offset=48 (local.get $x) (f32x4.pmax (v128.load offset=48 (local.get $x)) (v128.const i32x4 0 0 0 0)))
      (local.set $x (i32.add (local.get $x) (i32.const 64)))
      (br $l16)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $x) (local.get $end)))
      (if (f32.lt (f32.load (local.get $x)) (f32.const 0)) (then (f32.store (local.get $x) (f32.const 0))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (br $l1)))
  )

  ;; y[i] ← y[i] + alpha·x[i] in double, rounded to float once, i < n
  (func (export "axpy") (param $n i32) (param $alpha f64) (param $x i32) (param $y i32)
    (local $end i32) (local $end4 i32) (local $a v128) (local $xv v128) (local $yv v128)
    (local.set $a (f64x2.splat (local.get $alpha)))
    (local.set $end (i32.add (local.get $y) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $end4 (i32.add (local.get $y) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $d4 (loop $l4
      (br_if $d4 (i32.ge_u (local.get $y) (local.get $end4)))
      (local.set $xv (v128.load (local.get $x)))
      (local.set $yv (v128.load (local.get $y)))
      (v128.store (local.get $y) (${JOIN_HALVES}
        (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (local.get $yv))
          (f64x2.mul (local.get $a) (f64x2.promote_low_f32x4 (local.get $xv)))))
        (f32x4.demote_f64x2_zero (f64x2.add (f64x2.promote_low_f32x4 (${HIGH_HALF} (local.get $yv) (local.get $yv)))
          (f64x2.mul (local.get $a) (f64x2.promote_low_f32x4 (${HIGH_HALF} (local.get $xv) (local.get $xv))))))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $y (i32.add (local.get $y) (i32.const 16)))
      (br $l4)))
    (block $d1 (loop $l1
      (br_if $d1 (i32.ge_u (local.get $y) (local.get $end)))
      (f32.store (local.get $y) (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (local.get $y)))
        (f64.mul (local.get $alpha) (f64.promote_f32 (f32.load (local.get $x)))))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (br $l1)))
  )

  ;; rows×cols: d ← a ≤ 0 ? +0 : d (f32x4.le is false for a NaN a: d passes),
  ;; acc[j] (f64, cols of them at $acc) ← Σ_r d[r][j] in row order from +0,
  ;; out[j] ← acc[j] rounded to float. Adding the +0 of a masked element is
  ;; the reference's skipped add: acc is never −0, and acc + 0 = acc.
  (func (export "reluBackwardColSums") (param $rows i32) (param $cols i32) (param $a i32) (param $d i32) (param $out i32) (param $acc i32)
    (local $r i32) (local $j i32) (local $cols4 i32) (local $p i32) (local $dv v128) (local $v f32)
    (memory.fill (local.get $acc) (i32.const 0) (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $cols4 (i32.and (local.get $cols) (i32.const -4)))
    (block $rd (loop $rl
      (br_if $rd (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $p (local.get $acc))
      (local.set $j (i32.const 0))
      (block $d4 (loop $l4
        (br_if $d4 (i32.ge_u (local.get $j) (local.get $cols4)))
        (local.set $dv (v128.andnot (v128.load (local.get $d)) (f32x4.le (v128.load (local.get $a)) (v128.const i32x4 0 0 0 0))))
        (v128.store (local.get $d) (local.get $dv))
        (v128.store offset=0 (local.get $p) (f64x2.add (v128.load offset=0 (local.get $p)) (f64x2.promote_low_f32x4 (local.get $dv))))
        (v128.store offset=16 (local.get $p) (f64x2.add (v128.load offset=16 (local.get $p))
          (f64x2.promote_low_f32x4 (${HIGH_HALF} (local.get $dv) (local.get $dv)))))
        (local.set $a (i32.add (local.get $a) (i32.const 16)))
        (local.set $d (i32.add (local.get $d) (i32.const 16)))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $l4)))
      (block $d1 (loop $l1
        (br_if $d1 (i32.ge_u (local.get $j) (local.get $cols)))
        (local.set $v (f32.load (local.get $d)))
        (if (f32.le (f32.load (local.get $a)) (f32.const 0)) (then
          (local.set $v (f32.const 0))
          (f32.store (local.get $d) (f32.const 0))))
        (f64.store (local.get $p) (f64.add (f64.load (local.get $p)) (f64.promote_f32 (local.get $v))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $d (i32.add (local.get $d) (i32.const 4)))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $l1)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rl)))
    (local.set $j (i32.const 0))
    (block $od (loop $ol
      (br_if $od (i32.ge_u (local.get $j) (local.get $cols)))
      (f32.store (local.get $out) (f32.demote_f64 (f64.load (local.get $acc))))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $ol)))
  )`;

export function generateWat(p: KernelParams = DEFAULT_PARAMS): string {
  const { mr: MR, nv: NV } = p;
  const int = (v: number, lo: number) => Number.isInteger(v) && v >= lo;
  if (!int(MR, 1) || !int(NV, 1) || !int(p.kc, 1) || !int(p.mc, 1) || !int(p.unroll, 1) || (p.unroll & (p.unroll - 1)) !== 0) {
    throw new RangeError(`generateWat: bad kernel params ${JSON.stringify(p)} (unroll must be a power of two)`);
  }
  const NR = 4 * NV;
  const rows = [...Array(MR).keys()];
  const vecs = [...Array(NV).keys()];
  const acc = (i: number, v: number) => `$c${i}_${v}`;
  const lines: string[] = [];
  const emit = (s: string) => lines.push(s);

  // ---------------------------------------------------------------- tile --
  // C tile (MR×NR at $pc, row stride $ldc bytes) = ($loadc ? C : 0) + A·B over
  // $kc steps, A and B packed panels (MR resp. NR floats per step). One
  // accumulator per C element, one multiply then one add per step in k
  // order: the summation order the contract fixes. Constant offsets on one
  // pointer per operand keep the loop at loads + arithmetic: V8 on x64 issues
  // ~6 instructions a cycle, and without FMA the adds and multiplies alone
  // are most of that.
  const kstep = (indent: string) => {
    const out: string[] = [];
    for (const v of vecs) out.push(`${indent}(local.set $b${v} (v128.load offset=${16 * v} (local.get $pb)))`);
    for (const i of rows) {
      out.push(`${indent}(local.set $av (v128.load32_splat offset=${4 * i} (local.get $pa)))`);
      for (const v of vecs) {
        out.push(`${indent}(local.set ${acc(i, v)} (f32x4.add (local.get ${acc(i, v)}) (f32x4.mul (local.get $av) (local.get $b${v}))))`);
      }
    }
    out.push(`${indent}(local.set $pa (i32.add (local.get $pa) (i32.const ${MR * 4})))`);
    out.push(`${indent}(local.set $pb (i32.add (local.get $pb) (i32.const ${NR * 4})))`);
    return out.join('\n');
  };
  emit(`  (func $tile (param $kc i32) (param $pa i32) (param $pb i32) (param $pc i32) (param $ldc i32) (param $loadc i32)`);
  emit(`    ${rows.flatMap((i) => vecs.map((v) => `(local ${acc(i, v)} v128)`)).join(' ')}`);
  emit(`    ${vecs.map((v) => `(local $b${v} v128)`).join(' ')} (local $av v128) (local $end i32) (local $last i32) (local $row i32)`);
  // $loadc: 0 = from +0, 1 = the chain starts from C, 2 = from +0 and C added once at the end
  // (a block plan's leaf fused with the addition that consumes it; the same float adds).
  emit(`    (if (i32.eq (local.get $loadc) (i32.const 1)) (then`);
  emit(`      (local.set $row (local.get $pc))`);
  for (const i of rows) {
    for (const v of vecs) emit(`      (local.set ${acc(i, v)} (v128.load offset=${16 * v} (local.get $row)))`);
    if (i < MR - 1) emit(`      (local.set $row (i32.add (local.get $row) (local.get $ldc)))`);
  }
  emit(`    ))`);
  emit(`    (local.set $last (i32.add (local.get $pb) (i32.mul (local.get $kc) (i32.const ${NR * 4}))))`);
  if (p.unroll > 1) {
    emit(`    (local.set $end (i32.add (local.get $pb) (i32.mul (i32.and (local.get $kc) (i32.const ${-p.unroll})) (i32.const ${NR * 4}))))`);
    emit(`    (if (i32.ne (local.get $pb) (local.get $end)) (then (loop $steps_u`);
    for (let u = 0; u < p.unroll; u++) emit(kstep('      '));
    emit(`      (br_if $steps_u (i32.ne (local.get $pb) (local.get $end))))))`);
  }
  emit(`    (if (i32.ne (local.get $pb) (local.get $last)) (then (loop $steps`);
  emit(kstep('      '));
  emit(`      (br_if $steps (i32.ne (local.get $pb) (local.get $last))))))`);
  emit(`    (if (i32.eq (local.get $loadc) (i32.const 2)) (then`);
  emit(`      (local.set $row (local.get $pc))`);
  for (const i of rows) {
    for (const v of vecs) emit(`      (local.set ${acc(i, v)} (f32x4.add (v128.load offset=${16 * v} (local.get $row)) (local.get ${acc(i, v)})))`);
    if (i < MR - 1) emit(`      (local.set $row (i32.add (local.get $row) (local.get $ldc)))`);
  }
  emit(`    ))`);
  emit(`    (local.set $row (local.get $pc))`);
  for (const i of rows) {
    for (const v of vecs) emit(`    (v128.store offset=${16 * v} (local.get $row) (local.get ${acc(i, v)}))`);
    if (i < MR - 1) emit(`    (local.set $row (i32.add (local.get $row) (local.get $ldc)))`);
  }
  emit(`  )`);

  // (dst, src, count): copy a few floats. memory.copy is a call into the
  // engine, ~20× slower than this for the ≤ NR floats of a tile row.
  emit(`  (func $copy_f32 (param $d i32) (param $s i32) (param $n i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (f32.store (local.get $d) (f32.load (local.get $s)))
      (local.set $d (i32.add (local.get $d) (i32.const 4)))
      (local.set $s (i32.add (local.get $s) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
  )`);

  // -------------------------------------------------------------- pack_a --
  // op(A) rows [i0, i0+mc) × [p0, p0+kc) → MR-tall panels at $dst (panel r
  // at dst + r·kc·4 bytes, element (i, p) at (p·MR + i)·4); rows past the
  // block are zero. A is m×k (ta = 0) or k×m (ta = 1).
  emit(`  (func $pack_a (param $ta i32) (param $m i32) (param $k i32) (param $A i32) (param $i0 i32) (param $mc i32) (param $p0 i32) (param $kc i32) (param $dst i32)
    (local $r0 i32) (local $rows i32) (local $src i32) (local $d i32) (local $p i32) (local $i i32) (local $ld i32)
    (block $rdone (loop $rloop
      (br_if $rdone (i32.ge_u (local.get $r0) (local.get $mc)))
      (local.set $rows (i32.sub (local.get $mc) (local.get $r0)))
      (if (i32.gt_u (local.get $rows) (i32.const ${MR})) (then (local.set $rows (i32.const ${MR}))))
      (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $r0) (local.get $kc)) (i32.const 2))))
      (if (i32.lt_u (local.get $rows) (i32.const ${MR}))
        (then (memory.fill (local.get $d) (i32.const 0) (i32.mul (local.get $kc) (i32.const ${MR * 4})))))
      (if (local.get $ta)
        (then
          ;; A is k×m: the MR values of one k step are contiguous
          (local.set $src (i32.add (local.get $A) (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $m)) (i32.add (local.get $i0) (local.get $r0))) (i32.const 2))))
          (local.set $ld (i32.shl (local.get $m) (i32.const 2)))
          (local.set $p (i32.const 0))
          (block $pd (loop $pl
            (br_if $pd (i32.ge_u (local.get $p) (local.get $kc)))
            ;; (memory.copy is a call into the engine: far too slow for 4-float moves)
            (if (i32.eq (local.get $rows) (i32.const ${MR}))
              (then
${copyFloats(MR, '$d', '$src', '                ')})
              (else
                (local.set $i (i32.const 0))
                (block $cd (loop $cl
                  (br_if $cd (i32.ge_u (local.get $i) (local.get $rows)))
                  (f32.store (i32.add (local.get $d) (i32.shl (local.get $i) (i32.const 2)))
                    (f32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $cl)))))
            (local.set $src (i32.add (local.get $src) (local.get $ld)))
            (local.set $d (i32.add (local.get $d) (i32.const ${MR * 4})))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $pl))))
        (else
          ;; A is m×k: MR row streams
          (local.set $i (i32.const 0))
          (block $id (loop $il
            (br_if $id (i32.ge_u (local.get $i) (local.get $rows)))
            (local.set $src (i32.add (local.get $A) (i32.shl (i32.add (i32.mul (i32.add (i32.add (local.get $i0) (local.get $r0)) (local.get $i)) (local.get $k)) (local.get $p0)) (i32.const 2))))
            (local.set $ld (i32.add (local.get $d) (i32.shl (local.get $i) (i32.const 2))))
            (local.set $p (i32.const 0))
            (block $pd2 (loop $pl2
              (br_if $pd2 (i32.ge_u (local.get $p) (local.get $kc)))
              (f32.store (local.get $ld) (f32.load (local.get $src)))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (local.set $ld (i32.add (local.get $ld) (i32.const ${MR * 4})))
              (local.set $p (i32.add (local.get $p) (i32.const 1)))
              (br $pl2)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $il)))))
      (local.set $r0 (i32.add (local.get $r0) (i32.const ${MR})))
      (br $rloop)))
  )`);

  // -------------------------------------------------------------- pack_b --
  // op(B) rows [p0, p0+kc) × all n columns → NR-wide panels at $dst (panel
  // j0/NR at dst + j0·kc·4 bytes, element (p, j) at (p·NR + j)·4); columns
  // past n are zero. B is k×n (tb = 0) or n×k (tb = 1).
  emit(`  (func $pack_b (param $tb i32) (param $n i32) (param $k i32) (param $B i32) (param $p0 i32) (param $kc i32) (param $dst i32)
    (local $j0 i32) (local $cols i32) (local $src i32) (local $d i32) (local $p i32) (local $j i32) (local $ld i32)
    (local $x i32) (local $po i32) (local $dp i32) ${[...Array(NR).keys()].map((j) => `(local $r${j} i32)`).join(' ')}
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (block $jdone (loop $jloop
      (br_if $jdone (i32.ge_u (local.get $j0) (local.get $n)))
      (local.set $cols (i32.sub (local.get $n) (local.get $j0)))
      (if (i32.gt_u (local.get $cols) (i32.const ${NR})) (then (local.set $cols (i32.const ${NR}))))
      (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $j0) (local.get $kc)) (i32.const 2))))
      (if (i32.eqz (local.get $tb))
        (then
          ;; B is k×n: each k step is NR contiguous floats
          (local.set $ld (i32.shl (local.get $n) (i32.const 2)))
          (local.set $src (i32.add (local.get $B) (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $n)) (local.get $j0)) (i32.const 2))))
          (local.set $p (i32.const 0))
          (if (i32.eq (local.get $cols) (i32.const ${NR}))
            (then
              (block $pd (loop $pl
                (br_if $pd (i32.ge_u (local.get $p) (local.get $kc)))
${vecs.map((v) => `                (v128.store offset=${16 * v} (local.get $d) (v128.load offset=${16 * v} (local.get $src)))`).join('\n')}
                (local.set $src (i32.add (local.get $src) (local.get $ld)))
                (local.set $d (i32.add (local.get $d) (i32.const ${NR * 4})))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $pl))))
            (else
              (block $pd2 (loop $pl2
                (br_if $pd2 (i32.ge_u (local.get $p) (local.get $kc)))
                (local.set $j (i32.const 0))
                (block $jd (loop $jl
                  (br_if $jd (i32.ge_u (local.get $j) (i32.const ${NR})))
                  (f32.store (i32.add (local.get $d) (i32.shl (local.get $j) (i32.const 2)))
                    (if (result f32) (i32.lt_u (local.get $j) (local.get $cols))
                      (then (f32.load (i32.add (local.get $src) (i32.shl (local.get $j) (i32.const 2)))))
                      (else (f32.const 0))))
                  (local.set $j (i32.add (local.get $j) (i32.const 1)))
                  (br $jl)))
                (local.set $src (i32.add (local.get $src) (local.get $ld)))
                (local.set $d (i32.add (local.get $d) (i32.const ${NR * 4})))
                (local.set $p (i32.add (local.get $p) (i32.const 1)))
                (br $pl2))))))
        (else
          ;; B is n×k: column j of op(B) is row j0+j of B, contiguous in k.
          (local.set $p (i32.const 0))
          (local.set $ld (i32.shl (local.get $k) (i32.const 2)))
          (local.set $src (i32.add (local.get $B) (i32.shl (i32.add (i32.mul (local.get $j0) (local.get $k)) (local.get $p0)) (i32.const 2))))
          (if (i32.eq (local.get $cols) (i32.const ${NR}))
            (then
              ;; full panel: 4 k steps at a time as ${NV} 4×4 transposes (a
              ;; scalar gather here cost more than the multiply in Chromium)
${[...Array(NR).keys()].map((j) => `              (local.set $r${j} (i32.add (local.get $src) (i32.mul (local.get $ld) (i32.const ${j}))))`).join('\n')}
              (local.set $po (i32.const 0))
              (local.set $dp (local.get $d))
              (block $td (loop $tl
                (br_if $td (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $kc)))
${vecs.map((g) => transpose4(g, NR, '                ')).join('\n')}
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (local.set $po (i32.add (local.get $po) (i32.const 16)))
                (local.set $dp (i32.add (local.get $dp) (i32.const ${4 * NR * 4})))
                (br $tl)))))
          ;; the k steps left (all of them for a partial panel), one float at a time
          (local.set $j (i32.const 0))
          (block $jd3 (loop $jl3
            (br_if $jd3 (i32.ge_u (local.get $j) (i32.const ${NR})))
            (local.set $x (local.get $p))
            (local.set $dp (i32.add (local.get $d) (i32.shl (i32.add (i32.mul (local.get $p) (i32.const ${NR})) (local.get $j)) (i32.const 2))))
            (if (i32.lt_u (local.get $j) (local.get $cols))
              (then
                (local.set $po (i32.add (local.get $src) (i32.add (i32.mul (local.get $ld) (local.get $j)) (i32.shl (local.get $p) (i32.const 2)))))
                (block $pd3 (loop $pl3
                  (br_if $pd3 (i32.ge_u (local.get $x) (local.get $kc)))
                  (f32.store (local.get $dp) (f32.load (local.get $po)))
                  (local.set $po (i32.add (local.get $po) (i32.const 4)))
                  (local.set $dp (i32.add (local.get $dp) (i32.const ${NR * 4})))
                  (local.set $x (i32.add (local.get $x) (i32.const 1)))
                  (br $pl3))))
              (else
                (block $pd4 (loop $pl4
                  (br_if $pd4 (i32.ge_u (local.get $x) (local.get $kc)))
                  (f32.store (local.get $dp) (f32.const 0))
                  (local.set $dp (i32.add (local.get $dp) (i32.const ${NR * 4})))
                  (local.set $x (i32.add (local.get $x) (i32.const 1)))
                  (br $pl4)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jl3)))))
      (local.set $j0 (i32.add (local.get $j0) (i32.const ${NR})))
      (br $jloop)))
  )`);

  // ---------------------------------------------------------------- gemm --
  // Scratch at $S: the packed B block (kc·npad floats), the packed A block
  // (kc·mc floats), then an MR×NR tile: edge tiles run on it and copy back
  // only what lies inside C.
  const tileArgs = (pc: string, ldc: string) =>
    `(local.get $kc) (i32.add (local.get $PA) (i32.shl (i32.mul (i32.sub (local.get $i0) (local.get $ib)) (local.get $kc)) (i32.const 2))) (local.get $panel) ${pc} ${ldc} (local.get $loadc)`;
  emit(`  (func (export "gemm") (param $ta i32) (param $tb i32) (param $m i32) (param $n i32) (param $k i32) (param $A i32) (param $B i32) (param $C i32) (param $acc i32) (param $S i32)
    (local $kcb i32) (local $mcb i32) (local $nb i32) (local $npad i32) (local $tmp i32) (local $p0 i32) (local $kc i32) (local $loadc i32)
    (local $ib i32) (local $mc i32) (local $j0 i32) (local $cols i32) (local $panel i32) (local $i0 i32) (local $iend i32) (local $rows i32)
    (local $pc i32) (local $y i32) (local $PA i32)
    (if (i32.or (i32.eqz (local.get $m)) (i32.eqz (local.get $n))) (then (return)))
    (if (i32.eqz (local.get $k)) (then
      (if (i32.eqz (local.get $acc)) (then (memory.fill (local.get $C) (i32.const 0) (i32.shl (i32.mul (local.get $m) (local.get $n)) (i32.const 2)))))
      (return)))
    ;; equal k-blocks ≤ KC, equal m-blocks ≤ MC rounded up to MR
    (local.set $nb (i32.div_u (i32.add (local.get $k) (i32.const ${p.kc - 1})) (i32.const ${p.kc})))
    (local.set $kcb (i32.div_u (i32.add (local.get $k) (i32.sub (local.get $nb) (i32.const 1))) (local.get $nb)))
    (local.set $nb (i32.div_u (i32.add (local.get $m) (i32.const ${p.mc - 1})) (i32.const ${p.mc})))
    (local.set $mcb (i32.div_u (i32.add (local.get $m) (i32.sub (local.get $nb) (i32.const 1))) (local.get $nb)))
    (local.set $mcb (i32.mul (i32.div_u (i32.add (local.get $mcb) (i32.const ${MR - 1})) (i32.const ${MR})) (i32.const ${MR})))
    (local.set $npad (i32.mul (i32.div_u (i32.add (local.get $n) (i32.const ${NR - 1})) (i32.const ${NR})) (i32.const ${NR})))
    (local.set $PA (i32.add (local.get $S) (i32.shl (i32.mul (local.get $kcb) (local.get $npad)) (i32.const 2))))
    (local.set $tmp (i32.add (local.get $PA) (i32.shl (i32.mul (local.get $kcb) (local.get $mcb)) (i32.const 2))))
    (block $pdone (loop $ploop
      (br_if $pdone (i32.ge_u (local.get $p0) (local.get $k)))
      (local.set $kc (i32.sub (local.get $k) (local.get $p0)))
      (if (i32.gt_u (local.get $kc) (local.get $kcb)) (then (local.set $kc (local.get $kcb))))
      (local.set $loadc (i32.or (local.get $acc) (i32.ne (local.get $p0) (i32.const 0))))
      (call $pack_b (local.get $tb) (local.get $n) (local.get $k) (local.get $B) (local.get $p0) (local.get $kc) (local.get $S))
      (local.set $ib (i32.const 0))
      (block $ibdone (loop $ibloop
        (br_if $ibdone (i32.ge_u (local.get $ib) (local.get $m)))
        (local.set $iend (i32.add (local.get $ib) (local.get $mcb)))
        (if (i32.gt_u (local.get $iend) (local.get $m)) (then (local.set $iend (local.get $m))))
        (call $pack_a (local.get $ta) (local.get $m) (local.get $k) (local.get $A) (local.get $ib) (i32.sub (local.get $iend) (local.get $ib)) (local.get $p0) (local.get $kc) (local.get $PA))
        (local.set $j0 (i32.const 0))
        (block $jdone (loop $jloop
          (br_if $jdone (i32.ge_u (local.get $j0) (local.get $n)))
          (local.set $cols (i32.sub (local.get $n) (local.get $j0)))
          (if (i32.gt_u (local.get $cols) (i32.const ${NR})) (then (local.set $cols (i32.const ${NR}))))
          (local.set $panel (i32.add (local.get $S) (i32.shl (i32.mul (local.get $j0) (local.get $kc)) (i32.const 2))))
          (local.set $i0 (local.get $ib))
          (block $idone (loop $iloop
            (br_if $idone (i32.ge_u (local.get $i0) (local.get $iend)))
            (local.set $rows (i32.sub (local.get $iend) (local.get $i0)))
            (if (i32.gt_u (local.get $rows) (i32.const ${MR})) (then (local.set $rows (i32.const ${MR}))))
            (local.set $pc (i32.add (local.get $C) (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 2))))
            (if (i32.and (i32.eq (local.get $rows) (i32.const ${MR})) (i32.eq (local.get $cols) (i32.const ${NR})))
              (then (call $tile ${tileArgs('(local.get $pc)', '(i32.shl (local.get $n) (i32.const 2))')}))
              (else
                ;; edge tile: C block → scratch tile, compute, copy back
                (if (local.get $loadc) (then
                  (local.set $y (i32.const 0))
                  (block $cy (loop $ly
                    (br_if $cy (i32.ge_u (local.get $y) (local.get $rows)))
                    (call $copy_f32
                      (i32.add (local.get $tmp) (i32.mul (local.get $y) (i32.const ${NR * 4})))
                      (i32.add (local.get $pc) (i32.shl (i32.mul (local.get $y) (local.get $n)) (i32.const 2)))
                      (local.get $cols))
                    (local.set $y (i32.add (local.get $y) (i32.const 1)))
                    (br $ly)))))
                (call $tile ${tileArgs('(local.get $tmp)', `(i32.const ${NR * 4})`)})
                (local.set $y (i32.const 0))
                (block $cy2 (loop $ly2
                  (br_if $cy2 (i32.ge_u (local.get $y) (local.get $rows)))
                  (call $copy_f32
                    (i32.add (local.get $pc) (i32.shl (i32.mul (local.get $y) (local.get $n)) (i32.const 2)))
                    (i32.add (local.get $tmp) (i32.mul (local.get $y) (i32.const ${NR * 4})))
                    (local.get $cols))
                  (local.set $y (i32.add (local.get $y) (i32.const 1)))
                  (br $ly2)))))
            (local.set $i0 (i32.add (local.get $i0) (i32.const ${MR})))
            (br $iloop)))
          (local.set $j0 (i32.add (local.get $j0) (i32.const ${NR})))
          (br $jloop)))
        (local.set $ib (local.get $iend))
        (br $ibloop)))
      (local.set $p0 (i32.add (local.get $p0) (local.get $kc)))
      (br $ploop)))
  )`);

  // Scratch bytes gemm needs at $S for an m×n×k call (JS sizes its region with it).
  // Scratch bytes gemm uses at $S for an m×n×k call (the same block sizes as
  // gemm), so the JS side reserves exactly that.
  emit(`  (func (export "scratchBytes") (param $m i32) (param $n i32) (param $k i32) (result i32)
    (local $nb i32) (local $kcb i32) (local $mcb i32)
    (if (i32.or (i32.eqz (local.get $k)) (i32.eqz (local.get $m))) (then (return (i32.const 0))))
    (local.set $nb (i32.div_u (i32.add (local.get $k) (i32.const ${p.kc - 1})) (i32.const ${p.kc})))
    (local.set $kcb (i32.div_u (i32.add (local.get $k) (i32.sub (local.get $nb) (i32.const 1))) (local.get $nb)))
    (local.set $nb (i32.div_u (i32.add (local.get $m) (i32.const ${p.mc - 1})) (i32.const ${p.mc})))
    (local.set $mcb (i32.div_u (i32.add (local.get $m) (i32.sub (local.get $nb) (i32.const 1))) (local.get $nb)))
    (local.set $mcb (i32.mul (i32.div_u (i32.add (local.get $mcb) (i32.const ${MR - 1})) (i32.const ${MR})) (i32.const ${MR})))
    (i32.shl
      (i32.add
        (i32.mul (local.get $kcb) (i32.add
          (i32.mul (i32.div_u (i32.add (local.get $n) (i32.const ${NR - 1})) (i32.const ${NR})) (i32.const ${NR}))
          (local.get $mcb)))
        (i32.const ${MR * NR}))
      (i32.const 2)))`);

  // -------------------------------------------------------- gemmTnBlocks --
  // Weight gradients of row blocks combined by a block plan (core's
  // kernels/blocks.ts), the plan run per MR×NR tile on tile-sized slots so no
  // block's m×n product is ever written out: op(A) = Aᵀ with A rows×m, B
  // rows×n, both packed once over all rows; a leaf is one $tile call over the
  // block's rows from 0 (the TN gemm's order and bits for that block alone: k
  // blocks there only store and reload the accumulators); an addition is
  // MR·NR f32 adds. $bounds: nblocks+1 i32 row offsets; $ops: nops i32
  // triples; $outs: nouts i32 byte pointers (m×n, row stride n); $outSlots:
  // nouts i32. Scratch at $S: blocksScratchBytes(m, n, rows, slots).
  const slotBytes = MR * NR * 4;
  emit(`  (func (export "gemmTnBlocks") (param $m i32) (param $n i32) (param $A i32) (param $B i32) (param $bounds i32) (param $nblocks i32)
    (param $ops i32) (param $nops i32) (param $outs i32) (param $outSlots i32) (param $nouts i32) (param $S i32)
    (local $rows i32) (local $nb i32) (local $mcb i32) (local $npad i32) (local $PA i32) (local $ST i32) (local $ib i32) (local $iend i32)
    (local $j0 i32) (local $cols i32) (local $panel i32) (local $i0 i32) (local $trows i32) (local $q i32) (local $op i32)
    (local $a i32) (local $b i32) (local $p0 i32) (local $d i32) (local $s i32) (local $o i32) (local $pc i32) (local $y i32)
    (if (i32.or (i32.eqz (local.get $m)) (i32.eqz (local.get $n))) (then (return)))
    (local.set $rows (i32.load (i32.add (local.get $bounds) (i32.shl (local.get $nblocks) (i32.const 2)))))
    (local.set $nb (i32.div_u (i32.add (local.get $m) (i32.const ${p.mc - 1})) (i32.const ${p.mc})))
    (local.set $mcb (i32.div_u (i32.add (local.get $m) (i32.sub (local.get $nb) (i32.const 1))) (local.get $nb)))
    (local.set $mcb (i32.mul (i32.div_u (i32.add (local.get $mcb) (i32.const ${MR - 1})) (i32.const ${MR})) (i32.const ${MR})))
    (local.set $npad (i32.mul (i32.div_u (i32.add (local.get $n) (i32.const ${NR - 1})) (i32.const ${NR})) (i32.const ${NR})))
    (local.set $PA (i32.add (local.get $S) (i32.shl (i32.mul (local.get $rows) (local.get $npad)) (i32.const 2))))
    (local.set $ST (i32.add (local.get $PA) (i32.shl (i32.mul (local.get $rows) (local.get $mcb)) (i32.const 2))))
    (call $pack_b (i32.const 0) (local.get $n) (local.get $rows) (local.get $B) (i32.const 0) (local.get $rows) (local.get $S))
    (block $ibdone (loop $ibloop
      (br_if $ibdone (i32.ge_u (local.get $ib) (local.get $m)))
      (local.set $iend (i32.add (local.get $ib) (local.get $mcb)))
      (if (i32.gt_u (local.get $iend) (local.get $m)) (then (local.set $iend (local.get $m))))
      (call $pack_a (i32.const 1) (local.get $m) (local.get $rows) (local.get $A) (local.get $ib) (i32.sub (local.get $iend) (local.get $ib)) (i32.const 0) (local.get $rows) (local.get $PA))
      (local.set $j0 (i32.const 0))
      (block $jdone (loop $jloop
        (br_if $jdone (i32.ge_u (local.get $j0) (local.get $n)))
        (local.set $cols (i32.sub (local.get $n) (local.get $j0)))
        (if (i32.gt_u (local.get $cols) (i32.const ${NR})) (then (local.set $cols (i32.const ${NR}))))
        (local.set $panel (i32.add (local.get $S) (i32.shl (i32.mul (local.get $j0) (local.get $rows)) (i32.const 2))))
        (local.set $i0 (local.get $ib))
        (block $idone (loop $iloop
          (br_if $idone (i32.ge_u (local.get $i0) (local.get $iend)))
          (local.set $trows (i32.sub (local.get $iend) (local.get $i0)))
          (if (i32.gt_u (local.get $trows) (i32.const ${MR})) (then (local.set $trows (i32.const ${MR}))))
          ;; the plan, on this tile
          (local.set $q (i32.const 0))
          (block $qdone (loop $qloop
            (br_if $qdone (i32.ge_u (local.get $q) (local.get $nops)))
            (local.set $op (i32.add (local.get $ops) (i32.mul (local.get $q) (i32.const 12))))
            (local.set $a (i32.load offset=4 (local.get $op)))
            (local.set $b (i32.load offset=8 (local.get $op)))
            ;; ops: 0 leaf, 2 leaf added into its slot (fused by the JS side), 1 addition
            (if (i32.ne (i32.load (local.get $op)) (i32.const 1))
              (then
                (local.set $p0 (i32.load (i32.add (local.get $bounds) (i32.shl (local.get $a) (i32.const 2)))))
                (call $tile
                  (i32.sub (i32.load offset=4 (i32.add (local.get $bounds) (i32.shl (local.get $a) (i32.const 2)))) (local.get $p0))
                  (i32.add (local.get $PA) (i32.shl (i32.add (i32.mul (i32.sub (local.get $i0) (local.get $ib)) (local.get $rows)) (i32.mul (local.get $p0) (i32.const ${MR}))) (i32.const 2)))
                  (i32.add (local.get $panel) (i32.mul (local.get $p0) (i32.const ${NR * 4})))
                  (i32.add (local.get $ST) (i32.mul (local.get $b) (i32.const ${slotBytes})))
                  (i32.const ${NR * 4})
                  (i32.load (local.get $op))))
              (else
                (local.set $d (i32.add (local.get $ST) (i32.mul (local.get $a) (i32.const ${slotBytes}))))
                (local.set $s (i32.add (local.get $ST) (i32.mul (local.get $b) (i32.const ${slotBytes}))))
${[...Array(MR * NV).keys()].map((v) => `                (v128.store offset=${16 * v} (local.get $d) (f32x4.add (v128.load offset=${16 * v} (local.get $d)) (v128.load offset=${16 * v} (local.get $s))))`).join('\n')}))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $qloop)))
          ;; the outputs' part of this tile
          (local.set $o (i32.const 0))
          (block $odone (loop $oloop
            (br_if $odone (i32.ge_u (local.get $o) (local.get $nouts)))
            (local.set $s (i32.add (local.get $ST) (i32.mul (i32.load (i32.add (local.get $outSlots) (i32.shl (local.get $o) (i32.const 2)))) (i32.const ${slotBytes}))))
            (local.set $pc (i32.add (i32.load (i32.add (local.get $outs) (i32.shl (local.get $o) (i32.const 2))))
              (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $n)) (local.get $j0)) (i32.const 2))))
            (local.set $y (i32.const 0))
            (block $ydone (loop $yloop
              (br_if $ydone (i32.ge_u (local.get $y) (local.get $trows)))
              (call $copy_f32
                (i32.add (local.get $pc) (i32.shl (i32.mul (local.get $y) (local.get $n)) (i32.const 2)))
                (i32.add (local.get $s) (i32.mul (local.get $y) (i32.const ${NR * 4})))
                (local.get $cols))
              (local.set $y (i32.add (local.get $y) (i32.const 1)))
              (br $yloop)))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $oloop)))
          (local.set $i0 (i32.add (local.get $i0) (i32.const ${MR})))
          (br $iloop)))
        (local.set $j0 (i32.add (local.get $j0) (i32.const ${NR})))
        (br $jloop)))
      (local.set $ib (local.get $iend))
      (br $ibloop)))
  )`);

  // Scratch bytes gemmTnBlocks uses at $S: packed B (rows·npad), packed A block (rows·mcb), slot tiles.
  emit(`  (func (export "blocksScratchBytes") (param $m i32) (param $n i32) (param $rows i32) (param $slots i32) (result i32)
    (local $nb i32) (local $mcb i32)
    (local.set $nb (i32.div_u (i32.add (local.get $m) (i32.const ${p.mc - 1})) (i32.const ${p.mc})))
    (if (i32.eqz (local.get $nb)) (then (local.set $nb (i32.const 1))))
    (local.set $mcb (i32.div_u (i32.add (local.get $m) (i32.sub (local.get $nb) (i32.const 1))) (local.get $nb)))
    (local.set $mcb (i32.mul (i32.div_u (i32.add (local.get $mcb) (i32.const ${MR - 1})) (i32.const ${MR})) (i32.const ${MR})))
    (i32.add
      (i32.shl (i32.mul (local.get $rows) (i32.add (local.get $mcb)
        (i32.mul (i32.div_u (i32.add (local.get $n) (i32.const ${NR - 1})) (i32.const ${NR})) (i32.const ${NR})))) (i32.const 2))
      (i32.mul (local.get $slots) (i32.const ${slotBytes}))))`);

  emit(ELEMENTWISE_WAT);

  return `;; GENERATED by scripts/gen-wat.ts (${JSON.stringify(p)}) — edit the generator, not this file.
(module
  (import "env" "memory" (memory 1))
${lines.join('\n')}
)
`;
}
