package cola.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;

/** Java-array ↔ native-memory copies through JavaCPP direct buffers, chunked so tensors over 2 GB work. */
final class NativeMemory {
    private static final long CHUNK = 1L << 30;

    private NativeMemory() {}

    /** A JavaCPP pointer onto memory we own; it never frees anything itself. */
    private static final class RawPointer extends Pointer {
        RawPointer(long address, long bytes) {
            this.address = address;
            this.position = 0;
            this.limit = bytes;
            this.capacity = bytes;
        }
    }

    /** A little-endian direct buffer over [address, address + bytes); bytes ≤ 1 GiB. */
    static ByteBuffer buffer(long address, long bytes) {
        BytePointer p = new BytePointer(new RawPointer(address, bytes));
        p.capacity(bytes).limit(bytes);
        return p.asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    interface ChunkCopier {
        /** Copies elements [first, first + count) using {@code buf}, which starts at element {@code first}. */
        void copy(ByteBuffer buf, int first, int count);
    }

    /** Walks [address, address + n·elemBytes) in ≤ 1 GiB windows. */
    static void forEachChunk(long address, long n, int elemBytes, ChunkCopier copier) {
        long perChunk = CHUNK / elemBytes;
        for (long first = 0; first < n; first += perChunk) {
            int count = (int) Math.min(perChunk, n - first);
            copier.copy(buffer(address + first * elemBytes, (long) count * elemBytes), (int) first, count);
        }
    }
}
