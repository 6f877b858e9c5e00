// Shared declarations between the N-API glue (addon.cc, compiled for the
// baseline ISA) and the per-ISA kernel translation units.
//
// Every ISA file compiles the same driver (driver.inc) inside its own
// anonymous namespace: nothing an ISA file defines has external linkage except
// its one entry point, so the linker can never pick an AVX-512 copy of an
// inline function for code that runs on a CPU without AVX-512 (the classic
// "ODR + -mavx512f" SIGILL).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// Index type: 64-bit wherever pointers are (long is 32-bit on Windows).
typedef ptrdiff_t gm_i;

struct GmGemmArgs {
  bool transA;
  bool transB;
  gm_i m, n, k;
  const float* A;
  const float* B;
  float* C;
  bool accumulate;
};

// 0 on success, non-zero when scratch memory could not be allocated.
typedef int (*GmGemmFn)(const GmGemmArgs* args);

// Weight gradients of row blocks combined by a block plan (core's
// kernels/blocks.ts): block b is rows [bounds[b], bounds[b+1]) of A (rows×m)
// and B (rows×n); ops are triples {0, block, slot} (slot ← Aᵦᵀ·Bᵦ from +0) and
// {1, dst, src} (dst ← dst + src); outs[o] (m×n, row stride n) ← slot
// out_slots[o]. Arguments are validated by the caller (addon.cc).
struct GmTnBlocksArgs {
  gm_i m, n;
  const float* A;
  const float* B;
  const int32_t* bounds;
  gm_i blocks;
  const int32_t* ops;
  gm_i nops;
  gm_i slots;
  float* const* outs;
  const int32_t* out_slots;
  gm_i nouts;
};
typedef int (*GmTnBlocksFn)(const GmTnBlocksArgs* args);

// Per-thread 64-byte-aligned scratch, grown on demand and kept for the
// thread's lifetime (slot 0: packed A, slot 1: packed B panel, 2: column-sum
// accumulators, 3: block-plan tiles). Defined in
// addon.cc so it is compiled for the baseline ISA.
float* gm_scratch(int slot, size_t floats);

int gm_gemm_generic(const GmGemmArgs* args);
int gm_tn_blocks_generic(const GmTnBlocksArgs* args);
#if defined(__x86_64__) || defined(_M_X64)
int gm_gemm_avx2(const GmGemmArgs* args);
int gm_gemm_avx512(const GmGemmArgs* args);
int gm_tn_blocks_avx2(const GmTnBlocksArgs* args);
int gm_tn_blocks_avx512(const GmTnBlocksArgs* args);
#endif

// The optional element-wise passes (elementwise.inc), per ISA file. Their bits
// do not depend on the ISA, so the AVX-512 kernel set uses the AVX2 ones.
// No operand overlaps another; acc is scratch for cols doubles.
struct GmElementwise {
  void (*relu)(gm_i n, float* x);
  void (*relu_bwd_colsums)(gm_i rows, gm_i cols, const float* a, float* d, float* out, double* acc);
  void (*axpy)(gm_i n, double alpha, const float* x, float* y);
  bool (*all_finite)(gm_i n, const float* x);
  void (*momentum)(gm_i n, double mu, double scale, double lr, const float* g, float* v, float* p);
  void (*adam)(gm_i n, const double* c, const float* g, float* m1, float* m2, float* p);
};
void gm_relu_generic(gm_i n, float* x);
void gm_relu_bwd_colsums_generic(gm_i rows, gm_i cols, const float* a, float* d, float* out, double* acc);
void gm_axpy_generic(gm_i n, double alpha, const float* x, float* y);
bool gm_all_finite_generic(gm_i n, const float* x);
void gm_momentum_generic(gm_i n, double mu, double scale, double lr, const float* g, float* v, float* p);
void gm_adam_generic(gm_i n, const double* c, const float* g, float* m1, float* m2, float* p);
#if defined(__x86_64__) || defined(_M_X64)
void gm_relu_avx2(gm_i n, float* x);
void gm_relu_bwd_colsums_avx2(gm_i rows, gm_i cols, const float* a, float* d, float* out, double* acc);
void gm_axpy_avx2(gm_i n, double alpha, const float* x, float* y);
bool gm_all_finite_avx2(gm_i n, const float* x);
void gm_momentum_avx2(gm_i n, double mu, double scale, double lr, const float* g, float* v, float* p);
void gm_adam_avx2(gm_i n, const double* c, const float* g, float* m1, float* m2, float* p);
#endif

// Micro-kernel modes: C tile ← A·B (from +0), ← C + A·B (the chain starts
// from C), or ← C + (A·B from +0) (the chain's sum added to C once: a block
// plan's leaf fused with the addition that consumes it).
#define GM_STORE 0
#define GM_LOADC 1
#define GM_ADDC 2

// Fully unroll the tiny loops over tile rows/vectors *before* scalar
// replacement, so the accumulator array lives in registers. Without it GCC 12
// keeps acc[][] in memory and stores every accumulator on every k step
// (measured: 24 spills per iteration of the 8×48 AVX-512 kernel).
#define GM_UNROLL _Pragma("GCC unroll 32")
