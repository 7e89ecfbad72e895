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

    public StepContext(Backend be, Arena arena, int batch, int seqLen, Tensor keyMask, Tensor positions, long dropoutSeed) {
        this.be = be;
        this.arena = arena;
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
}
