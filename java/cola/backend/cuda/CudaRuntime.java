package cola.backend.cuda;

import java.nio.charset.StandardCharsets;

/** What libcola_cuda can see: whether it is the stub, and the usable devices. Never throws for a missing GPU. */
public final class CudaRuntime {
    private CudaRuntime() {}

    /** One line for humans: "stub build (no CUDA compiler)", "no usable device: ...", or "1 device: NVIDIA H200". */
    public static String describe() {
        try {
            if (CudaKernels.cola_cuda_is_stub() == 1) return "not available (libcola_cuda is the stub: built without nvcc)";
            int[] count = {0};
            int err = CudaKernels.cola_cuda_device_count(count);
            if (err != 0) {
                return "no usable device (CUDA error " + err + ": " + CudaKernels.cola_cuda_error_string(err) + ")";
            }
            StringBuilder sb = new StringBuilder(count[0] + " device(s):");
            byte[] name = new byte[256];
            for (int d = 0; d < count[0]; d++) {
                CudaKernels.cola_cuda_device_name(d, name, name.length);
                int len = 0;
                while (len < name.length && name[len] != 0) len++;
                sb.append(' ').append(d).append('=').append(new String(name, 0, len, StandardCharsets.UTF_8));
            }
            return sb.toString();
        } catch (UnsatisfiedLinkError e) {
            return "not available (libcola_cuda failed to load: " + e.getMessage() + ")";
        }
    }

    /** Number of usable devices (0 for the stub, without a driver, or when the library does not load). */
    public static int deviceCount() {
        try {
            if (CudaKernels.cola_cuda_is_stub() == 1) return 0;
            int[] count = {0};
            return CudaKernels.cola_cuda_device_count(count) == 0 ? count[0] : 0;
        } catch (UnsatisfiedLinkError e) {
            return 0;
        }
    }

    /** True when libcola_cuda is a real build and at least one device answers. */
    public static boolean usable() {
        try {
            if (CudaKernels.cola_cuda_is_stub() == 1) return false;
            int[] count = {0};
            return CudaKernels.cola_cuda_device_count(count) == 0 && count[0] > 0;
        } catch (UnsatisfiedLinkError e) {
            return false;
        }
    }
}
