package cola.tensor;

import java.util.Arrays;

/**
 * An off-heap, row-major, contiguous tensor: a typed, shaped window onto native memory.
 *
 * <p>Ownership is explicit. A tensor made by {@link #zeros} owns its memory and frees it on {@link #close()}; a tensor
 * from an {@link Arena} lives until the arena's next reset; {@link #view} and {@link #narrow} share memory with their
 * source and free nothing. Closing twice, or using a tensor whose memory is gone, throws
 * {@link IllegalStateException} — no freed address ever reaches native code.
 *
 * <p>Device tensors ({@link #zeros(DeviceAllocator, DType, long...)}, a device {@link Arena}, a backend's upload)
 * carry their {@link Device}; {@link #address()} is then a device address that only that device's backend uses.
 * Host↔device transfers are explicit (Backend#upload/download, {@link #copyFrom(Tensor)}). The host-side accessors
 * ({@code toFloatArray}, {@code copyFrom(float[])}, {@code item}, {@code copyBytesFrom/To}, ...) also work on a
 * device tensor, by an explicit SYNCHRONOUS copy through a temporary host buffer: they wait for the device's queued
 * work, so they are meant for small things (a loss, a few pooled rows, ids) and for loading/saving, not for hot loops.
 * {@link #zero()} and device-to-device {@link #copyFrom(Tensor)} are queued on the device without waiting.
 */
public final class Tensor implements AutoCloseable {
    private final Storage storage;
    private final long offsetBytes;
    private final long[] shape;
    private final DType dtype;
    private final boolean owner;
    private final long numel;
    private boolean closed;

    Tensor(Storage storage, long offsetBytes, DType dtype, long[] shape, boolean owner) {
        this.storage = storage;
        this.offsetBytes = offsetBytes;
        this.dtype = dtype;
        this.shape = shape;
        this.owner = owner;
        this.numel = numelOf(shape);
        if (offsetBytes + numel * dtype.bytes > storage.bytes) {
            throw new IllegalArgumentException("tensor " + describe() + " does not fit its storage");
        }
    }

    // ------------------------------------------------------------------ construction

    /** A zero-filled host tensor that owns its memory. */
    public static Tensor zeros(DType dtype, long... shape) {
        long[] s = checkShape(shape);
        return new Tensor(new OwnedStorage(Math.max(1, numelOf(s)) * dtype.bytes), 0, dtype, s, true);
    }

    /** A zero-filled tensor in device memory from {@code allocator}, owning that memory (close frees it). */
    public static Tensor zeros(DeviceAllocator allocator, DType dtype, long... shape) {
        if (allocator == null) return zeros(dtype, shape);
        long[] s = checkShape(shape);
        Tensor t = new Tensor(new DeviceStorage(allocator, Math.max(1, numelOf(s)) * dtype.bytes), 0, dtype, s, true);
        t.zero();
        return t;
    }

    /** An f32 host tensor holding a copy of {@code data}. */
    public static Tensor of(float[] data, long... shape) {
        Tensor t = zeros(DType.F32, shape);
        t.copyFrom(data);
        return t;
    }

    /** An i32 host tensor (token ids, positions, masks) holding a copy of {@code data}. */
    public static Tensor ofInts(int[] data, long... shape) {
        Tensor t = zeros(DType.I32, shape);
        t.copyFrom(data);
        return t;
    }

    // ------------------------------------------------------------------ metadata

    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return storage.device;
    }

    /** True for host memory (plain native memory the CPU reads); false for device memory. */
    public boolean isHost() {
        return storage.allocator == null;
    }

    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code i}; negative counts from the end. */
    public long dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public long numel() {
        return numel;
    }

    public long byteSize() {
        return numel * dtype.bytes;
    }

    /** True when this tensor was closed or its memory was freed or recycled (arena reset). */
    public boolean isClosed() {
        return closed || !storage.isAlive();
    }

    /** The native address of element 0. Throws if the tensor or its memory is gone. */
    public long address() {
        if (closed) throw new IllegalStateException("tensor " + describe() + " is closed");
        return storage.base() + offsetBytes;
    }

    public boolean sameMemory(Tensor other) {
        return other != null && storage == other.storage && offsetBytes == other.offsetBytes;
    }

    /** "f32[2, 3]". */
    public String describe() {
        return dtype + Arrays.toString(shape);
    }

    @Override
    public String toString() {
        return describe() + (storage.device == Device.CPU ? "" : "@" + storage.device) + (isClosed() ? " (closed)" : "");
    }

    // ------------------------------------------------------------------ views

    /** Same memory, new shape with the same element count; one dimension may be -1 (inferred). */
    public Tensor view(long... newShape) {
        address();
        long[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1 && infer < 0) infer = i;
            else if (s[i] < 0) throw new IllegalArgumentException("view: bad shape " + Arrays.toString(newShape));
            else known *= s[i];
        }
        if (infer >= 0) {
            if (known == 0 || numel % known != 0) {
                throw new IllegalArgumentException("view: cannot view " + describe() + " as " + Arrays.toString(newShape));
            }
            s[infer] = numel / known;
        }
        if (numelOf(s) != numel) {
            throw new IllegalArgumentException("view: cannot view " + describe() + " as " + Arrays.toString(newShape)
                    + " (" + numel + " vs " + numelOf(s) + " elements)");
        }
        return new Tensor(storage, offsetBytes, dtype, s, false);
    }

    /** Rows [start, start + length) of dimension 0, sharing memory. */
    public Tensor narrow(long start, long length) {
        address();
        if (shape.length == 0 || start < 0 || length < 0 || start + length > shape[0]) {
            throw new IllegalArgumentException("narrow: rows [" + start + ", " + (start + length) + ") of " + describe());
        }
        long[] s = shape.clone();
        s[0] = length;
        long rowBytes = shape[0] == 0 ? 0 : byteSize() / shape[0];
        return new Tensor(storage, offsetBytes + start * rowBytes, dtype, s, false);
    }

    // ------------------------------------------------------------------ copies

    public void copyFrom(float[] src) {
        if (!isHost()) {
            try (Tensor h = hostTwin()) {
                h.copyFrom(src);
                uploadFrom(h);
            }
            return;
        }
        requireDType(DType.F32, "copyFrom(float[])");
        requireLength(src.length);
        NativeMemory.forEachChunk(address(), numel, 4, (buf, first, count) -> buf.asFloatBuffer().put(src, first, count));
    }

    public void copyFrom(int[] src) {
        if (!isHost()) {
            try (Tensor h = hostTwin()) {
                h.copyFrom(src);
                uploadFrom(h);
            }
            return;
        }
        requireDType(DType.I32, "copyFrom(int[])");
        requireLength(src.length);
        NativeMemory.forEachChunk(address(), numel, 4, (buf, first, count) -> buf.asIntBuffer().put(src, first, count));
    }

    /** Raw 16-bit patterns into a bf16 or f16 tensor. */
    public void copyFrom(short[] src) {
        if (!isHost()) {
            try (Tensor h = hostTwin()) {
                h.copyFrom(src);
                uploadFrom(h);
            }
            return;
        }
        if (dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("copyFrom(short[]): tensor " + describe() + " is not bf16/f16");
        }
        requireLength(src.length);
        NativeMemory.forEachChunk(address(), numel, 2, (buf, first, count) -> buf.asShortBuffer().put(src, first, count));
    }

    public void copyFrom(long[] src) {
        if (!isHost()) {
            try (Tensor h = hostTwin()) {
                h.copyFrom(src);
                uploadFrom(h);
            }
            return;
        }
        requireDType(DType.I64, "copyFrom(long[])");
        requireLength(src.length);
        NativeMemory.forEachChunk(address(), numel, 8, (buf, first, count) -> buf.asLongBuffer().put(src, first, count));
    }

    /**
     * Raw little-endian bytes into this tensor starting at byte {@code byteOffset}: all of {@code src}'s remaining
     * bytes (file loaders stream tensors through this in windows of at most 1 GiB).
     */
    public void copyBytesFrom(long byteOffset, java.nio.ByteBuffer src) {
        int n = src.remaining();
        if (byteOffset < 0 || byteOffset + n > byteSize()) {
            throw new IllegalArgumentException("copyBytesFrom: " + n + " bytes at offset " + byteOffset + " into "
                    + describe() + " (" + byteSize() + " bytes)");
        }
        if (!isHost()) {
            // Staged through a host buffer of n bytes (n ≤ 2 GiB: ByteBuffer-sized), then one synchronous copy.
            long dst = address() + byteOffset;
            OwnedStorage tmp = new OwnedStorage(Math.max(1, n));
            try {
                NativeMemory.buffer(tmp.base(), n).put(src);
                storage.allocator.copyFromHost(dst, tmp.base(), n);
            } finally {
                tmp.release();
            }
            return;
        }
        NativeMemory.buffer(address() + byteOffset, n).put(src);
    }

    /**
     * Fills this tensor with {@code byteSize()} raw bytes read from {@code ch} at {@code filePos} — straight into the
     * tensor's memory on the host (plain reads, no mapping: mapped file pages would count in the process's resident
     * set until the GC unmaps them, doubling a model's apparent footprint while it loads); staged through windows of at
     * most 1 GiB on a device.
     */
    public void readFrom(java.nio.channels.FileChannel ch, long filePos) throws java.io.IOException {
        long total = byteSize();
        for (long off = 0; off < total; off += 1L << 30) {
            int len = (int) Math.min(1L << 30, total - off);
            java.nio.ByteBuffer buf = isHost() ? NativeMemory.buffer(address() + off, len)
                    : java.nio.ByteBuffer.allocateDirect(len);
            long pos = filePos + off;
            while (buf.hasRemaining()) {
                int r = ch.read(buf, pos + buf.position());
                if (r < 0) throw new java.io.EOFException("unexpected end of file at byte " + (pos + buf.position()));
            }
            if (!isHost()) copyBytesFrom(off, buf.flip());
        }
    }

    /**
     * The index of the first NaN or infinity of a floating tensor (f32, bf16, f16: by their exponent bits, so a pass at
     * memory speed without widening), or -1 when every element is finite (and for integer tensors). On a device it
     * scans a host copy.
     */
    public long firstNonFinite() {
        if (!dtype.isFloating()) return -1;
        if (!isHost()) {
            try (Tensor h = downloaded()) {
                return h.firstNonFinite();
            }
        }
        long[] found = {-1};
        NativeMemory.forEachChunk(address(), numel, dtype.bytes, (buf, first, count) -> {
            if (found[0] >= 0) return;
            for (int i = 0; i < count; i++) {
                boolean bad = switch (dtype) {
                    case F32 -> (buf.getInt(4 * i) & 0x7f800000) == 0x7f800000;
                    case BF16 -> (buf.getShort(2 * i) & 0x7f80) == 0x7f80;
                    default -> (buf.getShort(2 * i) & 0x7c00) == 0x7c00;  // F16
                };
                if (bad) {
                    found[0] = (long) first + i;
                    return;
                }
            }
        });
        return found[0];
    }

    /** Raw bytes [byteOffset, byteOffset + dst.remaining()) of this tensor into {@code dst}. */
    public void copyBytesTo(long byteOffset, java.nio.ByteBuffer dst) {
        int n = dst.remaining();
        if (byteOffset < 0 || byteOffset + n > byteSize()) {
            throw new IllegalArgumentException("copyBytesTo: " + n + " bytes at offset " + byteOffset + " from "
                    + describe() + " (" + byteSize() + " bytes)");
        }
        if (!isHost()) {
            long src = address() + byteOffset;
            OwnedStorage tmp = new OwnedStorage(Math.max(1, n));
            try {
                storage.allocator.copyToHost(tmp.base(), src, n);
                dst.put(NativeMemory.buffer(tmp.base(), n));
            } finally {
                tmp.release();
            }
            return;
        }
        dst.put(NativeMemory.buffer(address() + byteOffset, n));
    }

    /**
     * Copies another tensor of the same dtype and element count (shapes may differ), across devices too: host→host
     * directly; host↔device synchronously; within one device queued on it; between two devices through the host.
     */
    public void copyFrom(Tensor src) {
        if (src.dtype != dtype || src.numel != numel) {
            throw new IllegalArgumentException("copyFrom: " + src.describe() + " into " + describe());
        }
        long dst = address(), from = src.address(), bytes = byteSize();
        if (isHost() && src.isHost()) {
            HostMemory.copy(dst, from, bytes);
        } else if (src.isHost()) {
            storage.allocator.copyFromHost(dst, from, bytes);
        } else if (isHost()) {
            src.storage.allocator.copyToHost(dst, from, bytes);
        } else if (src.device().equals(device())) {
            storage.allocator.copyOnDevice(dst, from, bytes);
        } else {
            try (Tensor h = hostTwin()) {
                h.copyFrom(src);
                uploadFrom(h);
            }
        }
    }

    public float[] toFloatArray() {
        if (!isHost()) {
            try (Tensor h = downloaded()) {
                return h.toFloatArray();
            }
        }
        requireNumelFitsArray();
        float[] out = new float[(int) numel];
        switch (dtype) {
            case F32 -> NativeMemory.forEachChunk(address(), numel, 4, (buf, first, count) -> buf.asFloatBuffer().get(out, first, count));
            case BF16 -> {
                short[] raw = toShortArray();
                for (int i = 0; i < raw.length; i++) out[i] = Half.bf16ToFloat(raw[i]);
            }
            case F16 -> {
                short[] raw = toShortArray();
                for (int i = 0; i < raw.length; i++) out[i] = Half.toFloat(raw[i]);
            }
            default -> throw new IllegalArgumentException("toFloatArray: tensor " + describe() + " is not floating point");
        }
        return out;
    }

    public int[] toIntArray() {
        requireDType(DType.I32, "toIntArray");
        if (!isHost()) {
            try (Tensor h = downloaded()) {
                return h.toIntArray();
            }
        }
        requireNumelFitsArray();
        int[] out = new int[(int) numel];
        NativeMemory.forEachChunk(address(), numel, 4, (buf, first, count) -> buf.asIntBuffer().get(out, first, count));
        return out;
    }

    public long[] toLongArray() {
        requireDType(DType.I64, "toLongArray");
        if (!isHost()) {
            try (Tensor h = downloaded()) {
                return h.toLongArray();
            }
        }
        requireNumelFitsArray();
        long[] out = new long[(int) numel];
        NativeMemory.forEachChunk(address(), numel, 8, (buf, first, count) -> buf.asLongBuffer().get(out, first, count));
        return out;
    }

    /** Raw 16-bit patterns of a bf16 or f16 tensor. */
    public short[] toShortArray() {
        if (dtype != DType.BF16 && dtype != DType.F16) {
            throw new IllegalArgumentException("toShortArray: tensor " + describe() + " is not bf16/f16");
        }
        if (!isHost()) {
            try (Tensor h = downloaded()) {
                return h.toShortArray();
            }
        }
        requireNumelFitsArray();
        short[] out = new short[(int) numel];
        NativeMemory.forEachChunk(address(), numel, 2, (buf, first, count) -> buf.asShortBuffer().get(out, first, count));
        return out;
    }

    /** The single element of a one-element f32 tensor. */
    public float item() {
        if (numel != 1) throw new IllegalArgumentException("item: tensor " + describe() + " has " + numel + " elements");
        return toFloatArray()[0];
    }

    /** Zero-fills the tensor (on a device: queued there, no wait). */
    public void zero() {
        if (isHost()) HostMemory.zero(address(), byteSize());
        else storage.allocator.zero(address(), byteSize());
    }

    // ------------------------------------------------------------------ lifetime

    /** Frees owned memory; a view or arena tensor just becomes unusable. Closing twice throws. */
    @Override
    public void close() {
        if (closed) throw new IllegalStateException("tensor " + describe() + " closed twice");
        closed = true;
        if (owner) storage.release();
    }

    // ------------------------------------------------------------------ helpers

    /** A zeroed host tensor of this dtype and shape: the staging buffer of a device tensor's host access. */
    private Tensor hostTwin() {
        address();  // a closed device tensor fails here, before any staging allocation
        return zeros(dtype, shape);
    }

    /** A host copy of this device tensor (synchronous); the caller closes it. */
    private Tensor downloaded() {
        requireNumelFitsArray();
        Tensor h = hostTwin();
        try {
            storage.allocator.copyToHost(h.address(), address(), byteSize());
        } catch (RuntimeException e) {
            h.close();
            throw e;
        }
        return h;
    }

    /** This device tensor ← a host tensor of the same size (synchronous). */
    private void uploadFrom(Tensor host) {
        storage.allocator.copyFromHost(address(), host.address(), byteSize());
    }

    static long numelOf(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return n;
    }

    static long[] checkShape(long[] shape) {
        if (shape == null) throw new IllegalArgumentException("shape is null");
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
        }
        return shape.clone();
    }

    private void requireDType(DType expected, String what) {
        if (dtype != expected) throw new IllegalArgumentException(what + ": tensor " + describe() + " is not " + expected);
    }

    private void requireLength(int length) {
        if (length != numel) {
            throw new IllegalArgumentException("copy of " + length + " elements into tensor " + describe() + " (" + numel + ")");
        }
    }

    private void requireNumelFitsArray() {
        if (numel > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor " + describe() + " is too large for a Java array");
        }
    }
}
