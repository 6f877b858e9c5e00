/*
 * One-thread OpenBLAS sgemm, C = A·B with n×n row-major floats: the machine's
 * practical single-core limit the gradmesh kernels are measured against.
 * Prototypes are declared here (not cblas.h) so only libopenblas is needed.
 * Prints one line of JSON: the core OpenBLAS picked and [wall, CPU] seconds of each run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                        const float *b, int ldb, float beta, float *c, int ldc);
extern void openblas_set_num_threads(int n);
extern char *openblas_get_corename(void);

static double clock_s(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4096;
  int runs = argc > 2 ? atoi(argv[2]) : 5;
  openblas_set_num_threads(1);
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n), *c = malloc(sizeof(float) * n * n);
  if (!a || !b || !c) return 1;
  for (long i = 0; i < (long)n * n; i++) {
    a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
    b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  }
  cblas_sgemm(101, 111, 111, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
  printf("{\"core\":\"%s\",\"n\":%d,\"runs\":[", openblas_get_corename(), n);
  for (int r = 0; r < runs; r++) {
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    cblas_sgemm(101, 111, 111, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    printf("%s[%.6f,%.6f]", r ? "," : "", clock_s(CLOCK_MONOTONIC) - t0, clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0);
  }
  printf("],\"check\":%g}\n", (double)c[(long)n * n / 2]);
  return 0;
}
