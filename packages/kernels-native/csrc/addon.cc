// N-API glue: argument checks, zero-copy access to Float32Array data, CPU
// dispatch and per-thread scratch. Compiled for the baseline ISA only.
//
// Exports (all plain functions, no classes, so a call costs one N-API
// callback and nine argument conversions, ~0.2 µs):
//   isas: string[]            ISAs this CPU can run, best first
//   gemm_<isa>(transA, transB, m, n, k, A, B, C, accumulate): void
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

// ---------------------------------------------------------------- scratch --

namespace {

struct Scratch {
  float* ptr[2] = {nullptr, nullptr};
  size_t cap[2] = {0, 0};
  ~Scratch() {
    for (int s = 0; s < 2; ++s) free(ptr[s]);
  }
};

// One per thread: piscina workers each get their own, and a gemm never needs
// locking. Kept between calls because training repeats the same shapes.
thread_local Scratch tls_scratch;

}  // namespace

float* gm_scratch(int slot, size_t floats) {
  Scratch& s = tls_scratch;
  if (floats <= s.cap[slot]) return s.ptr[slot];
  size_t want = floats + floats / 4 + 64;  // headroom: shapes grow a little at a time
  size_t bytes = (want * sizeof(float) + 63) & ~(size_t)63;
  void* p = nullptr;
  if (posix_memalign(&p, 64, bytes) != 0) return nullptr;
  free(s.ptr[slot]);
  s.ptr[slot] = static_cast<float*>(p);
  s.cap[slot] = bytes / sizeof(float);
  return s.ptr[slot];
}

// ------------------------------------------------------------ arg parsing --

namespace {

#define GM_CALL(env, call)                         \
  do {                                             \
    if ((call) != napi_ok) return fail(env, #call); \
  } while (0)

napi_value fail(napi_env env, const char* what) {
  const napi_extended_error_info* info = nullptr;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const char* msg = info && info->error_message ? info->error_message : what;
    napi_throw_error(env, "GRADMESH_NATIVE_NAPI", msg);
  }
  return nullptr;
}

bool get_bool(napi_env env, napi_value v, const char* name, bool* out) {
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "gemm: %s must be a boolean", name);
    napi_throw_type_error(env, "GRADMESH_GEMM_ARG", msg);
    return false;
  }
  return true;
}

// Sizes must be integers in [0, 2^31): guards the size products below.
bool get_dim(napi_env env, napi_value v, const char* name, gm_i* out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d >= 2147483648.0 ||
      d != (double)(gm_i)d) {
    char msg[96];
    snprintf(msg, sizeof msg, "gemm: %s must be an integer in [0, 2^31)", name);
    napi_throw_range_error(env, "GRADMESH_GEMM_ARG", msg);
    return false;
  }
  *out = (gm_i)d;
  return true;
}

bool get_f32(napi_env env, napi_value v, const char* name, int64_t need, float** data,
             size_t* len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void* ptr = nullptr;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &ptr, nullptr, nullptr) != napi_ok ||
      type != napi_float32_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "gemm: %s must be a Float32Array", name);
    napi_throw_type_error(env, "GRADMESH_GEMM_ARG", msg);
    return false;
  }
  if ((int64_t)*len < need) {
    char msg[160];
    snprintf(msg, sizeof msg, "gemm: %s has %zu elements, the shape needs %lld", name, *len,
             (long long)need);
    napi_throw_range_error(env, "GRADMESH_GEMM_SHAPE", msg);
    return false;
  }
  *data = static_cast<float*>(ptr);
  return true;
}

bool overlaps(const float* a, int64_t na, const float* b, int64_t nb) {
  return na > 0 && nb > 0 && a < b + nb && b < a + na;
}

napi_value Gemm(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  void* data = nullptr;
  GM_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, &data));
  if (argc < 9) {
    napi_throw_type_error(env, "GRADMESH_GEMM_ARG",
                          "gemm(transA, transB, m, n, k, A, B, C, accumulate) takes 9 arguments");
    return nullptr;
  }
  GmGemmArgs g;
  if (!get_bool(env, argv[0], "transA", &g.transA) || !get_bool(env, argv[1], "transB", &g.transB) ||
      !get_dim(env, argv[2], "m", &g.m) || !get_dim(env, argv[3], "n", &g.n) ||
      !get_dim(env, argv[4], "k", &g.k) || !get_bool(env, argv[8], "accumulate", &g.accumulate))
    return nullptr;
  const int64_t na = (int64_t)g.m * g.k, nb = (int64_t)g.k * g.n, nc = (int64_t)g.m * g.n;
  float *A, *B, *C;
  size_t la, lb, lc;
  if (!get_f32(env, argv[5], "A", na, &A, &la) || !get_f32(env, argv[6], "B", nb, &B, &lb) ||
      !get_f32(env, argv[7], "C", nc, &C, &lc))
    return nullptr;
  if (overlaps(C, nc, A, na) || overlaps(C, nc, B, nb)) {
    napi_throw_range_error(env, "GRADMESH_GEMM_ALIAS", "gemm: C must not overlap A or B");
    return nullptr;
  }
  g.A = A;
  g.B = B;
  g.C = C;
  if (reinterpret_cast<GmGemmFn>(data)(&g) != 0) {
    napi_throw_error(env, "GRADMESH_NATIVE_OOM", "gemm: could not allocate packing scratch");
  }
  return nullptr;
}

// ---------------------------------------------------------------- dispatch --

struct Isa {
  const char* name;
  GmGemmFn fn;
  bool supported;
};

napi_value Init(napi_env env, napi_value exports) {
  Isa isas[3];
  int n = 0;
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  isas[n++] = {"avx512", gm_gemm_avx512,
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && fma};
  isas[n++] = {"avx2", gm_gemm_avx2, __builtin_cpu_supports("avx2") && fma};
#endif
  isas[n++] = {"generic", gm_gemm_generic, true};

  napi_value list;
  GM_CALL(env, napi_create_array(env, &list));
  uint32_t idx = 0;
  for (int i = 0; i < n; ++i) {
    if (!isas[i].supported) continue;
    char fname[32];
    snprintf(fname, sizeof fname, "gemm_%s", isas[i].name);
    napi_value fn, str;
    GM_CALL(env, napi_create_function(env, fname, NAPI_AUTO_LENGTH, Gemm,
                                      reinterpret_cast<void*>(isas[i].fn), &fn));
    GM_CALL(env, napi_set_named_property(env, exports, fname, fn));
    GM_CALL(env, napi_create_string_utf8(env, isas[i].name, NAPI_AUTO_LENGTH, &str));
    GM_CALL(env, napi_set_element(env, list, idx++, str));
  }
  GM_CALL(env, napi_set_named_property(env, exports, "isas", list));
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
