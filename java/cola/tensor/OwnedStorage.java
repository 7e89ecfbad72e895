package cola.tensor;

/** Host memory from {@link HostMemory} (64-byte aligned, zero-filled), freed exactly once by its owner tensor. */
final class OwnedStorage extends Storage {
    private long address;

    OwnedStorage(long bytes) {
        super(bytes, Device.CPU);
        long a = HostMemory.allocate(bytes, true);
        if (a == 0) {
            throw new OutOfMemoryError("tensor: could not allocate " + bytes + " bytes of native memory");
        }
        this.address = a;
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
        HostMemory.free(address);
        address = 0;
    }

    @Override
    String deadReason() {
        return "its owner tensor was closed";
    }
}
