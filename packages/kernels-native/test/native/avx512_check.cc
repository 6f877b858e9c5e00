// Built by test/avx512-emulated.test.ts on machines without AVX-512: runs the
// AVX-512 kernels (intrinsics emulated by SIMDe on AVX2) and the AVX2 kernels
// on the same operands and requires identical bits — both compute each C
// element as one fused multiply-add chain in k order.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/gemm.h"

float* gm_scratch(int slot, size_t floats) {
  static float* p[2];
  static size_t cap[2];
  if (floats <= cap[slot]) return p[slot];
  free(p[slot]);
  if (posix_memalign((void**)&p[slot], 64, floats * sizeof(float))) return nullptr;
  cap[slot] = floats;
  return p[slot];
}

static unsigned state = 12345;
static float rnd() {
  state = state * 1664525u + 1013904223u;
  return (float)state / 4294967296.0f * 2.0f - 1.0f;
}

int main() {
  const long sizes[] = {1, 3, 7, 12, 13, 17, 31, 32, 33, 65, 127, 145, 300};
  const int ns = sizeof sizes / sizeof *sizes;
  int cases = 0, bad = 0;
  for (int f = 0; f < 4; ++f)
    for (int acc = 0; acc < 2; ++acc)
      for (int t = 0; t < 24; ++t) {
        const long m = sizes[(t * 7 + f) % ns], n = sizes[(t * 5 + acc) % ns], k = sizes[(t * 3 + 1) % ns];
        float* A = (float*)malloc(sizeof(float) * m * k);
        float* B = (float*)malloc(sizeof(float) * k * n);
        float* C1 = (float*)malloc(sizeof(float) * m * n);
        float* C2 = (float*)malloc(sizeof(float) * m * n);
        for (long i = 0; i < m * k; ++i) A[i] = rnd();
        for (long i = 0; i < k * n; ++i) B[i] = rnd();
        for (long i = 0; i < m * n; ++i) C1[i] = C2[i] = rnd();
        GmGemmArgs g1 = {(f & 1) != 0, (f & 2) != 0, m, n, k, A, B, C1, acc != 0};
        GmGemmArgs g2 = g1;
        g2.C = C2;
        if (gm_gemm_avx512(&g1) || gm_gemm_avx2(&g2)) return 2;
        ++cases;
        if (memcmp(C1, C2, sizeof(float) * m * n) != 0) {
          ++bad;
          printf("mismatch: transA=%d transB=%d m=%ld n=%ld k=%ld acc=%d\n", f & 1, f >> 1, m, n, k, acc);
        }
        free(A), free(B), free(C1), free(C2);
      }
  printf("%d cases, %d mismatches\n", cases, bad);
  return bad ? 1 : 0;
}
