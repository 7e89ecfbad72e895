// GEMMs go to oneDNN's dnnl_sgemm (row-major BLAS-like entry point; JIT kernels for AVX-512/AMX, OpenMP threading
// shared with our kernels, so no second thread pool competes for the two cores). Why oneDNN and not OpenBLAS:
// bench/RESULTS.md (GemmBench).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include "common.h"

extern "C" {

int cola_gemm_f32(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0) return COLA_ERR_ARG;
    if (M == 0 || N == 0) return COLA_OK;
    if (K == 0) {  // C = beta·C (oneDNN rejects K = 0)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return COLA_OK;
    }
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C,
                                  ldc);
    return st == dnnl_success ? COLA_OK : COLA_ERR_GEMM;
}

int cola_gemm_batched_f32(int64_t batch, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, int64_t sA, const float* B, int64_t ldb, int64_t sB, float beta,
                          float* C, int64_t ldc, int64_t sC) {
    if (batch < 0) return COLA_ERR_ARG;
    // Small per-head problems: one problem per thread (oneDNN runs single-threaded inside a parallel region).
    int status = COLA_OK;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t b = 0; b < batch; b++) {
        int st = cola_gemm_f32(trans_a, trans_b, M, N, K, alpha, A + b * sA, lda, B + b * sB, ldb, beta, C + b * sC,
                               ldc);
        if (st != COLA_OK) {
#pragma omp atomic write
            status = st;
        }
    }
    return status;
}

}  // extern "C"

// ------------------------------------------------------------------ bf16 GEMM (oneDNN matmul primitive)
// bf16 × bf16 → f32 with fp32 accumulation: oneDNN's matmul primitive (AMX tiles where the CPU has them, AVX512_BF16
// dot products otherwise). Unlike dnnl_sgemm there is no BLAS-style bf16 entry point, and creating a primitive costs
// 10-100 µs of JIT and descriptor work, so primitives are created once per shape and cached (the shapes of a training
// run or a serving batch repeat every step). The cache is bounded: past kMaxPrimitives distinct shapes a call builds,
// runs and destroys its primitive without caching it, so a stream of unusual shapes cannot grow memory.
// Operands are described by strides, so transposition is only a stride swap (no copy). beta = 1 is a sum post-op.
#include <map>
#include <mutex>
#include <tuple>

namespace {

constexpr size_t kMaxPrimitives = 512;

struct MatmulKey {
    int trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc;
    int accumulate;
    bool operator<(const MatmulKey& o) const {
        return std::tie(trans_a, trans_b, M, N, K, lda, ldb, ldc, accumulate) <
               std::tie(o.trans_a, o.trans_b, o.M, o.N, o.K, o.lda, o.ldb, o.ldc, o.accumulate);
    }
};

struct Matmul {
    dnnl_primitive_t prim = nullptr;
    dnnl_memory_desc_t a_md = nullptr, b_md = nullptr, c_md = nullptr;
    void destroy() {
        if (prim) dnnl_primitive_destroy(prim);
        if (a_md) dnnl_memory_desc_destroy(a_md);
        if (b_md) dnnl_memory_desc_destroy(b_md);
        if (c_md) dnnl_memory_desc_destroy(c_md);
    }
};

dnnl_engine_t engine() {
    static dnnl_engine_t e = [] {
        dnnl_engine_t x = nullptr;
        if (dnnl_engine_create(&x, dnnl_cpu, 0) != dnnl_success) x = nullptr;
        return x;
    }();
    return e;
}

// One stream per thread: a oneDNN stream is not meant to be shared by concurrent callers.
dnnl_stream_t stream() {
    thread_local struct Holder {
        dnnl_stream_t s = nullptr;
        ~Holder() {
            if (s) dnnl_stream_destroy(s);
        }
    } h;
    if (!h.s && engine()) dnnl_stream_create(&h.s, engine(), dnnl_stream_default_flags);
    return h.s;
}

bool create_matmul(const MatmulKey& k, Matmul* out) {
    dnnl_engine_t eng = engine();
    if (!eng) return false;
    // op(A)[M,K]: A stored [M,K] (strides lda,1) or [K,M] (strides 1,lda); op(B)[K,N]: B stored [K,N] or [N,K].
    dnnl_dims_t a_dims = {k.M, k.K}, b_dims = {k.K, k.N}, c_dims = {k.M, k.N};
    dnnl_dims_t a_str = {k.trans_a ? 1 : k.lda, k.trans_a ? k.lda : 1};
    dnnl_dims_t b_str = {k.trans_b ? 1 : k.ldb, k.trans_b ? k.ldb : 1};
    dnnl_dims_t c_str = {k.ldc, 1};
    Matmul m;
    bool ok = dnnl_memory_desc_create_with_strides(&m.a_md, 2, a_dims, dnnl_bf16, a_str) == dnnl_success &&
              dnnl_memory_desc_create_with_strides(&m.b_md, 2, b_dims, dnnl_bf16, b_str) == dnnl_success &&
              dnnl_memory_desc_create_with_strides(&m.c_md, 2, c_dims, dnnl_f32, c_str) == dnnl_success;
    dnnl_primitive_attr_t attr = nullptr;
    dnnl_post_ops_t po = nullptr;
    ok = ok && dnnl_primitive_attr_create(&attr) == dnnl_success;
    if (ok && k.accumulate) {
        ok = dnnl_post_ops_create(&po) == dnnl_success && dnnl_post_ops_append_sum(po, 1.0f, 0, dnnl_data_type_undef) ==
                                                                 dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    }
    dnnl_primitive_desc_t pd = nullptr;
    ok = ok && dnnl_matmul_primitive_desc_create(&pd, eng, m.a_md, m.b_md, nullptr, m.c_md, attr) == dnnl_success;
    ok = ok && dnnl_primitive_create(&m.prim, pd) == dnnl_success;
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        m.destroy();
        return false;
    }
    *out = m;
    return true;
}

std::mutex g_cache_mutex;
std::map<MatmulKey, Matmul> g_cache;  // lives for the process: primitives are small (JIT code + descriptors)

int run_matmul(const Matmul& m, const void* A, const void* B, float* C) {
    dnnl_engine_t eng = engine();
    dnnl_stream_t s = stream();
    if (!eng || !s) return COLA_ERR_GEMM;
    dnnl_memory_t a = nullptr, b = nullptr, c = nullptr;
    int st = COLA_ERR_GEMM;
    if (dnnl_memory_create(&a, m.a_md, eng, const_cast<void*>(A)) == dnnl_success &&
        dnnl_memory_create(&b, m.b_md, eng, const_cast<void*>(B)) == dnnl_success &&
        dnnl_memory_create(&c, m.c_md, eng, C) == dnnl_success) {
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
        if (dnnl_primitive_execute(m.prim, s, 3, args) == dnnl_success && dnnl_stream_wait(s) == dnnl_success)
            st = COLA_OK;
    }
    if (a) dnnl_memory_destroy(a);
    if (b) dnnl_memory_destroy(b);
    if (c) dnnl_memory_destroy(c);
    return st;
}

}  // namespace

extern "C" {

int cola_gemm_bf16(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
                   const uint16_t* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0 || !(beta == 0.0f || beta == 1.0f)) return COLA_ERR_ARG;
    if (M == 0 || N == 0) return COLA_OK;
    if (K == 0) {
        if (beta == 0.0f)
            for (int64_t i = 0; i < M; i++) std::memset(C + i * ldc, 0, sizeof(float) * N);
        return COLA_OK;
    }
    MatmulKey key{trans_a ? 1 : 0, trans_b ? 1 : 0, M, N, K, lda, ldb, ldc, beta == 1.0f ? 1 : 0};
    Matmul m;
    bool cached = false;
    {
        std::lock_guard<std::mutex> lock(g_cache_mutex);
        auto it = g_cache.find(key);
        if (it != g_cache.end()) {
            m = it->second;
            cached = true;
        }
    }
    if (!cached) {
        if (!create_matmul(key, &m)) return COLA_ERR_GEMM;
        std::lock_guard<std::mutex> lock(g_cache_mutex);
        if (g_cache.size() < kMaxPrimitives) {
            auto ins = g_cache.emplace(key, m);
            if (!ins.second) {  // another thread cached the same shape meanwhile: use its primitive, drop ours
                m.destroy();
                m = ins.first->second;
            }
            cached = true;
        }
    }
    int st = run_matmul(m, A, B, C);
    if (!cached) m.destroy();
    return st;
}

int64_t cola_gemm_bf16_cached_primitives(void) {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    return (int64_t)g_cache.size();
}

}  // extern "C"
