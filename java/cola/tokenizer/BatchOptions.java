package cola.tokenizer;

/**
 * How {@link Tokenizer#encodeBatch} truncates and pads. {@code maxLength <= 0} means no limit (and {@link Padding#MAX_LENGTH}
 * then behaves like {@link Padding#LONGEST}). Truncation counts the special tokens the post-processor adds.
 */
public record BatchOptions(int maxLength, Side truncationSide, Side paddingSide, Padding padding) {

    public enum Side { LEFT, RIGHT }

    public enum Padding { NONE, LONGEST, MAX_LENGTH }

    public BatchOptions {
        if (truncationSide == null || paddingSide == null || padding == null) {
            throw new IllegalArgumentException("BatchOptions: sides and padding must not be null");
        }
    }

    /** No truncation, no padding. */
    public static BatchOptions none() {
        return new BatchOptions(0, Side.RIGHT, Side.RIGHT, Padding.NONE);
    }

    /** Truncate right to {@code maxLength}, pad right to the longest sequence of the batch. */
    public static BatchOptions longest(int maxLength) {
        return new BatchOptions(maxLength, Side.RIGHT, Side.RIGHT, Padding.LONGEST);
    }

    /** Truncate right and pad right to exactly {@code maxLength}. */
    public static BatchOptions fixed(int maxLength) {
        return new BatchOptions(maxLength, Side.RIGHT, Side.RIGHT, Padding.MAX_LENGTH);
    }
}
