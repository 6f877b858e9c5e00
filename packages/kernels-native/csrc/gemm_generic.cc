// Portable kernels for any CPU the addon builds on (x86-64 baseline SSE2,
// arm64 NEON, …), used when no ISA-specific path applies or when
// GRADMESH_NATIVE_ISA=generic.
//
// Multiply, then add (never fused: this file is built with -ffp-contract=off):
// the same arithmetic, in the same order, as the WASM SIMD128 kernels, so
// native-generic and wasm-simd128 give identical bits on every platform — a
// Node worker without AVX2 agrees with browser workers.
#include <string.h>
#include <cmath>

#include "gemm.h"

namespace {

#define GM_MR 5
#define GM_NR 8
#define GM_KC 256
#define GM_MC 128

#if defined(__GNUC__)
// GCC/clang vector extensions: 4-float vectors the compiler maps to SSE or
// NEON. 5×8 tile = 10 accumulators + 2 B vectors + broadcast + product: 14 of
// the 16 registers SSE2 has.
typedef float v4 __attribute__((vector_size(16)));

inline v4 load4(const float* p) {
  v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, v4 v) { memcpy(p, &v, sizeof v); }

void ukr(gm_i kc, const float* const* ar, gm_i as, const float* b, float* c, gm_i ldc, int mode) {
  const bool loadc = mode == GM_LOADC;
  v4 acc[GM_MR][2];
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
    acc[i][0] = loadc ? load4(c + i * ldc) : v4{0, 0, 0, 0};
    acc[i][1] = loadc ? load4(c + i * ldc + 4) : v4{0, 0, 0, 0};
  }
  const float* a[GM_MR];
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) a[i] = ar[i];
  gm_i off = 0;
  for (gm_i p = 0; p < kc; ++p) {
    const v4 b0 = load4(b);
    const v4 b1 = load4(b + 4);
    GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
      const float s = a[i][off];
      const v4 av = {s, s, s, s};
      acc[i][0] = acc[i][0] + av * b0;
      acc[i][1] = acc[i][1] + av * b1;
    }
    off += as;
    b += GM_NR;
  }
  if (mode == GM_ADDC) {
    GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
      acc[i][0] = load4(c + i * ldc) + acc[i][0];
      acc[i][1] = load4(c + i * ldc + 4) + acc[i][1];
    }
  }
  GM_UNROLL for (int i = 0; i < GM_MR; ++i) {
    store4(c + i * ldc, acc[i][0]);
    store4(c + i * ldc + 4, acc[i][1]);
  }
}
#else
void ukr(gm_i kc, const float* const* ar, gm_i as, const float* b, float* c, gm_i ldc, int mode) {
  const bool loadc = mode == GM_LOADC;
  float acc[GM_MR][GM_NR];
  for (int i = 0; i < GM_MR; ++i)
    for (int j = 0; j < GM_NR; ++j) acc[i][j] = loadc ? c[i * ldc + j] : 0.0f;
  for (gm_i p = 0; p < kc; ++p) {
    for (int i = 0; i < GM_MR; ++i) {
      const float av = ar[i][p * as];
      for (int j = 0; j < GM_NR; ++j) acc[i][j] = acc[i][j] + av * b[j];
    }
    b += GM_NR;
  }
  if (mode == GM_ADDC)
    for (int i = 0; i < GM_MR; ++i)
      for (int j = 0; j < GM_NR; ++j) acc[i][j] = c[i * ldc + j] + acc[i][j];
  for (int i = 0; i < GM_MR; ++i)
    for (int j = 0; j < GM_NR; ++j) c[i * ldc + j] = acc[i][j];
}
#endif

#include "driver.inc"
#include "elementwise.inc"

}  // namespace

int gm_gemm_generic(const GmGemmArgs* args) { return gemm_entry(args); }
int gm_tn_blocks_generic(const GmTnBlocksArgs* args) { return tn_blocks_entry(args); }
void gm_relu_generic(gm_i n, float* x) { ew_relu(n, x); }
void gm_relu_bwd_colsums_generic(gm_i rows, gm_i cols, const float* a, float* d, float* out, double* acc) {
  ew_relu_bwd_colsums(rows, cols, a, d, out, acc);
}
void gm_axpy_generic(gm_i n, double alpha, const float* x, float* y) { ew_axpy(n, alpha, x, y); }
bool gm_all_finite_generic(gm_i n, const float* x) { return ew_all_finite(n, x); }
void gm_momentum_generic(gm_i n, double mu, double scale, double lr, const float* g, float* v, float* p) { ew_momentum(n, mu, scale, lr, g, v, p); }
void gm_adam_generic(gm_i n, const double* c, const float* g, float* m1, float* m2, float* p) { ew_adam(n, c, g, m1, m2, p); }
