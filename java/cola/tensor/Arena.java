package cola.tensor;

import cola.backend.cpu.CpuKernels;
import java.util.ArrayList;
import java.util.List;

/**
 * Per-step activation memory: bump allocation from native chunks, all recycled at once by {@link #reset()}.
 *
 * <p>The first steps discover how much a step needs; at a reset that finds more than one chunk in use, the arena
 * replaces them by one chunk of the combined size, so from then on a step allocates nothing natively (no per-step
 * malloc churn, no reliance on the GC). Tensors allocated before a reset throw {@link IllegalStateException} when used
 * after it. Not thread-safe: one arena per training loop.
 */
public final class Arena implements AutoCloseable {
    private static final long ALIGN = 64;

    private final List<long[]> chunks = new ArrayList<>();  // {address, bytes}
    private long used;          // bytes used in the last chunk
    private long generation;
    private boolean closed;
    private long highWater;     // most bytes handed out in one generation
    private long inGeneration;
    private long nativeAllocations;

    public Arena(long initialBytes) {
        if (initialBytes > 0) addChunk(initialBytes);
    }

    /** Uninitialised memory (whatever the previous step left): for outputs a kernel fully writes. */
    public Tensor allocate(DType dtype, long... shape) {
        if (closed) throw new IllegalStateException("arena is closed");
        long[] s = Tensor.checkShape(shape);
        long bytes = Math.max(1, Tensor.numelOf(s)) * dtype.bytes;
        long rounded = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        if (chunks.isEmpty() || used + rounded > chunks.get(chunks.size() - 1)[1]) {
            addChunk(Math.max(rounded, capacity()));
        }
        long[] chunk = chunks.get(chunks.size() - 1);
        long address = chunk[0] + used;
        used += rounded;
        inGeneration += rounded;
        highWater = Math.max(highWater, inGeneration);
        return new Tensor(new ArenaStorage(this, generation, address, bytes), 0, dtype, s, false);
    }

    /** Zero-filled memory: for gradients that kernels accumulate into. */
    public Tensor zeros(DType dtype, long... shape) {
        Tensor t = allocate(dtype, shape);
        t.zero();
        return t;
    }

    /** Invalidates every tensor allocated so far and makes all memory available again. */
    public void reset() {
        if (closed) throw new IllegalStateException("arena is closed");
        generation++;
        if (chunks.size() > 1) {
            long total = capacity();
            freeChunks();
            addChunk(total);
        }
        used = 0;
        inGeneration = 0;
    }

    public long capacity() {
        long c = 0;
        for (long[] chunk : chunks) c += chunk[1];
        return c;
    }

    /** Most bytes one generation (step) has used. */
    public long highWater() {
        return highWater;
    }

    /** How many native allocations the arena has made in its life (flat in steady state). */
    public long nativeAllocations() {
        return nativeAllocations;
    }

    boolean isLive(long gen) {
        return !closed && gen == generation;
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (closed) throw new IllegalStateException("arena closed twice");
        closed = true;
        freeChunks();
    }

    private void addChunk(long bytes) {
        long a = CpuKernels.cola_alloc(bytes);
        if (a == 0) throw new OutOfMemoryError("arena: could not allocate " + bytes + " bytes of native memory");
        chunks.add(new long[] {a, bytes});
        used = 0;
        nativeAllocations++;
    }

    private void freeChunks() {
        for (long[] chunk : chunks) CpuKernels.cola_free(chunk[0]);
        chunks.clear();
    }
}
