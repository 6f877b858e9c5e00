// N-API glue: argument checks, zero-copy access to Float32Array data, CPU
// dispatch and per-thread scratch. Compiled for the baseline ISA only.
//
// Exports (all plain functions, no classes, so a call costs one N-API
// callback and its argument conversions, ~0.2 µs):
//   isas: string[]            ISAs this CPU can run, best first
//   gemm_<isa>(transA, transB, m, n, k, A, B, C, accumulate): void
//   relu_<isa>(length, x): void                                    (core's optional
//   reluBackwardColSums_<isa>(rows, cols, a, d, out): void          element-wise
//   momentum_<isa>(length, mu, scale, lr, grad, v, params): void (momentum SGD's update)
//   adam_<isa>(length, coefficients: Float64Array, grad, m, v, params): void (Adam's update)
//   axpy_<isa>(length, alpha, x, y): void                           passes)
//   gemmTnBlocks_<isa>(m, n, A, B, bounds, plan, outs): void        (block plans)
//   allFinite_<isa>(length, x): boolean                              (input checks)
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <initializer_list>

#include "gemm.h"

// ---------------------------------------------------------------- scratch --

namespace {

struct Scratch {
  float* ptr[4] = {nullptr, nullptr, nullptr, nullptr};
  size_t cap[4] = {0, 0, 0, 0};
  ~Scratch() {
    for (int s = 0; s < 4; ++s) free(ptr[s]);
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
bool get_dim(napi_env env, napi_value v, const char* name, gm_i* out, const char* op = "gemm") {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0) || d >= 2147483648.0 ||
      d != (double)(gm_i)d) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: %s must be an integer in [0, 2^31)", op, name);
    napi_throw_range_error(env, "GRADMESH_GEMM_ARG", msg);
    return false;
  }
  *out = (gm_i)d;
  return true;
}

// A typed array of type `want` (named `tname` in the error) with at least `need` elements.
template <typename T>
bool get_typed(napi_env env, napi_value v, const char* name, int64_t need, T** data, const char* op,
               napi_typedarray_type want, const char* tname) {
  bool is_ta = false;
  napi_typedarray_type type;
  void* ptr = nullptr;
  size_t len = 0;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, &len, &ptr, nullptr, nullptr) != napi_ok ||
      type != want) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: %s must be a %s", op, name, tname);
    napi_throw_type_error(env, "GRADMESH_GEMM_ARG", msg);
    return false;
  }
  if ((int64_t)len < need) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: %s has %zu elements, the shape needs %lld", op, name, len,
             (long long)need);
    napi_throw_range_error(env, "GRADMESH_GEMM_SHAPE", msg);
    return false;
  }
  *data = static_cast<T*>(ptr);
  return true;
}

bool get_f32(napi_env env, napi_value v, const char* name, int64_t need, float** data,
             const char* op = "gemm") {
  return get_typed(env, v, name, need, data, op, napi_float32_array, "Float32Array");
}

bool get_f64(napi_env env, napi_value v, const char* name, int64_t need, double** data, const char* op) {
  return get_typed(env, v, name, need, data, op, napi_float64_array, "Float64Array");
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
  if (!get_f32(env, argv[5], "A", na, &A) || !get_f32(env, argv[6], "B", nb, &B) ||
      !get_f32(env, argv[7], "C", nc, &C))
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

// ------------------------------------------------------------ block plans --

bool get_i32(napi_env env, napi_value v, const char* name, int32_t** data, size_t* len) {
  bool is_ta = false;
  napi_typedarray_type type;
  void* ptr = nullptr;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, len, &ptr, nullptr, nullptr) != napi_ok ||
      type != napi_int32_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "gemmTnBlocks: %s must be an Int32Array", name);
    napi_throw_type_error(env, "GRADMESH_GEMM_ARG", msg);
    return false;
  }
  *data = static_cast<int32_t*>(ptr);
  return true;
}

napi_value plan_error(napi_env env, const char* what) {
  char msg[128];
  snprintf(msg, sizeof msg, "gemmTnBlocks: %s", what);
  napi_throw_range_error(env, "GRADMESH_GEMM_PLAN", msg);
  return nullptr;
}

// gemmTnBlocks(m, n, A, B, bounds, plan, outs): see GmTnBlocksArgs. Every
// index is checked here, so a malformed plan is a RangeError, never a wild
// read or write.
napi_value GemmTnBlocks(napi_env env, napi_callback_info info) {
  const char* op = "gemmTnBlocks";
  size_t argc = 7;
  napi_value argv[7];
  void* data = nullptr;
  GM_CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, &data));
  if (argc < 7) {
    napi_throw_type_error(env, "GRADMESH_GEMM_ARG", "gemmTnBlocks(m, n, A, B, bounds, plan, outs) takes 7 arguments");
    return nullptr;
  }
  GmTnBlocksArgs g;
  if (!get_dim(env, argv[0], "m", &g.m, op) || !get_dim(env, argv[1], "n", &g.n, op)) return nullptr;
  int32_t* bounds;
  size_t nbounds;
  if (!get_i32(env, argv[4], "bounds", &bounds, &nbounds)) return nullptr;
  if (nbounds < 1 || bounds[0] != 0) return plan_error(env, "bounds must start at 0");
  for (size_t i = 1; i < nbounds; ++i)
    if (bounds[i] < bounds[i - 1]) return plan_error(env, "bounds must not decrease");
  g.bounds = bounds;
  g.blocks = (gm_i)nbounds - 1;
  const int64_t rows = bounds[nbounds - 1];
  float *A, *B;
  if (!get_f32(env, argv[2], "A", rows * g.m, &A, op) || !get_f32(env, argv[3], "B", rows * g.n, &B, op)) return nullptr;
  g.A = A;
  g.B = B;
  napi_value vops, vslots, vout;
  GM_CALL(env, napi_get_named_property(env, argv[5], "ops", &vops));
  GM_CALL(env, napi_get_named_property(env, argv[5], "slots", &vslots));
  GM_CALL(env, napi_get_named_property(env, argv[5], "outSlots", &vout));
  int32_t *ops, *out_slots;
  size_t nops, nouts;
  if (!get_i32(env, vops, "plan.ops", &ops, &nops) || !get_i32(env, vout, "plan.outSlots", &out_slots, &nouts)) return nullptr;
  if (!get_dim(env, vslots, "plan.slots", &g.slots, op)) return nullptr;
  if (g.slots < 1 || g.slots > 1024) return plan_error(env, "plan.slots must be in [1, 1024]");
  if (nops % 3 != 0) return plan_error(env, "plan.ops must be triples");
  for (size_t q = 0; q < nops; q += 3) {
    const int32_t c = ops[q], a = ops[q + 1], b = ops[q + 2];
    if (c == 0) {
      if (a < 0 || a >= g.blocks || b < 0 || b >= g.slots) return plan_error(env, "a leaf names a block or slot out of range");
    } else if (c == 1) {
      if (a < 0 || a >= g.slots || b < 0 || b >= g.slots || a == b) return plan_error(env, "an addition names a slot out of range");
    } else {
      return plan_error(env, "unknown plan op");
    }
  }
  for (size_t o = 0; o < nouts; ++o)
    if (out_slots[o] < 0 || out_slots[o] >= g.slots) return plan_error(env, "an output slot is out of range");
  g.ops = ops;
  g.nops = (gm_i)(nops / 3);
  g.out_slots = out_slots;
  g.nouts = (gm_i)nouts;
  bool is_array = false;
  uint32_t nbuf = 0;
  if (napi_is_array(env, argv[6], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[6], &nbuf) != napi_ok || nbuf != nouts)
    return plan_error(env, "outs must be an array with one Float32Array per plan output");
  float** outs = reinterpret_cast<float**>(gm_scratch(2, nouts * sizeof(float*) / sizeof(float) + 2));
  if (!outs) {
    napi_throw_error(env, "GRADMESH_NATIVE_OOM", "gemmTnBlocks: could not allocate scratch");
    return nullptr;
  }
  const int64_t nc = (int64_t)g.m * g.n;
  for (uint32_t o = 0; o < nbuf; ++o) {
    napi_value el;
    GM_CALL(env, napi_get_element(env, argv[6], o, &el));
    float* C;
    if (!get_f32(env, el, "outs[i]", nc, &C, op)) return nullptr;
    if (overlaps(C, nc, A, rows * g.m) || overlaps(C, nc, B, rows * g.n)) {
      napi_throw_range_error(env, "GRADMESH_GEMM_ALIAS", "gemmTnBlocks: outputs must not overlap A or B");
      return nullptr;
    }
    outs[o] = C;
  }
  g.outs = outs;
  if (reinterpret_cast<GmTnBlocksFn>(data)(&g) != 0) {
    napi_throw_error(env, "GRADMESH_NATIVE_OOM", "gemmTnBlocks: could not allocate packing scratch");
  }
  return nullptr;
}

// ------------------------------------------------------- element-wise ops --

bool no_overlap(napi_env env, const char* op, const float* a, int64_t na, const float* b, int64_t nb) {
  if (!overlaps(a, na, b, nb)) return true;
  char msg[96];
  snprintf(msg, sizeof msg, "%s: operands must not overlap", op);
  napi_throw_range_error(env, "GRADMESH_GEMM_ALIAS", msg);
  return false;
}

// No two of the n-element arrays overlap; false with a JS exception pending.
bool all_disjoint(napi_env env, const char* op, std::initializer_list<const float*> arrays, int64_t n) {
  for (auto a = arrays.begin(); a != arrays.end(); ++a)
    for (auto b = a + 1; b != arrays.end(); ++b)
      if (!no_overlap(env, op, *a, n, *b, n)) return false;
  return true;
}

bool get_number(napi_env env, napi_value v, const char* name, double* out, const char* op) {
  if (napi_get_value_double(env, v, out) == napi_ok) return true;
  char msg[96];
  snprintf(msg, sizeof msg, "%s: %s must be a number", op, name);
  napi_throw_type_error(env, "GRADMESH_GEMM_ARG", msg);
  return false;
}

template <size_t N>
bool get_args(napi_env env, napi_callback_info info, napi_value (&argv)[N], void** data, const char* usage) {
  size_t argc = N;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, data) != napi_ok) {
    fail(env, "napi_get_cb_info");
    return false;
  }
  if (argc < N) {
    napi_throw_type_error(env, "GRADMESH_GEMM_ARG", usage);
    return false;
  }
  return true;
}

// The (length, x) arguments of relu and allFinite; false with a JS exception pending.
bool get_vector(napi_env env, napi_callback_info info, const char* op, const char* usage, void** data, gm_i* n, float** x) {
  napi_value argv[2];
  return get_args(env, info, argv, data, usage) && get_dim(env, argv[0], "length", n, op) && get_f32(env, argv[1], "x", *n, x, op);
}

napi_value Relu(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  gm_i n;
  float* x;
  if (!get_vector(env, info, "relu", "relu(length, x) takes 2 arguments", &data, &n, &x)) return nullptr;
  static_cast<const GmElementwise*>(data)->relu(n, x);
  return nullptr;
}

napi_value ReluBackwardColSums(napi_env env, napi_callback_info info) {
  const char* op = "reluBackwardColSums";
  napi_value argv[5];
  void* data = nullptr;
  if (!get_args(env, info, argv, &data, "reluBackwardColSums(rows, cols, a, d, out) takes 5 arguments")) return nullptr;
  gm_i rows, cols;
  float *a, *d, *out;
  if (!get_dim(env, argv[0], "rows", &rows, op) || !get_dim(env, argv[1], "cols", &cols, op)) return nullptr;
  const int64_t len = (int64_t)rows * cols;
  if (!get_f32(env, argv[2], "a", len, &a, op) || !get_f32(env, argv[3], "d", len, &d, op) ||
      !get_f32(env, argv[4], "out", cols, &out, op))
    return nullptr;
  if (!no_overlap(env, op, a, len, d, len) || !no_overlap(env, op, out, cols, a, len) ||
      !no_overlap(env, op, out, cols, d, len))
    return nullptr;
  double* acc = reinterpret_cast<double*>(gm_scratch(2, 2 * (size_t)cols + 2));
  if (!acc) {
    napi_throw_error(env, "GRADMESH_NATIVE_OOM", "reluBackwardColSums: could not allocate scratch");
    return nullptr;
  }
  static_cast<const GmElementwise*>(data)->relu_bwd_colsums(rows, cols, a, d, out, acc);
  return nullptr;
}

napi_value Axpy(napi_env env, napi_callback_info info) {
  const char* op = "axpy";
  napi_value argv[4];
  void* data = nullptr;
  if (!get_args(env, info, argv, &data, "axpy(length, alpha, x, y) takes 4 arguments")) return nullptr;
  gm_i n;
  double alpha;
  float *x, *y;
  if (!get_dim(env, argv[0], "length", &n, op) || !get_number(env, argv[1], "alpha", &alpha, op) ||
      !get_f32(env, argv[2], "x", n, &x, op) || !get_f32(env, argv[3], "y", n, &y, op) ||
      !all_disjoint(env, op, {x, y}, n))
    return nullptr;
  static_cast<const GmElementwise*>(data)->axpy(n, alpha, x, y);
  return nullptr;
}

napi_value AllFinite(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  gm_i n;
  float* x;
  if (!get_vector(env, info, "allFinite", "allFinite(length, x) takes 2 arguments", &data, &n, &x)) return nullptr;
  napi_value result;
  GM_CALL(env, napi_get_boolean(env, static_cast<const GmElementwise*>(data)->all_finite(n, x), &result));
  return result;
}

napi_value Momentum(napi_env env, napi_callback_info info) {
  const char* op = "momentum";
  napi_value argv[7];
  void* data = nullptr;
  if (!get_args(env, info, argv, &data, "momentum(length, mu, scale, lr, grad, v, params) takes 7 arguments")) return nullptr;
  gm_i n;
  double mu, scale, lr;
  float *g, *v, *p;
  if (!get_dim(env, argv[0], "length", &n, op) || !get_number(env, argv[1], "mu", &mu, op) ||
      !get_number(env, argv[2], "scale", &scale, op) || !get_number(env, argv[3], "lr", &lr, op) ||
      !get_f32(env, argv[4], "grad", n, &g, op) || !get_f32(env, argv[5], "v", n, &v, op) ||
      !get_f32(env, argv[6], "params", n, &p, op) || !all_disjoint(env, op, {g, v, p}, n))
    return nullptr;
  static_cast<const GmElementwise*>(data)->momentum(n, mu, scale, lr, g, v, p);
  return nullptr;
}

napi_value Adam(napi_env env, napi_callback_info info) {
  const char* op = "adam";
  napi_value argv[6];
  void* data = nullptr;
  if (!get_args(env, info, argv, &data, "adam(length, coefficients, grad, m, v, params) takes 6 arguments")) return nullptr;
  gm_i n;
  double* c;
  float *g, *m1, *m2, *p;
  if (!get_dim(env, argv[0], "length", &n, op) || !get_f64(env, argv[1], "coefficients", 10, &c, op) ||
      !get_f32(env, argv[2], "grad", n, &g, op) || !get_f32(env, argv[3], "m", n, &m1, op) ||
      !get_f32(env, argv[4], "v", n, &m2, op) || !get_f32(env, argv[5], "params", n, &p, op) ||
      !all_disjoint(env, op, {g, m1, m2, p}, n))
    return nullptr;
  static_cast<const GmElementwise*>(data)->adam(n, c, g, m1, m2, p);
  return nullptr;
}

const GmElementwise ew_generic = {gm_relu_generic, gm_relu_bwd_colsums_generic, gm_axpy_generic, gm_all_finite_generic, gm_momentum_generic, gm_adam_generic};
#if defined(__x86_64__) || defined(_M_X64)
const GmElementwise ew_avx2 = {gm_relu_avx2, gm_relu_bwd_colsums_avx2, gm_axpy_avx2, gm_all_finite_avx2, gm_momentum_avx2, gm_adam_avx2};
#endif

// ---------------------------------------------------------------- dispatch --

struct Isa {
  const char* name;
  GmGemmFn fn;
  GmTnBlocksFn blocks;
  const GmElementwise* ew;
  bool supported;
};

napi_status export_fn(napi_env env, napi_value exports, const char* base, const char* isa,
                      napi_callback cb, void* data) {
  char fname[48];
  snprintf(fname, sizeof fname, "%s_%s", base, isa);
  napi_value fn;
  napi_status st = napi_create_function(env, fname, NAPI_AUTO_LENGTH, cb, data, &fn);
  return st != napi_ok ? st : napi_set_named_property(env, exports, fname, fn);
}

napi_value Init(napi_env env, napi_value exports) {
  Isa isas[3];
  int n = 0;
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  const bool fma = __builtin_cpu_supports("fma");
  isas[n++] = {"avx512", gm_gemm_avx512, gm_tn_blocks_avx512, &ew_avx2,
               __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && fma};
  isas[n++] = {"avx2", gm_gemm_avx2, gm_tn_blocks_avx2, &ew_avx2, __builtin_cpu_supports("avx2") && fma};
#endif
  isas[n++] = {"generic", gm_gemm_generic, gm_tn_blocks_generic, &ew_generic, true};

  napi_value list;
  GM_CALL(env, napi_create_array(env, &list));
  uint32_t idx = 0;
  for (int i = 0; i < n; ++i) {
    if (!isas[i].supported) continue;
    const char* isa = isas[i].name;
    void* ew = const_cast<GmElementwise*>(isas[i].ew);
    GM_CALL(env, export_fn(env, exports, "gemm", isa, Gemm, reinterpret_cast<void*>(isas[i].fn)));
    GM_CALL(env, export_fn(env, exports, "gemmTnBlocks", isa, GemmTnBlocks, reinterpret_cast<void*>(isas[i].blocks)));
    GM_CALL(env, export_fn(env, exports, "relu", isa, Relu, ew));
    GM_CALL(env, export_fn(env, exports, "reluBackwardColSums", isa, ReluBackwardColSums, ew));
    GM_CALL(env, export_fn(env, exports, "axpy", isa, Axpy, ew));
    GM_CALL(env, export_fn(env, exports, "allFinite", isa, AllFinite, ew));
    GM_CALL(env, export_fn(env, exports, "momentum", isa, Momentum, ew));
    GM_CALL(env, export_fn(env, exports, "adam", isa, Adam, ew));
    napi_value str;
    GM_CALL(env, napi_create_string_utf8(env, isa, NAPI_AUTO_LENGTH, &str));
    GM_CALL(env, napi_set_element(env, list, idx++, str));
  }
  GM_CALL(env, napi_set_named_property(env, exports, "isas", list));
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
