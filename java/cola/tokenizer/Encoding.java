package cola.tokenizer;

import java.util.Arrays;
import java.util.List;

/**
 * One tokenized sequence (or pair): token ids, their strings, BERT token type ids, the attention mask (1 = real token,
 * 0 = padding) and the special-tokens mask (1 = added by the post-processor or padding).
 */
public record Encoding(int[] ids, List<String> tokens, int[] typeIds, int[] attentionMask, int[] specialTokensMask) {

    public Encoding {
        int n = ids.length;
        if (tokens.size() != n || typeIds.length != n || attentionMask.length != n || specialTokensMask.length != n) {
            throw new IllegalArgumentException("Encoding: ids, tokens, typeIds and masks differ in length");
        }
        tokens = List.copyOf(tokens);
    }

    public int length() {
        return ids.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Encoding e && Arrays.equals(ids, e.ids) && tokens.equals(e.tokens)
                && Arrays.equals(typeIds, e.typeIds) && Arrays.equals(attentionMask, e.attentionMask)
                && Arrays.equals(specialTokensMask, e.specialTokensMask);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(ids) * 31 + tokens.hashCode();
    }

    @Override
    public String toString() {
        return "Encoding" + Arrays.toString(ids) + tokens;
    }
}
