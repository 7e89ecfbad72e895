package cola.tensor;

/** Device memory from a {@link DeviceAllocator}, freed exactly once by its owner tensor (like {@link OwnedStorage}). */
final class DeviceStorage extends Storage {
    private long address;

    DeviceStorage(DeviceAllocator allocator, long bytes) {
        super(bytes, allocator.device(), allocator);
        this.address = allocator.allocate(bytes);  // throws (out of device memory, no device) before we own anything
    }

    @Override
    long base() {
        if (address == 0) throw new IllegalStateException("tensor memory was already freed (" + deadReason() + ")");
        return address;
    }

    @Override
    boolean isAlive() {
        return address != 0;
    }

    @Override
    void release() {
        if (address == 0) throw new IllegalStateException("tensor closed twice");
        long a = address;
        address = 0;  // dead even if the free below throws: the address must never be used again
        allocator.free(a);
    }

    @Override
    String deadReason() {
        return "its owner tensor was closed";
    }
}
