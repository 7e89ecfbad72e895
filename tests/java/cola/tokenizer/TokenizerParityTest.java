package cola.tokenizer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * cola's tokenizers against Hugging Face's own (Rust, through DJL) on random strings: ASCII words, punctuation,
 * digits, whitespace runs, accents, CJK, emoji, Cyrillic/Greek and special-token literals.
 */
class TokenizerParityTest {
    static final int N = 1200;

    @Test
    void miniLmWordPiece() throws Exception {
        compare(TokenizerFixtures.miniLm(), "[CLS]", 1);
    }

    @Test
    void gpt2ByteLevelBpe() throws Exception {
        compare(TokenizerFixtures.gpt2Json(), "<|endoftext|>", 2);
    }

    @Test
    void llamaSentencePieceBpe() throws Exception {
        compare(TokenizerFixtures.llamaJson(), "<s>", 3);
    }

    @Test
    void llamaMetaspaceLayout() throws Exception {
        compare(TokenizerFixtures.llamaJson(true), "<s>", 4);
    }

    private static void compare(Path json, String special, long seed) throws Exception {
        Tokenizer ours = Tokenizer.fromFile(json);
        List<String> failures = new ArrayList<>();
        try (HuggingFaceTokenizer hf = HuggingFaceTokenizer.newInstance(json,
                Map.of("padding", "false", "truncation", "false", "addSpecialTokens", "true"))) {
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < N + EDGE.length; i++) {
                String s = i < EDGE.length ? EDGE[i].replace("SPECIAL", special) : randomText(r, special);
                var theirs = hf.encode(s);
                int[] want = Arrays.stream(theirs.getIds()).mapToInt(x -> (int) x).toArray();
                Encoding e = ours.encode(s);
                if (!Arrays.equals(want, e.ids())) {
                    failures.add(esc(s) + "\n   hf   " + Arrays.toString(want) + " " + Arrays.toString(theirs.getTokens())
                            + "\n   cola " + Arrays.toString(e.ids()) + " " + e.tokens());
                    continue;
                }
                if (!Arrays.asList(theirs.getTokens()).equals(e.tokens())) failures.add(esc(s) + " tokens differ");
                long[] typeIds = theirs.getTypeIds();
                for (int k = 0; k < typeIds.length; k++) {
                    if (typeIds[k] != e.typeIds()[k]) failures.add(esc(s) + " type ids differ");
                }
                for (boolean skip : new boolean[] {true, false}) {
                    String d = hf.decode(theirs.getIds(), skip);
                    String o = ours.decode(e.ids(), skip);
                    if (!d.equals(o)) failures.add(esc(s) + " decode(skip=" + skip + "): hf " + esc(d) + " cola " + esc(o));
                }
                if (i % 10 == 0) {
                    String b = randomText(r, special);
                    var tp = hf.encode(s, b);
                    Encoding op = ours.encode(s, b);
                    int[] wp = Arrays.stream(tp.getIds()).mapToInt(x -> (int) x).toArray();
                    int[] wt = Arrays.stream(tp.getTypeIds()).mapToInt(x -> (int) x).toArray();
                    if (!Arrays.equals(wp, op.ids()) || !Arrays.equals(wt, op.typeIds())) {
                        failures.add("pair " + esc(s) + " | " + esc(b));
                    }
                }
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " of " + N + " differ from Hugging Face, first:\n"
                + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
    }

    static String esc(String s) {
        StringBuilder sb = new StringBuilder("\"");
        s.codePoints().forEach(c -> {
            if (c < 0x20 || (c >= 0x7f && c < 0xA0) || c == 0x2028 || c == 0x2029) sb.append(String.format("\\u%04x", c));
            else sb.appendCodePoint(c);
        });
        return sb.append('"').toString();
    }

    /** Fixed edge cases, run before the random strings (SPECIAL: the tokenizer's special token). */
    private static final String[] EDGE = {"", " ", "  ", "\n", " \t\r\n ", "a", "SPECIAL", "SPECIALSPECIAL",
        " SPECIAL ", "xSPECIALy", "a".repeat(99) + "b", "a".repeat(101), "\u0000x\u0001y", "zero\u200Bwidth",
        "soft\u00ADhyphen", "\uFEFFbom", "tab\tand\u000Bvt", "A\u0300\u0301\u0302", "ǅ ǈ ǋ", "ＡＢＣ１２３",
        "  leading and trailing  ", "it's 'quoted' isn't", "e.g. U.S.A. 3.14 1,000,000", "\uD83D\uDC4D\uD83C\uDFFD",
        "\u2581already\u2581metaspace", "ĠGĠpt", "<0x41>", "##ing", "   \n\n   x"};

    private static final String PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»—–…“”‘’·•";
    private static final String[] WS = {" ", "  ", "   ", "\t", "\n", "\n\n", " \n ", "\r\n", "\u00A0", "\u3000", "\u2009"};
    private static final String[] ACCENTED = {"é", "É", "ü", "Ü", "ñ", "ç", "à", "ø", "å", "ß", "œ", "e\u0301", "a\u0308",
        "İ", "ı", "Σ", "ς", "ﬁ", "Å", "ő"};
    private static final String[] WORDS = {"the", "The", "hello", "world", "don't", "I'm", "we're", "they've", "it'll",
        "unaffable", "tokenization", "LoRA", "COLA", "GPT", "naïve", "café", "résumé", "Straße", "東京", "你好",
        "Привет", "мир", "Καλημέρα", "こんにちは", "안녕하세요", "مرحبا", "שלום", "नमस्ते"};

    static String randomText(SplittableRandom r, String special) {
        StringBuilder sb = new StringBuilder();
        int pieces = 1 + r.nextInt(14);
        for (int p = 0; p < pieces; p++) {
            switch (r.nextInt(11)) {
                case 0, 1 -> {
                    int len = 1 + r.nextInt(12);
                    for (int k = 0; k < len; k++) {
                        char c = (char) ('a' + r.nextInt(26));
                        sb.append(r.nextInt(5) == 0 ? Character.toUpperCase(c) : c);
                    }
                }
                case 2 -> sb.append(WORDS[r.nextInt(WORDS.length)]);
                case 3 -> sb.append(PUNCT.charAt(r.nextInt(PUNCT.length())));
                case 4 -> sb.append(r.nextInt(100_000));
                case 5, 6 -> sb.append(WS[r.nextInt(WS.length)]);
                case 7 -> sb.append(ACCENTED[r.nextInt(ACCENTED.length)]);
                case 8 -> {
                    int len = 1 + r.nextInt(4);
                    for (int k = 0; k < len; k++) sb.appendCodePoint(0x4E00 + r.nextInt(0x9FA5 - 0x4E00));
                }
                case 9 -> {
                    switch (r.nextInt(4)) {
                        case 0 -> sb.appendCodePoint(0x1F600 + r.nextInt(0x50));
                        case 1 -> sb.append("\uD83C\uDDEA\uD83C\uDDF8"); // flag
                        case 2 -> sb.append("\uD83D\uDC69\u200D\uD83D\uDCBB"); // ZWJ sequence
                        default -> sb.appendCodePoint(0x1F300 + r.nextInt(0x100));
                    }
                }
                default -> {
                    if (r.nextInt(4) == 0) sb.append(special);
                    else sb.append(' ');
                }
            }
        }
        return sb.toString();
    }
}
