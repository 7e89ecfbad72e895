// Runtime facts and native memory for the Java layer: version, ISA, threads, aligned allocation.
#include <cstdio>
#include <cstdlib>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>
#include "common.h"

extern "C" {

const char* cola_cpu_version(void) { return "0.1.0"; }

const char* cola_cpu_isa(void) {
    // Mirrors the target_clones levels in COLA_DISPATCH and asks the same resolver question GCC's ifunc asks.
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return "avx512";
    if (__builtin_cpu_supports("x86-64-v3")) return "avx2";
    return "scalar";
}

const char* cola_cpu_bf16_units(void) {
    // What oneDNN's matmul will run bf16 GEMMs on: its effective ISA is a bit-mask superset chain, so a mask test
    // answers "at least this level". AMX first (tiles), then AVX512_BF16 (dot-product instructions).
    const unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    auto has = [isa](unsigned level) { return (isa & level) == level; };
    if (has((unsigned)dnnl_cpu_isa_avx512_core_amx)) return "amx";
    if (has((unsigned)dnnl_cpu_isa_avx512_core_bf16)) return "avx512_bf16";
    return "";
}

const char* cola_cpu_gemm_library(void) {
    static char buf[64];
    const dnnl_version_t* v = dnnl_version();
    std::snprintf(buf, sizeof buf, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    return buf;
}

int cola_cpu_max_threads(void) { return omp_get_max_threads(); }
void cola_cpu_set_num_threads(int n) { if (n > 0) omp_set_num_threads(n); }

const char* cola_error_string(int code) {
    switch (code) {
        case COLA_OK: return "ok";
        case COLA_ERR_ARG: return "invalid argument";
        case COLA_ERR_NONFINITE: return "non-finite value";
        case COLA_ERR_INDEX: return "index out of range";
        case COLA_ERR_ALLOC: return "out of memory";
        case COLA_ERR_GEMM: return "GEMM library error";
        default: return "unknown error";
    }
}

void* cola_alloc(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p) std::memset(p, 0, rounded);
    return p;
}
void cola_free(void* p) { std::free(p); }
void cola_zero(void* p, size_t bytes) { std::memset(p, 0, bytes); }
// Large copies are split across the OpenMP threads: one core cannot saturate the memory bus (REFERENCE.md §5:
// 15 GB/s on one thread, 25 on two). Overlapping ranges fall back to memmove.
void cola_copy(void* dst, const void* src, size_t bytes) {
    const char* s = (const char*)src;
    char* d = (char*)dst;
    bool overlap = d < s + bytes && s < d + bytes;
    if (overlap || bytes < (1u << 20)) {
        std::memmove(dst, src, bytes);
        return;
    }
#pragma omp parallel
    {
        size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
        size_t b0 = bytes * t / nt / 64 * 64, b1 = t + 1 == nt ? bytes : bytes * (t + 1) / nt / 64 * 64;
        std::memcpy(d + b0, s + b0, b1 - b0);
    }
}

}  // extern "C"
