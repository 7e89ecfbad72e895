package cola.tensor;

/**
 * The memory of one accelerator, as tensors and arenas see it: allocation with an explicit owner, and the few copies
 * that host-side tensor methods need. Implemented by {@code cola.backend.cuda.CudaDevice}; this package never names
 * CUDA, so device-tensor ownership and staging are testable on a machine without a GPU.
 *
 * <p>Ordering: an implementation queues everything on one in-order queue (a CUDA stream) per device. The device-side
 * operations ({@link #zero}, {@link #copyOnDevice}) may return before they finish; the host copies
 * ({@link #copyToHost}, {@link #copyFromHost}) are SYNCHRONOUS: they return once the host memory can be read or
 * reused, after all work queued before them. Failures throw an unchecked exception (e.g. CudaException) naming what
 * failed; after an out-of-memory nothing was allocated and the device stays usable.
 */
public interface DeviceAllocator {
    Device device();

    /** At least {@code bytes} (≥ 1) of uninitialised device memory; its address, never 0. */
    long allocate(long bytes);

    /** Frees memory from {@link #allocate}, after the work queued on it has finished. */
    void free(long address);

    /** host[hostDst, +bytes) ← device[deviceSrc, +bytes); returns when the host bytes are there. */
    void copyToHost(long hostDst, long deviceSrc, long bytes);

    /** device[deviceDst, +bytes) ← host[hostSrc, +bytes); returns when the host memory may be reused. */
    void copyFromHost(long deviceDst, long hostSrc, long bytes);

    /** device[dst, +bytes) ← device[src, +bytes), ordered after earlier work; may return before it is done. */
    void copyOnDevice(long dst, long src, long bytes);

    /** Zero-fills device[address, +bytes), ordered after earlier work; may return before it is done. */
    void zero(long address, long bytes);
}
