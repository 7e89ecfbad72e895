package cola.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Published token ids of real vocabularies (BERT/MiniLM WordPiece, GPT-2 BPE, Llama 2 SentencePiece-BPE). */
class TokenizerGoldenTest {

    @Test
    void miniLmWordPiece() throws Exception {
        Tokenizer t = Tokenizer.fromFile(TokenizerFixtures.miniLm());
        Encoding e = t.encode("hello world");
        assertArrayEquals(new int[] {101, 7592, 2088, 102}, e.ids());
        assertEquals(List.of("[CLS]", "hello", "world", "[SEP]"), e.tokens());
        assertArrayEquals(new int[] {1, 1, 1, 1}, e.attentionMask());
        Encoding p = t.encode("hello", "world");
        assertArrayEquals(new int[] {101, 7592, 102, 2088, 102}, p.ids());
        assertArrayEquals(new int[] {0, 0, 0, 1, 1}, p.typeIds());
        assertEquals("hello world", t.decode(e.ids(), true));
        assertEquals("[CLS] hello world [SEP]", t.decode(e.ids(), false));
        // accents stripped, lowercased, punctuation split, ## continuation, CJK spaced
        assertEquals(List.of("[CLS]", "cafe", ",", "una", "##ffa", "##ble", "中", "国", "[SEP]"),
                t.encode("Café, unaffable中国").tokens());
        assertEquals(List.of("[CLS]", "[UNK]", "[SEP]"), t.encode("a".repeat(101)).tokens());
    }

    @Test
    void batchTruncatesAndPads() throws Exception {
        Tokenizer t = Tokenizer.fromFile(TokenizerFixtures.miniLm());
        List<Encoding> b = t.encodeBatch(List.of("hello world", "hello"), BatchOptions.longest(16));
        assertArrayEquals(new int[] {101, 7592, 2088, 102}, b.get(0).ids());
        assertArrayEquals(new int[] {101, 7592, 102, 0}, b.get(1).ids());
        assertArrayEquals(new int[] {1, 1, 1, 0}, b.get(1).attentionMask());
        assertEquals("[PAD]", b.get(1).tokens().get(3));
        List<Encoding> left = t.encodeBatch(List.of("hello world", "hello"),
                new BatchOptions(3, BatchOptions.Side.LEFT, BatchOptions.Side.LEFT, BatchOptions.Padding.MAX_LENGTH));
        assertArrayEquals(new int[] {101, 2088, 102}, left.get(0).ids());
        assertArrayEquals(new int[] {101, 7592, 102}, left.get(1).ids());
        List<Encoding> fixed = t.encodeBatch(List.of("hello"),
                new BatchOptions(5, BatchOptions.Side.RIGHT, BatchOptions.Side.LEFT, BatchOptions.Padding.MAX_LENGTH));
        assertArrayEquals(new int[] {0, 0, 101, 7592, 102}, fixed.get(0).ids());
        assertArrayEquals(new int[] {0, 0, 1, 1, 1}, fixed.get(0).attentionMask());
    }

    @Test
    void gpt2LegacyFiles() throws Exception {
        Tokenizer t = Tokenizer.fromGpt2Files(TokenizerFixtures.gpt2Encoder(), TokenizerFixtures.gpt2Merges());
        assertArrayEquals(new int[] {31373}, t.encode("hello").ids());
        assertArrayEquals(new int[] {50256}, t.encode("<|endoftext|>").ids());
        String plans = Files.readString(TokenizerFixtures.resource("tokenizer/gpt2/TestPlans-r50k.txt"),
                StandardCharsets.UTF_8);
        int cases = 0;
        List<String> failures = new ArrayList<>();
        for (String block : plans.split("EncodingName: r50k_base\n")) {
            if (block.isEmpty()) continue;
            int s = block.indexOf("Sample: ");
            int e = block.lastIndexOf("\nEncoded: [");
            String sample = block.substring(s + "Sample: ".length(), e);
            String enc = block.substring(e + "\nEncoded: [".length(), block.lastIndexOf(']'));
            int[] want = enc.isBlank() ? new int[0]
                    : Arrays.stream(enc.split(",")).map(String::strip).mapToInt(Integer::parseInt).toArray();
            int[] got = t.encode(sample).ids();
            if (!Arrays.equals(want, got)) failures.add(sample + " want " + Arrays.toString(want) + " got " + Arrays.toString(got));
            assertEquals(sample, t.decode(got, false));
            cases++;
        }
        assertEquals(64, cases);
        assertTrue(failures.isEmpty(), failures.size() + " failures: " + failures);
    }

    @Test
    void gpt2TokenizerJsonMatchesLegacy() throws Exception {
        Tokenizer json = Tokenizer.fromFile(TokenizerFixtures.gpt2Json());
        assertArrayEquals(new int[] {31373}, json.encode("hello").ids());
        assertArrayEquals(new int[] {15496, 11, 2159, 0}, json.encode("Hello, World!").ids());
    }

    @Test
    void llamaSentencePieceBpe() throws Exception {
        Tokenizer t = Tokenizer.fromFile(TokenizerFixtures.llamaJson());
        Encoding e = t.encode("Hello world!");
        assertArrayEquals(new int[] {1, 15043, 3186, 29991}, e.ids());
        assertEquals(List.of("<s>", "\u2581Hello", "\u2581world", "!"), e.tokens());
        assertEquals("Hello world!", t.decode(e.ids(), true));
        // byte fallback: a character outside the vocabulary becomes its UTF-8 bytes
        int[] ids = t.encode("\uD83E\uDD99").ids(); // llama emoji
        assertEquals(List.of("<s>", "\u2581", "<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"), t.encode("\uD83E\uDD99").tokens());
        assertEquals("\uD83E\uDD99", t.decode(ids, true));
    }

    @Test
    void bertVocabTxtLegacy(@TempDir Path tmp) throws Exception {
        Path vocab = tmp.resolve("vocab.txt");
        Files.write(vocab, List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "!"));
        Tokenizer t = Tokenizer.fromFile(tmp);
        assertArrayEquals(new int[] {2, 5, 6, 7, 8, 1, 3}, t.encode("Hello worlds! xyz").ids());
    }

    @Test
    void badFilesNameFileAndField(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("tokenizer.json");
        Files.writeString(f, "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
        var e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromFile(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("malformed JSON"), e.getMessage());

        Files.writeString(f, "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromFile(tmp));
        assertTrue(e.getMessage().contains("model.type") && e.getMessage().contains("Unigram"), e.getMessage());

        Files.writeString(f, "{\"model\": {\"type\": \"BPE\", \"merges\": []}}");
        e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromFile(f));
        assertTrue(e.getMessage().contains("model.vocab") && e.getMessage().contains(f.toString()), e.getMessage());

        Files.writeString(f, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", \"a c\"]}}");
        e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromFile(f));
        assertTrue(e.getMessage().contains("model.merges[1]") && e.getMessage().contains("'c'"), e.getMessage());

        Files.writeString(f, "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"unk_token\": \"[UNK]\"}}");
        e = assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromFile(f));
        assertTrue(e.getMessage().contains("unk_token"), e.getMessage());

        Files.writeString(f, "[1, 2]");
        assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromFile(f));
        Files.writeString(f, "");
        assertThrows(TokenizerFormatException.class, () -> Tokenizer.fromFile(f));
        assertThrows(java.nio.file.NoSuchFileException.class, () -> Tokenizer.fromFile(tmp.resolve("nope.json")));
    }

    @Test
    void encodeNeverCrashes() throws Exception {
        for (Tokenizer t : List.of(Tokenizer.fromFile(TokenizerFixtures.miniLm()),
                Tokenizer.fromGpt2Files(TokenizerFixtures.gpt2Encoder(), TokenizerFixtures.gpt2Merges()),
                Tokenizer.fromFile(TokenizerFixtures.llamaJson()))) {
            for (String s : new String[] {"", " ", "\uD800", "\uDC00x", "\u0000", "\uFFFD", "a\u0301", "[CLS]<s>"}) {
                Encoding e = t.encode(s);
                t.decode(e.ids(), false);
            }
            t.decode(new int[] {-1, 99_999_999}, true);
        }
    }
}
