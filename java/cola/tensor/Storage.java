package cola.tensor;

/**
 * A block of native memory and its lifetime. A {@link Tensor} is a typed, shaped window onto a Storage; views share
 * it. {@link #base()} is the single point where liveness is checked, so no address of freed memory ever reaches
 * native code.
 */
abstract class Storage {
    final long bytes;
    final Device device;
    /** Null for host memory; else the device whose memory this is (host access to it goes through copies). */
    final DeviceAllocator allocator;

    Storage(long bytes, Device device) {
        this(bytes, device, null);
    }

    Storage(long bytes, Device device, DeviceAllocator allocator) {
        this.bytes = bytes;
        this.device = device;
        this.allocator = allocator;
    }

    /** The base address; throws {@link IllegalStateException} if the memory was freed or recycled. */
    abstract long base();

    abstract boolean isAlive();

    /** Frees the memory if this storage owns it. Throws if already released. */
    abstract void release();

    /** What a "use after close" message should say about this storage. */
    abstract String deadReason();
}
