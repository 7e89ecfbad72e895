package cola.backend.cuda;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of cuda/include/cola_cuda.h. libcola_cuda links the CUDA runtime statically, so it loads on any
 * machine; without a GPU or driver every call returns a CUDA error code instead of failing to load.
 */
@Platform(value = "linux-x86_64", include = "cola_cuda.h", link = "cola_cuda")
public final class CudaKernels {
    static {
        Loader.load();
    }

    private CudaKernels() {}

    public static native int cola_cuda_is_stub();
    public static native int cola_cuda_runtime_version(int[] version);
    public static native int cola_cuda_device_count(int[] count);
    public static native int cola_cuda_device_name(int device, @Cast("char*") byte[] buf, int len);
    public static native String cola_cuda_error_string(int code);
}
