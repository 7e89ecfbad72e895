package cola.tokenizer;

import java.util.Map;

final class Vocab {
    private Vocab() {}

    /** id to token array; ids must be non-negative and below 2^26. */
    static String[] inverse(Map<String, Integer> vocab, String where) {
        int max = -1;
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            int id = e.getValue();
            if (id < 0 || id >= (1 << 26)) {
                throw new TokenizerFormatException(where + ": model.vocab['" + e.getKey() + "'] has a bad id " + id);
            }
            max = Math.max(max, id);
        }
        String[] inv = new String[max + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) inv[e.getValue()] = e.getKey();
        return inv;
    }
}
