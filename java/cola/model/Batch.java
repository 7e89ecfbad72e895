package cola.model;

/**
 * One batch of token ids on the host: input_ids [B][T], attention_mask (1 token, 0 padding; null = all tokens) and
 * BERT's token_type_ids (null = all 0). Rows must have equal length (pad them).
 */
public record Batch(int[][] inputIds, int[][] attentionMask, int[][] tokenTypeIds) {
    public Batch {
        if (inputIds == null || inputIds.length == 0) throw new IllegalArgumentException("batch: input_ids is empty");
        int t = inputIds[0].length;
        if (t == 0) throw new IllegalArgumentException("batch: input_ids rows are empty");
        for (int b = 0; b < inputIds.length; b++) {
            if (inputIds[b].length != t) {
                throw new IllegalArgumentException("batch: input_ids row " + b + " has length " + inputIds[b].length
                        + ", row 0 has " + t + " (pad rows to one length)");
            }
        }
        checkSame("attention_mask", attentionMask, inputIds.length, t);
        checkSame("token_type_ids", tokenTypeIds, inputIds.length, t);
    }

    private static void checkSame(String what, int[][] a, int b, int t) {
        if (a == null) return;
        if (a.length != b) throw new IllegalArgumentException("batch: " + what + " has " + a.length + " rows, input_ids " + b);
        for (int i = 0; i < b; i++) {
            if (a[i].length != t) {
                throw new IllegalArgumentException("batch: " + what + " row " + i + " has length " + a[i].length + ", expected " + t);
            }
        }
    }

    public int batchSize() {
        return inputIds.length;
    }

    public int seqLen() {
        return inputIds[0].length;
    }

    static int[] flatten(int[][] a) {
        int t = a[0].length;
        int[] f = new int[a.length * t];
        for (int b = 0; b < a.length; b++) System.arraycopy(a[b], 0, f, b * t, t);
        return f;
    }

    int[] flatIds() {
        return flatten(inputIds);
    }

    /** The mask flattened, or null when every token is real. */
    int[] flatMask() {
        return attentionMask == null ? null : flatten(attentionMask);
    }
}
