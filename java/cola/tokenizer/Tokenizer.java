package cola.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A Hugging Face compatible tokenizer: added/special tokens, normalizer, pre-tokenizer, model (WordPiece, BPE with
 * byte-level or byte-fallback), post-processor and decoder, as configured by {@code tokenizer.json}.
 *
 * <p>{@link #encode(String)} adds the special tokens of the post-processor but ignores the {@code truncation} and
 * {@code padding} sections of the file (use {@link #encodeBatch} with {@link BatchOptions} instead).
 */
public interface Tokenizer {

    Encoding encode(String text);

    /** Encodes a pair (BERT: {@code [CLS] A [SEP] B [SEP]} with type ids 0 / 1). */
    Encoding encode(String a, String b);

    /** Encodes each text, truncating and padding as {@code options} say. */
    List<Encoding> encodeBatch(List<String> texts, BatchOptions options);

    String decode(int[] ids, boolean skipSpecialTokens);

    /** The id of a token (vocabulary or added token), or -1. */
    int tokenToId(String token);

    /** The token of an id, or null. */
    String idToToken(int id);

    int vocabSize();

    default List<Encoding> encodeBatch(List<String> texts) {
        return encodeBatch(texts, BatchOptions.none());
    }

    /**
     * Reads a tokenizer: a {@code tokenizer.json}, or a folder holding {@code tokenizer.json}, or (legacy) GPT-2's
     * {@code vocab.json} + {@code merges.txt}, or BERT's {@code vocab.txt}.
     */
    static Tokenizer fromFile(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            Path json = path.resolve("tokenizer.json");
            if (Files.isRegularFile(json)) return TokenizerJson.load(json);
            Path vocab = path.resolve("vocab.json");
            Path merges = path.resolve("merges.txt");
            if (Files.isRegularFile(vocab) && Files.isRegularFile(merges)) return fromGpt2Files(vocab, merges);
            Path encoder = path.resolve("encoder.json");
            Path bpe = path.resolve("vocab.bpe");
            if (Files.isRegularFile(encoder) && Files.isRegularFile(bpe)) return fromGpt2Files(encoder, bpe);
            Path vocabTxt = path.resolve("vocab.txt");
            if (Files.isRegularFile(vocabTxt)) return fromBertVocab(vocabTxt, true);
            throw new TokenizerFormatException(path + ": no tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe or vocab.txt");
        }
        if (!Files.isRegularFile(path)) throw new java.nio.file.NoSuchFileException(path.toString());
        String name = path.getFileName().toString();
        if (name.endsWith(".txt")) return fromBertVocab(path, true);
        return TokenizerJson.load(path);
    }

    /** GPT-2 style legacy files: {@code encoder.json}/{@code vocab.json} and {@code vocab.bpe}/{@code merges.txt}. */
    static Tokenizer fromGpt2Files(Path vocabJson, Path mergesTxt) throws IOException {
        return LegacyLoaders.gpt2(vocabJson, mergesTxt);
    }

    /** BERT's {@code vocab.txt} (one token per line, id = line number) with the usual BERT pipeline. */
    static Tokenizer fromBertVocab(Path vocabTxt, boolean lowercase) throws IOException {
        return LegacyLoaders.bert(vocabTxt, lowercase);
    }
}
