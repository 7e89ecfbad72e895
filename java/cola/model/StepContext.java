package cola.model;

import cola.backend.Backend;
import cola.tensor.Arena;
import cola.tensor.Tensor;

/**
 * What every layer needs during one forward/backward: the backend, the step's activation arena, the batch geometry,
 * the key-padding mask and positions, and a seed for this step's dropout masks.
 */
public final class StepContext {
    public final Backend be;
    public final Arena arena;
    /** Batch size and sequence length; rows N = B·T. */
    public final int batch, seqLen;
    /** [B, T] i32, 1 = token, 0 = padding; null = no padding. */
    public final Tensor keyMask;
    /** [B·T] i32 positions for RoPE; null when the family has none. */
    public final Tensor positions;
    public final long dropoutSeed;
    /**
     * Per-block scratch: activations a block needs only while it runs (a projection's output before the residual
     * add, q/k before RoPE, the MLP's input when no adapter there needs it saved) live here and are released when the
     * block's forward ends, so the step's arena keeps only what backward reads. Null: everything in {@link #arena}.
     */
    public final Arena scratch;

    public StepContext(Backend be, Arena arena, int batch, int seqLen, Tensor keyMask, Tensor positions, long dropoutSeed) {
        this(be, arena, null, batch, seqLen, keyMask, positions, dropoutSeed);
    }

    /**
     * The bf16 engine: activations that backward only feeds to element-wise kernels (the MLP's pre-activations) are
     * saved in bf16 and widened when backward needs them — half their memory, 2^-9 relative error in a gradient
     * factor; everything attention, the norms and the adapters read stays f32.
     */
    public final boolean bf16Activations;
    /**
     * Scaled RoPE (rope_scaling): the step's inv_freq[D/2] table and the cos/sin scale; null = plain RoPE from the
     * block's theta.
     */
    public final Tensor ropeFreqs;
    public final float ropeScale;

    public StepContext(Backend be, Arena arena, Arena scratch, int batch, int seqLen, Tensor keyMask, Tensor positions,
            long dropoutSeed) {
        this(be, arena, scratch, batch, seqLen, keyMask, positions, dropoutSeed, false, null, 1f);
    }

    public StepContext(Backend be, Arena arena, Arena scratch, int batch, int seqLen, Tensor keyMask, Tensor positions,
            long dropoutSeed, boolean bf16Activations, Tensor ropeFreqs, float ropeScale) {
        this.ropeFreqs = ropeFreqs;
        this.ropeScale = ropeScale;
        this.be = be;
        this.arena = arena;
        this.scratch = scratch;
        this.bf16Activations = bf16Activations;
        this.batch = batch;
        this.seqLen = seqLen;
        this.keyMask = keyMask;
        this.positions = positions;
        this.dropoutSeed = dropoutSeed;
    }

    public int rows() {
        return batch * seqLen;
    }

    /** Zero-filled f32 activation/gradient buffer from the arena. */
    public Tensor zeros(long... shape) {
        return arena.zeros(cola.tensor.DType.F32, shape);
    }

    /** Uninitialised f32 buffer for outputs a kernel fully writes. */
    public Tensor alloc(long... shape) {
        return arena.allocate(cola.tensor.DType.F32, shape);
    }

    /** Uninitialised f32 buffer that dies with the current block's forward (see {@link #scratch}). */
    public Tensor transientAlloc(long... shape) {
        return (scratch != null ? scratch : arena).allocate(cola.tensor.DType.F32, shape);
    }

    /** A saved activation in bf16 (round to nearest even) from an f32 one: for {@link #bf16Activations}. */
    public Tensor saveBf16(Tensor f32) {
        Tensor t = arena.allocate(cola.tensor.DType.BF16, f32.shape());
        be.convert(t, f32);
        return t;
    }

    /** {@code t} as f32: itself, or a widened copy (from this block's backward scratch) of a bf16 saved activation. */
    public Tensor widen(Tensor t) {
        if (t.dtype() == cola.tensor.DType.F32) return t;
        Tensor w = alloc(t.shape());
        be.convert(w, t);
        return w;
    }

    /** {@link #alloc} when {@code keep}, else {@link #transientAlloc}. */
    public Tensor alloc(boolean keep, long... shape) {
        return keep ? alloc(shape) : transientAlloc(shape);
    }
}
