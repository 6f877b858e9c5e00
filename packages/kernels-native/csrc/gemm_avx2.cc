// AVX2 + FMA kernels, compiled with -mavx2 -mfma (x64 only) and entered only
// after addon.cc has checked the CPU. 6×16 tile: 12 ymm accumulators + 2 B
// vectors + 1 broadcast of the 16 registers (the BLIS Haswell/Zen shape).
#include <immintrin.h>
#include <cmath>

#include "gemm.h"

namespace {

#define GM_MR 6
#define GM_NR 16
#define GM_KC 256  // B panel 256×16 floats = 16 KiB: half of a 32 KiB L1
#define GM_MC 144  // A block 144×256 floats = 144 KiB: within a 512 KiB L2

// Row i of the A panel starts at a[i] and advances by `as` floats per k step:
// packed (a[i] = pa + i, as = MR), Aᵀ read in place (as = m) or A read in
// place (a[i] = row start, as = 1).
void ukr(gm_i kc, const float* const* ar, gm_i as, const float* b, float* c, gm_i ldc, int mode) {
  const bool loadc = mode == GM_LOADC;
  __m256 acc[GM_MR][2];
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
    acc[i][0] = loadc ? _mm256_loadu_ps(c + i * ldc) : _mm256_setzero_ps();
    acc[i][1] = loadc ? _mm256_loadu_ps(c + i * ldc + 8) : _mm256_setzero_ps();
  }
  const float* a[GM_MR];
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) a[i] = ar[i];
  gm_i off = 0;
  for (gm_i p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b);
    const __m256 b1 = _mm256_load_ps(b + 8);
    GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a[i] + off);
      acc[i][0] = _mm256_fmadd_ps(av, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(av, b1, acc[i][1]);
    }
    off += as;
    b += GM_NR;
  }
  if (mode == GM_ADDC) {
    GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
      acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(c + i * ldc), acc[i][0]);
      acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(c + i * ldc + 8), acc[i][1]);
    }
  }
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
    _mm256_storeu_ps(c + i * ldc, acc[i][0]);
    _mm256_storeu_ps(c + i * ldc + 8, acc[i][1]);
  }
}

#include "driver.inc"
#include "elementwise.inc"

}  // namespace

int gm_gemm_avx2(const GmGemmArgs* args) { return gemm_entry(args); }
int gm_tn_blocks_avx2(const GmTnBlocksArgs* args) { return tn_blocks_entry(args); }
void gm_relu_avx2(gm_i n, float* x) { ew_relu(n, x); }
void gm_relu_bwd_colsums_avx2(gm_i rows, gm_i cols, const float* a, float* d, float* out, double* acc) {
  ew_relu_bwd_colsums(rows, cols, a, d, out, acc);
}
void gm_axpy_avx2(gm_i n, double alpha, const float* x, float* y) { ew_axpy(n, alpha, x, y); }
bool gm_all_finite_avx2(gm_i n, const float* x) { return ew_all_finite(n, x); }
void gm_momentum_avx2(gm_i n, double mu, double scale, double lr, const float* g, float* v, float* p) { ew_momentum(n, mu, scale, lr, g, v, p); }
void gm_adam_avx2(gm_i n, const double* c, const float* g, float* m1, float* m2, float* p) { ew_adam(n, c, g, m1, m2, p); }
