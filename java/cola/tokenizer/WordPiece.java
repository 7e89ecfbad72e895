package cola.tokenizer;

import java.util.Map;

/** WordPiece (BERT): greedy longest-match-first with a continuation prefix; a word that cannot be split is unk. */
final class WordPiece implements Model {
    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final int unkId;
    private final String prefix;
    private final int maxInputCharsPerWord;

    WordPiece(Map<String, Integer> vocab, String unkToken, String prefix, int maxInputCharsPerWord, String where) {
        this.vocab = vocab;
        this.idToToken = Vocab.inverse(vocab, where);
        Integer unk = vocab.get(unkToken);
        if (unk == null) throw new TokenizerFormatException(where + ": model.unk_token '" + unkToken + "' is not in model.vocab");
        this.unkId = unk;
        this.prefix = prefix;
        this.maxInputCharsPerWord = maxInputCharsPerWord;
    }

    @Override
    public void tokenize(String word, IntList out) {
        int nChars = word.codePointCount(0, word.length());
        if (nChars > maxInputCharsPerWord) {
            out.add(unkId);
            return;
        }
        int mark = out.n;
        int start = 0;
        int len = word.length();
        while (start < len) {
            int end = len;
            int found = -1;
            while (start < end) {
                String sub = word.substring(start, end);
                if (start > 0) sub = prefix + sub;
                Integer id = vocab.get(sub);
                if (id != null) {
                    found = id;
                    break;
                }
                end = word.offsetByCodePoints(end, -1);
            }
            if (found < 0) {
                out.n = mark;
                out.add(unkId);
                return;
            }
            out.add(found);
            start = end;
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
}
