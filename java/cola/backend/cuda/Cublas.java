package cola.backend.cuda;

import static org.bytedeco.cuda.global.cublas.cublasCreate_v2;
import static org.bytedeco.cuda.global.cublas.cublasDestroy_v2;
import static org.bytedeco.cuda.global.cublas.cublasGemmEx;
import static org.bytedeco.cuda.global.cublas.cublasSetStream_v2;
import static org.bytedeco.cuda.global.cublas.cublasSgemmStridedBatched;
import static org.bytedeco.cuda.global.cublas.cublasSgemm_v2;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * The ONLY class that touches the JavaCPP CUDA preset (org.bytedeco:cuda). Its JNI library needs the driver
 * (libcuda.so.1): loading it without one throws UnsatisfiedLinkError and leaves the preset classes unusable for the
 * JVM's life, and the 13.1 preset references cudart functions a 13.0 runtime lacks (calling one ends the process).
 * So: this class is first touched by {@link CudaBackend}'s constructor, which runs only after
 * {@link CudaRuntime#usable()} returned true, and it calls nothing but the six cuBLAS functions below (never cudart
 * through the preset: streams and memory come from libcola_cuda).
 *
 * <p>Row-major GEMMs via the usual swap: a row-major C[M,N] is a column-major Cᵀ[N,M], and Cᵀ = op(B)ᵀ·op(A)ᵀ, so we
 * ask cuBLAS for (N, M, K) with B first and A second, same transpose flags, leading dimensions = row lengths.
 * Scalars use the host pointer mode (cuBLAS reads alpha/beta before returning), so two reusable one-float buffers
 * suffice. Not thread-safe (one per {@link CudaBackend}, which is not either).
 */
final class Cublas {
    private static final int OP_N = 0;  // CUBLAS_OP_N
    private static final int OP_T = 1;  // CUBLAS_OP_T
    // cudaDataType / cublasComputeType_t / cublasGemmAlgo_t values (library_types.h, cublas_api.h): kept as constants
    // so this class touches no cudart class of the preset.
    private static final int CUDA_R_32F = 0;
    private static final int CUDA_R_16BF = 14;
    private static final int CUBLAS_COMPUTE_32F = 68;
    private static final int CUBLAS_GEMM_DEFAULT = -1;

    private final cublasContext handle = new cublasContext();
    private final FloatPointer alpha = new FloatPointer(1);
    private final FloatPointer beta = new FloatPointer(1);

    /** A JavaCPP pointer onto an address we own (device memory or a stream); it never frees anything itself. */
    private static final class Raw extends Pointer {
        Raw(long address) {
            this.address = address;
        }
    }

    /** Creates a handle whose work goes to {@code stream} (a cudaStream_t); the device must be current. */
    Cublas(long stream) {
        int st = cublasCreate_v2(handle);
        if (st != 0) throw CudaException.ofCublas("cublasCreate", st, CudaException.cublasStatusName(st), "");
        st = cublasSetStream_v2(handle, new CUstream_st(new Raw(stream)));
        if (st != 0) {
            cublasDestroy_v2(handle);
            throw CudaException.ofCublas("cublasSetStream", st, CudaException.cublasStatusName(st), "");
        }
    }

    /** Row-major c[m,n] = alpha·op(a)·op(b) + beta·c with row strides lda, ldb, ldc (elements). Returns the status. */
    int sgemm(boolean transA, boolean transB, int m, int n, int k, float alphaV, long a, int lda, long b, int ldb,
            float betaV, long c, int ldc) {
        alpha.put(0, alphaV);
        beta.put(0, betaV);
        return cublasSgemm_v2(handle, transB ? OP_T : OP_N, transA ? OP_T : OP_N, n, m, k, alpha, f(b), ldb, f(a),
                lda, beta, f(c), ldc);
    }

    /**
     * Row-major c[m,n] (f32) = op(a)·op(b) + beta·c with bf16 a and b and fp32 accumulation (tensor cores): the bf16
     * weight path. cublasGemmEx with CUDA_R_16BF inputs, CUDA_R_32F output, CUBLAS_COMPUTE_32F.
     */
    int gemmBf16(boolean transA, boolean transB, int m, int n, int k, long a, int lda, long b, int ldb, float betaV,
            long c, int ldc) {
        alpha.put(0, 1f);
        beta.put(0, betaV);
        return cublasGemmEx(handle, transB ? OP_T : OP_N, transA ? OP_T : OP_N, n, m, k, alpha, new Raw(b), CUDA_R_16BF,
                ldb, new Raw(a), CUDA_R_16BF, lda, beta, new Raw(c), CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                CUBLAS_GEMM_DEFAULT);
    }

    /** The same over a batch with element strides sA, sB, sC between matrices. */
    int sgemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alphaV, long a, int lda,
            long sA, long b, int ldb, long sB, float betaV, long c, int ldc, long sC, int batch) {
        alpha.put(0, alphaV);
        beta.put(0, betaV);
        return cublasSgemmStridedBatched(handle, transB ? OP_T : OP_N, transA ? OP_T : OP_N, n, m, k, alpha, f(b),
                ldb, sB, f(a), lda, sA, beta, f(c), ldc, sC, batch);
    }

    void destroy() {
        cublasDestroy_v2(handle);
    }

    private static FloatPointer f(long address) {
        return new FloatPointer(new Raw(address));
    }
}
