package cola.backend.cuda;

/**
 * A CUDA-side failure that Java validation could not rule out: a non-zero return code from libcola_cuda or cuBLAS.
 * The message names the operation, the CUDA error (number and string) and the arguments' shapes, e.g.
 * {@code "gelu_forward on cuda:0: CUDA error 700 (an illegal memory access was encountered) [out=f32[4, 8],
 * inp=f32[4, 8]]; the CUDA context is now unusable: restart the JVM"}.
 */
public class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** cudaError_t values after which the context is corrupt ("sticky" errors): every later call fails too. */
    private static final int[] STICKY = {700, 702, 714, 715, 716, 717, 718, 719};

    private final int code;

    /**
     * @param what    the operation and device, e.g. "gelu_forward on cuda:0"
     * @param code    the return code (cudaError_t, 1000 + COLA_ERR_*, or for cuBLAS see {@link #ofCublas})
     * @param error   the library's description of the code
     * @param shapes  the arguments, "name=f32[2, 3], ..." (may be empty)
     */
    public CudaException(String what, int code, String error, String shapes) {
        super(format(what, "CUDA error", code, error, shapes, isSticky(code)));
        this.code = code;
    }

    /** For subclasses and cuBLAS: the message is given whole. */
    protected CudaException(String message, int code) {
        super(message);
        this.code = code;
    }

    /** A cuBLAS status (cublasStatus_t) failure; {@code code()} is then the cuBLAS status. */
    public static CudaException ofCublas(String what, int status, String statusName, String shapes) {
        return new CudaException(format(what, "cuBLAS status", status, statusName, shapes, false), status);
    }

    /** The return code that caused this exception. */
    public int code() {
        return code;
    }

    /** True when the CUDA context is unusable after this error (illegal address, launch failure, ...). */
    public static boolean isSticky(int code) {
        for (int s : STICKY) if (s == code) return true;
        return false;
    }

    static String format(String what, String kind, int code, String error, String shapes, boolean sticky) {
        StringBuilder sb = new StringBuilder(what).append(": ").append(kind).append(' ').append(code)
                .append(" (").append(error == null ? "unknown error" : error).append(')');
        if (shapes != null && !shapes.isEmpty()) sb.append(" [").append(shapes).append(']');
        if (sticky) sb.append("; the CUDA context is now unusable: restart the JVM");
        return sb.toString();
    }

    /** cublasStatus_t names (cublasGetStatusString is not among the calls we allow ourselves). */
    public static String cublasStatusName(int status) {
        return switch (status) {
            case 0 -> "CUBLAS_STATUS_SUCCESS";
            case 1 -> "CUBLAS_STATUS_NOT_INITIALIZED (is libcublas on the library path and the driver loaded?)";
            case 3 -> "CUBLAS_STATUS_ALLOC_FAILED (out of device memory)";
            case 7 -> "CUBLAS_STATUS_INVALID_VALUE";
            case 8 -> "CUBLAS_STATUS_ARCH_MISMATCH";
            case 11 -> "CUBLAS_STATUS_MAPPING_ERROR";
            case 13 -> "CUBLAS_STATUS_EXECUTION_FAILED";
            case 14 -> "CUBLAS_STATUS_INTERNAL_ERROR";
            case 15 -> "CUBLAS_STATUS_NOT_SUPPORTED";
            case 16 -> "CUBLAS_STATUS_LICENSE_ERROR";
            default -> "unknown cuBLAS status";
        };
    }
}
