package cola.tensor;

/** Element types of a {@link Tensor}. bf16 and f16 are stored as raw 16-bit patterns. */
public enum DType {
    F32(4, "F32"),
    BF16(2, "BF16"),
    F16(2, "F16"),
    I32(4, "I32"),
    I64(8, "I64");

    /** Bytes per element. */
    public final int bytes;
    /** The safetensors dtype name. */
    public final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }

    public boolean isFloating() {
        return this == F32 || this == BF16 || this == F16;
    }

    @Override
    public String toString() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
