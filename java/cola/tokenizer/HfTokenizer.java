package cola.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Hugging Face pipeline: added tokens split out (leftmost-longest; non-normalized ones on the raw text, normalized
 * ones after normalization), normalizer, pre-tokenizer, model, post-processor; decoding through the decoder.
 */
final class HfTokenizer implements Tokenizer {

    record AddedToken(String content, int id, boolean special, boolean singleWord, boolean lstrip, boolean rstrip,
            boolean normalized) {}

    private final Normalizers.Normalizer normalizer; // may be null
    private final PreTokenizers.PreTokenizer preTokenizer; // may be null
    private final Model model;
    private final PostProcessor postProcessor;
    private final Decoders.Decoder decoder; // may be null
    private final Map<String, Integer> addedByContent = new HashMap<>();
    private final Map<Integer, AddedToken> addedById = new HashMap<>();
    private final List<AddedToken> rawMatch; // longest first
    private final List<AddedToken> normMatch; // longest first
    private final int padId;
    private final String padToken;

    HfTokenizer(Normalizers.Normalizer normalizer, PreTokenizers.PreTokenizer preTokenizer, Model model,
            PostProcessor postProcessor, Decoders.Decoder decoder, List<AddedToken> added, String padToken, int padId) {
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.model = model;
        this.postProcessor = postProcessor == null ? PostProcessor.none() : postProcessor;
        this.decoder = decoder;
        List<AddedToken> raw = new ArrayList<>();
        List<AddedToken> norm = new ArrayList<>();
        for (AddedToken t : added) {
            if (t.content.isEmpty()) continue;
            addedByContent.put(t.content, t.id);
            addedById.put(t.id, t);
            if (t.normalized && normalizer != null) norm.add(t);
            else raw.add(t);
        }
        Comparator<AddedToken> longestFirst = Comparator.comparingInt((AddedToken t) -> -t.content.length());
        raw.sort(longestFirst);
        norm.sort(longestFirst);
        this.rawMatch = raw;
        this.normMatch = norm;
        this.padToken = padToken;
        this.padId = padId;
    }

    @Override
    public int tokenToId(String token) {
        Integer id = addedByContent.get(token);
        if (id != null) return id;
        id = model.vocab().get(token);
        return id == null ? -1 : id;
    }

    @Override
    public String idToToken(int id) {
        AddedToken t = addedById.get(id);
        return t != null ? t.content : model.idToToken(id);
    }

    @Override
    public int vocabSize() {
        int n = model.vocab().size();
        for (AddedToken t : addedById.values()) if (!model.vocab().containsKey(t.content)) n++;
        return n;
    }

    @Override
    public Encoding encode(String text) {
        int[] ids = tokenizeRaw(text);
        return postProcessor.process(ids, tokens(ids), null, null);
    }

    @Override
    public Encoding encode(String a, String b) {
        int[] ia = tokenizeRaw(a);
        int[] ib = tokenizeRaw(b);
        return postProcessor.process(ia, tokens(ia), ib, tokens(ib));
    }

    @Override
    public List<Encoding> encodeBatch(List<String> texts, BatchOptions o) {
        List<Encoding> out = new ArrayList<>(texts.size());
        int budget = o.maxLength() > 0 ? Math.max(0, o.maxLength() - postProcessor.added(false)) : Integer.MAX_VALUE;
        for (String t : texts) {
            int[] ids = tokenizeRaw(t);
            if (ids.length > budget) {
                ids = o.truncationSide() == BatchOptions.Side.RIGHT ? Arrays.copyOf(ids, budget)
                        : Arrays.copyOfRange(ids, ids.length - budget, ids.length);
            }
            out.add(postProcessor.process(ids, tokens(ids), null, null));
        }
        if (o.padding() == BatchOptions.Padding.NONE) return out;
        int target = 0;
        if (o.padding() == BatchOptions.Padding.MAX_LENGTH && o.maxLength() > 0) {
            target = o.maxLength();
        } else {
            for (Encoding e : out) target = Math.max(target, e.length());
        }
        for (int i = 0; i < out.size(); i++) out.set(i, pad(out.get(i), target, o.paddingSide()));
        return out;
    }

    private Encoding pad(Encoding e, int target, BatchOptions.Side side) {
        int n = e.length();
        if (n >= target) return e;
        int p = target - n;
        int off = side == BatchOptions.Side.LEFT ? p : 0;
        int[] ids = new int[target];
        int[] types = new int[target];
        int[] mask = new int[target];
        int[] special = new int[target];
        List<String> toks = new ArrayList<>(target);
        Arrays.fill(ids, padId);
        Arrays.fill(special, 1);
        System.arraycopy(e.ids(), 0, ids, off, n);
        System.arraycopy(e.typeIds(), 0, types, off, n);
        System.arraycopy(e.attentionMask(), 0, mask, off, n);
        System.arraycopy(e.specialTokensMask(), 0, special, off, n);
        for (int i = 0; i < off; i++) toks.add(padToken);
        toks.addAll(e.tokens());
        while (toks.size() < target) toks.add(padToken);
        return new Encoding(ids, toks, types, mask, special);
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> toks = new ArrayList<>(ids.length);
        for (int id : ids) {
            AddedToken a = addedById.get(id);
            if (a != null && a.special && skipSpecialTokens) continue;
            String t = a != null ? a.content : model.idToToken(id);
            if (t != null) toks.add(t);
        }
        return Decoders.decode(decoder, toks);
    }

    private List<String> tokens(int[] ids) {
        List<String> t = new ArrayList<>(ids.length);
        for (int id : ids) t.add(idToToken(id));
        return t;
    }

    /** Token ids without the post-processor's special tokens. */
    int[] tokenizeRaw(String text) {
        Model.IntList out = new Model.IntList();
        List<String> words = new ArrayList<>();
        splitAdded(text, rawMatch, (seg, isAdded, id, start) -> {
            if (isAdded) {
                out.add(id);
                return;
            }
            String norm = normalizer == null ? seg : normalizer.normalize(seg);
            splitAdded(norm, normMatch, (s2, added2, id2, start2) -> {
                if (added2) {
                    out.add(id2);
                    return;
                }
                words.clear();
                if (preTokenizer == null) {
                    if (!s2.isEmpty()) words.add(s2);
                } else {
                    preTokenizer.split(s2, start && start2, words);
                }
                for (String w : words) model.tokenize(w, out);
            });
        });
        return out.toArray();
    }

    private interface SegmentSink {
        void accept(String segment, boolean isAdded, int id, boolean atStart);
    }

    private static void splitAdded(String s, List<AddedToken> tokens, SegmentSink sink) {
        if (tokens.isEmpty() || s.isEmpty()) {
            sink.accept(s, false, -1, true);
            return;
        }
        int segStart = 0;
        int i = 0;
        int n = s.length();
        while (i < n) {
            AddedToken hit = null;
            for (AddedToken t : tokens) {
                if (s.startsWith(t.content, i) && (!t.singleWord || singleWordOk(s, i, i + t.content.length()))) {
                    hit = t;
                    break;
                }
            }
            if (hit == null) {
                i++;
                continue;
            }
            int ms = i;
            int me = i + hit.content.length();
            if (hit.lstrip) while (ms > segStart && Character.isWhitespace(s.charAt(ms - 1))) ms--;
            if (hit.rstrip) while (me < n && Character.isWhitespace(s.charAt(me))) me++;
            if (ms > segStart) sink.accept(s.substring(segStart, ms), false, -1, segStart == 0);
            sink.accept(hit.content, true, hit.id, ms == 0);
            segStart = me;
            i = me;
        }
        if (segStart < n) sink.accept(s.substring(segStart), false, -1, segStart == 0);
    }

    private static boolean singleWordOk(String s, int start, int end) {
        boolean left = start == 0 || !isWordChar(s.codePointBefore(start));
        boolean right = end == s.length() || !isWordChar(s.codePointAt(end));
        return left && right;
    }

    private static boolean isWordChar(int c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }
}
