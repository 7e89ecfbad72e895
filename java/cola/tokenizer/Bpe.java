package cola.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * BPE as Hugging Face's {@code tokenizers} runs it: every character (code point) of the word is a symbol (unknown ones
 * become {@code <0xNN>} byte tokens with byte fallback, else unk, fused when {@code fuse_unk}), then merges are applied
 * lowest rank first, ties leftmost first, from a priority queue. Results of short words are cached.
 */
final class Bpe implements Model {
    private static final int CACHE_MAX_ENTRIES = 100_000;
    private static final int CACHE_MAX_WORD = 256;

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    /** (left id << 32 | right id) -> (rank << 32 | new id). */
    private final LongLongMap merges;
    private final int unkId; // -1: none
    private final boolean byteFallback;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final String continuingPrefix; // may be null
    private final String endOfWordSuffix; // may be null
    private final int[] byteIds; // <0xNN> ids, -1 where absent
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    Bpe(Map<String, Integer> vocab, java.util.List<String[]> mergePairs, String unkToken, boolean byteFallback,
            boolean fuseUnk, boolean ignoreMerges, String continuingPrefix, String endOfWordSuffix, String where) {
        this.vocab = vocab;
        this.idToToken = Vocab.inverse(vocab, where);
        this.byteFallback = byteFallback;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        this.continuingPrefix = continuingPrefix == null || continuingPrefix.isEmpty() ? null : continuingPrefix;
        this.endOfWordSuffix = endOfWordSuffix == null || endOfWordSuffix.isEmpty() ? null : endOfWordSuffix;
        if (unkToken != null) {
            Integer u = vocab.get(unkToken);
            if (u == null) throw new TokenizerFormatException(where + ": model.unk_token '" + unkToken + "' is not in model.vocab");
            unkId = u;
        } else {
            unkId = -1;
        }
        int prefixLen = this.continuingPrefix == null ? 0 : this.continuingPrefix.length();
        merges = new LongLongMap(Math.max(16, mergePairs.size() * 2));
        for (int rank = 0; rank < mergePairs.size(); rank++) {
            String[] p = mergePairs.get(rank);
            Integer a = vocab.get(p[0]);
            Integer b = vocab.get(p[1]);
            if (a == null || b == null) {
                throw new TokenizerFormatException(where + ": model.merges[" + rank + "] '" + p[0] + " " + p[1]
                        + "' references unknown token '" + (a == null ? p[0] : p[1]) + "'");
            }
            String merged = p[0] + (prefixLen > 0 && p[1].startsWith(this.continuingPrefix) ? p[1].substring(prefixLen) : p[1]);
            Integer id = vocab.get(merged);
            if (id == null) {
                throw new TokenizerFormatException(where + ": model.merges[" + rank + "] '" + p[0] + " " + p[1]
                        + "': the merged token '" + merged + "' is not in model.vocab");
            }
            long key = ((long) a << 32) | (b & 0xffffffffL);
            if (!merges.containsKey(key)) merges.put(key, ((long) rank << 32) | id);
        }
        byteIds = new int[256];
        for (int i = 0; i < 256; i++) {
            Integer id = vocab.get(String.format("<0x%02X>", i));
            byteIds[i] = id == null ? -1 : id;
        }
    }

    @Override
    public Map<String, Integer> vocab() {
        return vocab;
    }

    @Override
    public String idToToken(int id) {
        return id >= 0 && id < idToToken.length ? idToToken[id] : null;
    }

    @Override
    public void tokenize(String word, IntList out) {
        if (word.isEmpty()) return;
        if (ignoreMerges) {
            Integer id = vocab.get(word);
            if (id != null) {
                out.add(id);
                return;
            }
        }
        boolean cacheable = word.length() <= CACHE_MAX_WORD;
        if (cacheable) {
            int[] hit = cache.get(word);
            if (hit != null) {
                out.addAll(hit);
                return;
            }
        }
        int[] ids = mergeWord(word);
        if (cacheable) {
            if (cache.size() >= CACHE_MAX_ENTRIES) cache.clear();
            cache.put(word, ids);
        }
        out.addAll(ids);
    }

    private int[] mergeWord(String word) {
        int cap = word.length() * 4 + 1;
        int[] c = new int[cap];
        int n = 0;
        int pendingUnk = 0; // 1 when the last pushed symbol is an unk (for fusing)
        int len = word.length();
        for (int i = 0; i < len; ) {
            int cp = word.codePointAt(i);
            int next = i + Character.charCount(cp);
            String s = word.substring(i, next);
            if (continuingPrefix != null && i > 0) s = continuingPrefix + s;
            if (endOfWordSuffix != null && next == len) s = s + endOfWordSuffix;
            Integer id = vocab.get(s);
            if (id != null) {
                c[n++] = id;
                pendingUnk = 0;
            } else {
                boolean done = false;
                if (byteFallback) {
                    byte[] bytes = word.substring(i, next).getBytes(StandardCharsets.UTF_8);
                    boolean all = true;
                    for (byte b : bytes) all &= byteIds[b & 0xff] >= 0;
                    if (all) {
                        for (byte b : bytes) c[n++] = byteIds[b & 0xff];
                        pendingUnk = 0;
                        done = true;
                    }
                }
                if (!done && unkId >= 0) {
                    if (!(fuseUnk && pendingUnk == 1)) c[n++] = unkId;
                    pendingUnk = 1;
                }
            }
            i = next;
        }
        if (n <= 1) return java.util.Arrays.copyOf(c, n);
        int[] prev = new int[n];
        int[] nxt = new int[n];
        boolean[] dead = new boolean[n];
        for (int k = 0; k < n; k++) {
            prev[k] = k - 1;
            nxt[k] = k + 1 < n ? k + 1 : -1;
        }
        Heap heap = new Heap(n);
        for (int k = 0; k + 1 < n; k++) {
            long m = merges.get(((long) c[k] << 32) | (c[k + 1] & 0xffffffffL));
            if (m != LongLongMap.MISSING) heap.push((m >>> 32), k, (int) m);
        }
        while (heap.size > 0) {
            long key = heap.keys[0];
            int newId = heap.vals[0];
            heap.pop();
            int pos = (int) (key & 0xffffffffL);
            if (dead[pos]) continue;
            int r = nxt[pos];
            if (r < 0) continue;
            long m = merges.get(((long) c[pos] << 32) | (c[r] & 0xffffffffL));
            if (m == LongLongMap.MISSING || (int) m != newId) continue;
            c[pos] = newId;
            dead[r] = true;
            int rn = nxt[r];
            nxt[pos] = rn;
            if (rn >= 0) prev[rn] = pos;
            int p = prev[pos];
            if (p >= 0) {
                long pm = merges.get(((long) c[p] << 32) | (c[pos] & 0xffffffffL));
                if (pm != LongLongMap.MISSING) heap.push(pm >>> 32, p, (int) pm);
            }
            if (rn >= 0) {
                long nm = merges.get(((long) c[pos] << 32) | (c[rn] & 0xffffffffL));
                if (nm != LongLongMap.MISSING) heap.push(nm >>> 32, pos, (int) nm);
            }
        }
        int count = 0;
        for (int k = 0; k >= 0; k = nxt[k]) count++;
        int[] res = new int[count];
        int j = 0;
        for (int k = 0; k >= 0; k = nxt[k]) res[j++] = c[k];
        return res;
    }

    /** Min-heap of (rank, pos) keys with an int payload. */
    private static final class Heap {
        long[] keys;
        int[] vals;
        int size;

        Heap(int cap) {
            keys = new long[Math.max(4, cap)];
            vals = new int[keys.length];
        }

        void push(long rank, int pos, int val) {
            long key = (rank << 32) | pos;
            if (size == keys.length) {
                keys = java.util.Arrays.copyOf(keys, size * 2);
                vals = java.util.Arrays.copyOf(vals, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (keys[parent] <= key) break;
                keys[i] = keys[parent];
                vals[i] = vals[parent];
                i = parent;
            }
            keys[i] = key;
            vals[i] = val;
        }

        void pop() {
            size--;
            if (size == 0) return;
            long key = keys[size];
            int val = vals[size];
            int i = 0;
            while (true) {
                int l = 2 * i + 1;
                if (l >= size) break;
                int r = l + 1;
                int m = r < size && keys[r] < keys[l] ? r : l;
                if (keys[m] >= key) break;
                keys[i] = keys[m];
                vals[i] = vals[m];
                i = m;
            }
            keys[i] = key;
            vals[i] = val;
        }
    }

    /** Open-addressing long -> long map (keys never equal to the EMPTY marker because ids are < 2^26). */
    static final class LongLongMap {
        static final long MISSING = Long.MIN_VALUE;
        private static final long EMPTY = -1L;
        private long[] keys;
        private long[] values;
        private int size;

        LongLongMap(int expected) {
            int cap = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
            keys = new long[cap];
            values = new long[cap];
            java.util.Arrays.fill(keys, EMPTY);
        }

        private static int mix(long k) {
            k ^= k >>> 33;
            k *= 0xff51afd7ed558ccdL;
            k ^= k >>> 33;
            return (int) k;
        }

        long get(long key) {
            int mask = keys.length - 1;
            for (int i = mix(key) & mask; ; i = (i + 1) & mask) {
                long k = keys[i];
                if (k == key) return values[i];
                if (k == EMPTY) return MISSING;
            }
        }

        boolean containsKey(long key) {
            return get(key) != MISSING;
        }

        void put(long key, long value) {
            if ((size + 1) * 2 > keys.length) grow();
            int mask = keys.length - 1;
            for (int i = mix(key) & mask; ; i = (i + 1) & mask) {
                if (keys[i] == EMPTY) {
                    keys[i] = key;
                    values[i] = value;
                    size++;
                    return;
                }
                if (keys[i] == key) {
                    values[i] = value;
                    return;
                }
            }
        }

        private void grow() {
            long[] ok = keys;
            long[] ov = values;
            keys = new long[ok.length * 2];
            values = new long[ok.length * 2];
            java.util.Arrays.fill(keys, EMPTY);
            size = 0;
            for (int i = 0; i < ok.length; i++) if (ok[i] != EMPTY) put(ok[i], ov[i]);
        }
    }
}
