package cola.tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Per-step activation memory: bump allocation from native chunks, all recycled at once by {@link #reset()}, and
 * stack-like by {@link #mark()}/{@link #release(Mark)} (activation recompute frees one block's activations at a time).
 *
 * <p>The first steps discover how much a step needs; at a reset that finds more than one chunk in use, the arena
 * replaces them by one chunk of the combined size, so from then on a step allocates nothing natively (no per-step
 * malloc churn, no reliance on the GC). A tensor allocated before a reset, or after a mark that was released, throws
 * {@link IllegalStateException} when used. Not thread-safe: one arena per training loop.
 *
 * <p>An arena lives on one device: host memory by default, device memory (and device tensors) when built with a
 * {@link DeviceAllocator} — the same model code then allocates its activations on the GPU through the same calls.
 * Chunks are 64-byte aligned on the host; device allocations are at least 256-byte aligned and slices keep 64.
 */
public final class Arena implements AutoCloseable {
    private static final long ALIGN = 64;

    /** A position to {@link #release} back to. */
    public record Mark(long generation, long seq, int chunk, long used, long inGeneration) {}

    private final List<long[]> chunks = new ArrayList<>();  // {address, bytes}
    private int current;        // chunk being filled
    private long used;          // bytes used in the current chunk
    private long generation;
    private long nextSeq;       // allocation sequence number (monotonic over the arena's life)
    private final List<long[]> released = new ArrayList<>();  // [from, to) sequence ranges freed in this generation
    private boolean closed;
    private long highWater;     // most bytes live at once in one generation
    private long inGeneration;
    private long nativeAllocations;
    private final DeviceAllocator allocator;  // null: host memory

    /** A host arena. */
    public Arena(long initialBytes) {
        this(null, initialBytes);
    }

    /** An arena of device memory from {@code allocator} (null: host memory). */
    public Arena(DeviceAllocator allocator, long initialBytes) {
        this.allocator = allocator;
        if (initialBytes > 0) addChunk(initialBytes);
    }

    /** Where this arena's tensors live. */
    public Device device() {
        return allocator == null ? Device.CPU : allocator.device();
    }

    DeviceAllocator allocator() {
        return allocator;
    }

    /** Uninitialised memory (whatever was there before): for outputs a kernel fully writes. */
    public Tensor allocate(DType dtype, long... shape) {
        if (closed) throw new IllegalStateException("arena is closed");
        long[] s = Tensor.checkShape(shape);
        long bytes = Math.max(1, Tensor.numelOf(s)) * dtype.bytes;
        long rounded = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        while (chunks.isEmpty() || used + rounded > chunks.get(current)[1]) {
            if (!chunks.isEmpty() && current + 1 < chunks.size()) {
                current++;
                used = 0;
            } else {
                addChunk(Math.max(rounded, capacity()));
            }
        }
        long address = chunks.get(current)[0] + used;
        used += rounded;
        inGeneration += rounded;
        highWater = Math.max(highWater, inGeneration);
        return new Tensor(new ArenaStorage(this, generation, nextSeq++, address, bytes), 0, dtype, s, false);
    }

    /** Zero-filled memory: for gradients that kernels accumulate into. */
    public Tensor zeros(DType dtype, long... shape) {
        Tensor t = allocate(dtype, shape);
        t.zero();
        return t;
    }

    /** The current top of the stack. */
    public Mark mark() {
        if (closed) throw new IllegalStateException("arena is closed");
        return new Mark(generation, nextSeq, current, used, inGeneration);
    }

    /** Frees everything allocated since {@code m} (those tensors die); earlier tensors stay valid. */
    public void release(Mark m) {
        if (closed) throw new IllegalStateException("arena is closed");
        if (m.generation() != generation) throw new IllegalStateException("arena mark from before a reset");
        if (m.seq() > nextSeq) throw new IllegalStateException("arena mark released twice or out of order");
        released.add(new long[] {m.seq(), nextSeq});
        current = m.chunk();
        used = m.used();
        inGeneration = m.inGeneration();
    }

    /** Invalidates every tensor allocated so far and makes all memory available again. */
    public void reset() {
        if (closed) throw new IllegalStateException("arena is closed");
        generation++;
        released.clear();
        if (chunks.size() > 1) {
            // one chunk of what a step needed at most (stack discipline: the peak fits contiguously), not of every
            // chunk the growth doubled into; the old ones are freed first so the two are never resident together
            long total = Math.max(1L << 20, (highWater + (1L << 20) - 1) >> 20 << 20);
            freeChunks();
            addChunk(total);
        }
        current = 0;
        used = 0;
        inGeneration = 0;
    }

    public long capacity() {
        long c = 0;
        for (long[] chunk : chunks) c += chunk[1];
        return c;
    }

    /** Most bytes live at once in one generation (step). */
    public long highWater() {
        return highWater;
    }

    /** How many native allocations the arena has made in its life (flat in steady state). */
    public long nativeAllocations() {
        return nativeAllocations;
    }

    boolean isLive(long gen, long seq) {
        if (closed || gen != generation) return false;
        for (long[] r : released) if (seq >= r[0] && seq < r[1]) return false;
        return true;
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
        long a;
        if (allocator != null) {
            a = allocator.allocate(bytes);  // throws on out-of-memory with the arena unchanged
        } else {
            a = HostMemory.allocate(bytes, false);  // pages become resident only as steps touch them
            if (a == 0) throw new OutOfMemoryError("arena: could not allocate " + bytes + " bytes of native memory");
        }
        chunks.add(new long[] {a, bytes});
        current = chunks.size() - 1;
        used = 0;
        nativeAllocations++;
    }

    private void freeChunks() {
        List<long[]> old = new ArrayList<>(chunks);
        chunks.clear();  // forgotten first: a failing device free must not leave addresses to free twice
        for (long[] chunk : old) {
            if (allocator != null) allocator.free(chunk[0]);
            else HostMemory.free(chunk[0]);
        }
    }
}
