package cola.tensor;

import org.bytedeco.javacpp.Pointer;

/**
 * Host memory for tensors and arenas: 64-byte aligned blocks (what the kernels' vector loops and oneDNN assume), zero
 * fills and copies. Built on the C allocator through JavaCPP's own {@link Pointer#malloc}/{@link Pointer#free}, so the
 * tensor package needs no kernel library (and imports nothing of cola): a block is over-allocated by 64 bytes, its
 * start rounded up to 64, and the C pointer kept in the 8 bytes before the aligned start for {@link #free}.
 */
final class HostMemory {
    private static final long ALIGN = 64;

    private HostMemory() {}

    /** A raw pointer onto an address; it never frees anything itself. */
    private static final class Raw extends Pointer {
        Raw(long address) {
            this.address = address;
        }
    }

    /**
     * {@code bytes} (≥ 1) of 64-byte aligned memory, zero-filled when {@code zero} (else untouched: the pages of a
     * large block become resident only as they are written), or 0 when the allocator has none.
     */
    static long allocate(long bytes, boolean zero) {
        long size = Math.max(1, bytes);
        Pointer raw = Pointer.malloc(size + ALIGN);
        if (raw == null || raw.isNull()) return 0;
        long base = raw.address();
        long aligned = (base + 8 + ALIGN - 1) & -ALIGN;
        NativeMemory.buffer(aligned - 8, 8).putLong(0, base);
        if (zero) Pointer.memset(new Raw(aligned), 0, size);
        return aligned;
    }

    /** Frees a block from {@link #allocate}. */
    static void free(long aligned) {
        Pointer.free(new Raw(NativeMemory.buffer(aligned - 8, 8).getLong(0)));
    }

    static void zero(long address, long bytes) {
        if (bytes > 0) Pointer.memset(new Raw(address), 0, bytes);
    }

    /** Non-overlapping copy of {@code bytes} from {@code src} to {@code dst}. */
    static void copy(long dst, long src, long bytes) {
        if (bytes > 0) Pointer.memcpy(new Raw(dst), new Raw(src), bytes);
    }
}
