package cola.tokenizer;

import java.util.Map;

/** The model step: one pre-tokenized word to token ids. */
interface Model {

    /** Appends the ids of {@code word} to {@code out}. */
    void tokenize(String word, IntList out);

    /** Token string to id (the model's vocabulary only). */
    Map<String, Integer> vocab();

    /** Id to token string, or null. */
    String idToToken(int id);

    /** Growable int array. */
    final class IntList {
        int[] a = new int[16];
        int n;

        void add(int v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }

        void addAll(int[] v) {
            for (int x : v) add(x);
        }

        int[] toArray() {
            return java.util.Arrays.copyOf(a, n);
        }
    }
}
