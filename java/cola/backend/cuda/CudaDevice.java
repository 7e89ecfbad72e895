package cola.backend.cuda;

import static cola.backend.cuda.CudaKernels.*;

import cola.tensor.Device;
import cola.tensor.DeviceAllocator;

/**
 * One CUDA device as cola uses it: its memory (cudaMalloc/cudaFree through libcola_cuda) and ONE non-blocking stream
 * on which everything for this device is queued — kernels, cuBLAS, copies, memsets — so the order of calls is the
 * order of execution and no other synchronisation is needed. Host copies synchronise that stream (see
 * {@link DeviceAllocator}). One instance per device for the JVM's life (the stream is never destroyed: the process
 * exit releases it). Every entry point selects the device first, because CUDA's current device is per host thread.
 */
public final class CudaDevice implements DeviceAllocator {
    private static final int ERR_MEMORY_ALLOCATION = 2;  // cudaErrorMemoryAllocation
    private static final CudaDevice[] DEVICES = new CudaDevice[64];

    private final int ordinal;
    private final Device device;
    private final long stream;  // cudaStream_t

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
        this.device = Device.cuda(ordinal);
        select();
        long[] s = {0};
        check("stream_create", cola_cuda_stream_create(s));
        this.stream = s[0];
    }

    /**
     * The device {@code ordinal}. Throws {@link IllegalStateException} (with {@link CudaRuntime#describe()}) when no
     * usable device has that number.
     */
    public static synchronized CudaDevice get(int ordinal) {
        if (!CudaRuntime.usable()) {
            throw new IllegalStateException("cuda:" + ordinal + " requested but CUDA is " + CudaRuntime.describe());
        }
        int count = CudaRuntime.deviceCount();
        if (ordinal < 0 || ordinal >= count || ordinal >= DEVICES.length) {
            throw new IllegalStateException("cuda:" + ordinal + " does not exist: CUDA has " + CudaRuntime.describe());
        }
        if (DEVICES[ordinal] == null) DEVICES[ordinal] = new CudaDevice(ordinal);
        return DEVICES[ordinal];
    }

    @Override
    public Device device() {
        return device;
    }

    public int ordinal() {
        return ordinal;
    }

    /** The raw cudaStream_t every op for this device is queued on. */
    public long stream() {
        return stream;
    }

    /** Makes this device current for the calling thread (cheap; done before every call). */
    void select() {
        check("set_device", cola_cuda_set_device(ordinal));
    }

    /** Waits for everything queued on this device's stream (and surfaces asynchronous faults). */
    public void synchronize() {
        select();
        check("stream_synchronize", cola_cuda_stream_synchronize(stream));
    }

    @Override
    public long allocate(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("cuda malloc: negative size " + bytes);
        select();
        long[] p = {0};
        int code = cola_cuda_malloc(p, Math.max(1, bytes));
        if (code == ERR_MEMORY_ALLOCATION) {
            // cudaMalloc's failure is not sticky but stays the thread's "last error", which the next kernel launch
            // would report as its own; clear it so the device stays usable after this exception.
            cola_cuda_get_last_error();
            throw new CudaOutOfMemoryException(device.toString(), bytes, code, cola_cuda_error_string(code));
        }
        check("malloc of " + bytes + " bytes", code);
        if (p[0] == 0) throw new CudaException("malloc on " + device, 0, "returned a null pointer", "");
        return p[0];
    }

    @Override
    public void free(long address) {
        select();
        // Work queued on the stream may still use the memory; cudaFree does not wait for a non-blocking stream.
        check("stream_synchronize before free", cola_cuda_stream_synchronize(stream));
        check("free", cola_cuda_free(address));
    }

    @Override
    public void copyToHost(long hostDst, long deviceSrc, long bytes) {
        if (bytes == 0) return;
        select();
        check("memcpy device→host of " + bytes + " bytes", cola_cuda_memcpy_d2h(hostDst, deviceSrc, bytes, stream));
        check("stream_synchronize after device→host copy", cola_cuda_stream_synchronize(stream));
    }

    @Override
    public void copyFromHost(long deviceDst, long hostSrc, long bytes) {
        if (bytes == 0) return;
        select();
        check("memcpy host→device of " + bytes + " bytes", cola_cuda_memcpy_h2d(deviceDst, hostSrc, bytes, stream));
        // The host buffer may be freed or rewritten as soon as we return: wait until the copy has read it.
        check("stream_synchronize after host→device copy", cola_cuda_stream_synchronize(stream));
    }

    @Override
    public void copyOnDevice(long dst, long src, long bytes) {
        if (bytes == 0) return;
        select();
        check("memcpy device→device of " + bytes + " bytes", cola_cuda_memcpy_d2d(dst, src, bytes, stream));
    }

    @Override
    public void zero(long address, long bytes) {
        if (bytes == 0) return;
        select();
        check("memset of " + bytes + " bytes", cola_cuda_memset(address, 0, bytes, stream));
    }

    private void check(String what, int code) {
        if (code != 0) throw new CudaException(what + " on " + device, code, cola_cuda_error_string(code), "");
    }

    @Override
    public String toString() {
        return device.toString();
    }
}
