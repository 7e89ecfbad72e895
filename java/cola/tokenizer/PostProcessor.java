package cola.tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Adds special tokens around one sequence or a pair (Hugging Face TemplateProcessing, BertProcessing,
 * RobertaProcessing; ByteLevel is a no-op for ids).
 */
final class PostProcessor {

    /** A template item: a special token's ids (sequence < 0) or sequence A (0) / B (1), with its type id. */
    record Item(int sequence, int[] ids, String[] tokens, int typeId) {}

    private final List<Item> single;
    private final List<Item> pair;

    PostProcessor(List<Item> single, List<Item> pair) {
        this.single = single;
        this.pair = pair;
    }

    static PostProcessor none() {
        return new PostProcessor(List.of(new Item(0, null, null, 0)),
                List.of(new Item(0, null, null, 0), new Item(1, null, null, 1)));
    }

    static PostProcessor bert(String cls, int clsId, String sep, int sepId) {
        Item c = special(cls, clsId, 0);
        return new PostProcessor(List.of(c, new Item(0, null, null, 0), special(sep, sepId, 0)),
                List.of(c, new Item(0, null, null, 0), special(sep, sepId, 0), new Item(1, null, null, 1),
                        special(sep, sepId, 1)));
    }

    static PostProcessor roberta(String cls, int clsId, String sep, int sepId) {
        Item c = special(cls, clsId, 0);
        Item s = special(sep, sepId, 0);
        return new PostProcessor(List.of(c, new Item(0, null, null, 0), s),
                List.of(c, new Item(0, null, null, 0), s, s, new Item(1, null, null, 0), s));
    }

    static Item special(String token, int id, int typeId) {
        return new Item(-1, new int[] {id}, new String[] {token}, typeId);
    }

    /** How many tokens the template adds. */
    int added(boolean isPair) {
        int n = 0;
        for (Item it : isPair ? pair : single) if (it.sequence < 0) n += it.ids.length;
        return n;
    }

    Encoding process(int[] a, List<String> aTokens, int[] b, List<String> bTokens) {
        List<Item> tpl = b == null ? single : pair;
        int n = 0;
        for (Item it : tpl) n += it.sequence < 0 ? it.ids.length : it.sequence == 0 ? a.length : b.length;
        int[] ids = new int[n];
        int[] types = new int[n];
        int[] special = new int[n];
        int[] mask = new int[n];
        List<String> toks = new ArrayList<>(n);
        int k = 0;
        for (Item it : tpl) {
            if (it.sequence < 0) {
                for (int j = 0; j < it.ids.length; j++) {
                    ids[k] = it.ids[j];
                    types[k] = it.typeId;
                    special[k] = 1;
                    mask[k] = 1;
                    toks.add(it.tokens[j]);
                    k++;
                }
            } else {
                int[] src = it.sequence == 0 ? a : b;
                List<String> st = it.sequence == 0 ? aTokens : bTokens;
                for (int j = 0; j < src.length; j++) {
                    ids[k] = src[j];
                    types[k] = it.typeId;
                    mask[k] = 1;
                    toks.add(st.get(j));
                    k++;
                }
            }
        }
        return new Encoding(ids, toks, types, mask, special);
    }
}
