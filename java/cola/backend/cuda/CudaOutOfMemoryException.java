package cola.backend.cuda;

/**
 * The device had no room for an allocation. Nothing was allocated, the runtime's error state was cleared, and the
 * device and the JVM stay usable: free tensors (or shrink the batch) and try again.
 */
public final class CudaOutOfMemoryException extends CudaException {
    private static final long serialVersionUID = 1L;

    public CudaOutOfMemoryException(String device, long bytes, int code, String error) {
        super(device + ": out of device memory: could not allocate " + bytes + " bytes ("
                + String.format(java.util.Locale.ROOT, "%.2f", bytes / (1024.0 * 1024 * 1024)) + " GiB): CUDA error "
                + code + " (" + error + "); nothing was allocated, free tensors or use a smaller batch", code);
    }
}
