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

// Per-thread 64-byte-aligned scratch, grown on demand and kept for the
// thread's lifetime (slot 0: packed A, slot 1: packed B panel). Defined in
// addon.cc so it is compiled for the baseline ISA.
float* gm_scratch(int slot, size_t floats);

int gm_gemm_generic(const GmGemmArgs* args);
#if defined(__x86_64__) || defined(_M_X64)
int gm_gemm_avx2(const GmGemmArgs* args);
int gm_gemm_avx512(const GmGemmArgs* args);
#endif

// Fully unroll the tiny loops over tile rows/vectors *before* scalar
// replacement, so the accumulator array lives in registers. Without it GCC 12
// keeps acc[][] in memory and stores every accumulator on every k step
// (measured: 24 spills per iteration of the 8×48 AVX-512 kernel).
#define GM_UNROLL _Pragma("GCC unroll 32")
