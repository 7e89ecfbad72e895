// Native test of libcola_cpu's C ABI, no JVM: GEMM, linear and fused LoRA against naive double loops, plus the
// error codes a caller relies on. The exhaustive per-op tests are the JUnit ones (tests/java/cola/ops); this one
// proves the library works on its own, as a C/C++ user (or a GPU machine without Java) would link it.
#include <cmath>
#include <cstdio>
#include <random>
#include <string_view>
#include <vector>
#include "cola_cpu.h"

static int failures = 0;
#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            std::printf(__VA_ARGS__);                      \
            std::printf("\n");                             \
            failures++;                                    \
        }                                                  \
    } while (0)

static std::vector<float> randn(size_t n, std::mt19937& g, float std = 1.0f) {
    std::normal_distribution<float> d(0.0f, std);
    std::vector<float> v(n);
    for (auto& x : v) x = d(g);
    return v;
}

static double max_rel_err(const std::vector<double>& ref, const float* got) {
    double maxabs = 1e-12, maxerr = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        maxabs = std::fmax(maxabs, std::fabs(ref[i]));
        maxerr = std::fmax(maxerr, std::fabs(ref[i] - got[i]));
    }
    return maxerr / maxabs;
}

int main() {
    std::mt19937 g(42);
    std::printf("libcola_cpu %s, isa %s, %s, %d threads\n", cola_cpu_version(), cola_cpu_isa(), cola_cpu_gemm_library(),
                cola_cpu_max_threads());

    // matmul_forward: out = x·Wᵀ + b
    for (int64_t M : {1, 7, 33}) {
        int64_t K = 129, N = 65;
        auto x = randn(M * K, g), w = randn(N * K, g), b = randn(N, g);
        std::vector<float> out(M * N);
        CHECK(cola_matmul_forward(out.data(), x.data(), w.data(), b.data(), M, K, N) == COLA_OK, "matmul status");
        std::vector<double> ref(M * N);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = b[j];
                for (int64_t k = 0; k < K; k++) s += (double)x[i * K + k] * w[j * K + k];
                ref[i * N + j] = s;
            }
        double e = max_rel_err(ref, out.data());
        CHECK(e < 1e-5, "matmul M=%lld rel err %.3g", (long long)M, e);
    }

    // fused LoRA forward: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ
    {
        int64_t M = 33, K = 64, N = 48, r = 8;
        float s = 2.0f;
        auto x = randn(M * K, g), w = randn(N * K, g), a = randn(r * K, g), bm = randn(N * r, g);
        std::vector<float> y(M * N), u(M * r);
        CHECK(cola_lora_linear_forward(y.data(), u.data(), x.data(), w.data(), nullptr, a.data(), bm.data(), s, 0.0f, 0,
                                       M, K, N, r) == COLA_OK, "lora status");
        std::vector<double> ref(M * N);
        for (int64_t i = 0; i < M; i++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) acc += (double)x[i * K + k] * w[n * K + k];
                for (int64_t j = 0; j < r; j++) {
                    double uj = 0;
                    for (int64_t k = 0; k < K; k++) uj += (double)x[i * K + k] * a[j * K + k];
                    acc += s * uj * bm[n * r + j];
                }
                ref[i * N + n] = acc;
            }
        double e = max_rel_err(ref, y.data());
        CHECK(e < 1e-5, "lora forward rel err %.3g", e);
    }

    // error codes
    CHECK(cola_gemm_f32(0, 0, -1, 1, 1, 1.0f, nullptr, 1, nullptr, 1, 0.0f, nullptr, 1) == COLA_ERR_ARG, "negative M");
    CHECK(std::string_view(cola_error_string(COLA_ERR_NONFINITE)) == "non-finite value", "error string");
    void* p = cola_alloc(100);
    CHECK(p != nullptr && ((uintptr_t)p % 64) == 0, "cola_alloc alignment");
    cola_free(p);

    if (failures) {
        std::printf("test_cpu_abi: %d failure(s)\n", failures);
        return 1;
    }
    std::printf("test_cpu_abi: all checks passed\n");
    return 0;
}
