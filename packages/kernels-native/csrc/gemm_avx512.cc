// AVX-512F + FMA kernels, compiled with -mavx512f -mavx2 -mfma (x64 only) and
// entered only after addon.cc has checked the CPU. 12×32 tile: 24 zmm
// accumulators + 2 B vectors + 1 broadcast of the 32 registers (BLIS's SKX
// sgemm shape, transposed for row-major C). Block sizes are untuned: the
// machine this was written on has no AVX-512 (the kernels are checked there
// through SIMDe emulation against the AVX2 bits, not timed).
#ifdef GM_AVX512_VIA_SIMDE
// Test builds only (test/avx512-emulated.test.ts): SIMDe implements these
// intrinsics with AVX2, so this file can be checked on CPUs without AVX-512.
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#else
#include <immintrin.h>
#endif

#include "gemm.h"

namespace {

#define GM_MR 12
#define GM_NR 32
#define GM_KC 128  // B panel 128×32 floats = 16 KiB: half of the smallest (32 KiB) L1
#define GM_MC 144  // A block 144×128 floats = 72 KiB: well within L2

void ukr(gm_i kc, const float* const* ar, gm_i as, const float* b, float* c, gm_i ldc, int mode) {
  const bool loadc = mode == GM_LOADC;
  __m512 acc[GM_MR][2];
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
    acc[i][0] = loadc ? _mm512_loadu_ps(c + i * ldc) : _mm512_setzero_ps();
    acc[i][1] = loadc ? _mm512_loadu_ps(c + i * ldc + 16) : _mm512_setzero_ps();
  }
  const float* a[GM_MR];
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) a[i] = ar[i];
  gm_i off = 0;
  for (gm_i p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b);
    const __m512 b1 = _mm512_load_ps(b + 16);
    GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i][off]);
      acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
    }
    off += as;
    b += GM_NR;
  }
  if (mode == GM_ADDC) {
    GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
      acc[i][0] = _mm512_add_ps(_mm512_loadu_ps(c + i * ldc), acc[i][0]);
      acc[i][1] = _mm512_add_ps(_mm512_loadu_ps(c + i * ldc + 16), acc[i][1]);
    }
  }
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
    _mm512_storeu_ps(c + i * ldc, acc[i][0]);
    _mm512_storeu_ps(c + i * ldc + 16, acc[i][1]);
  }
}

#include "driver.inc"

}  // namespace

int gm_gemm_avx512(const GmGemmArgs* args) { return gemm_entry(args); }
int gm_tn_blocks_avx512(const GmTnBlocksArgs* args) { return tn_blocks_entry(args); }
