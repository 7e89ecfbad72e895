package cola.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Hugging Face pre-tokenizers: text to words. */
final class PreTokenizers {
    private PreTokenizers() {}

    interface PreTokenizer {
        /**
         * Splits {@code s} into words appended to {@code out}; {@code atStart} is true when {@code s} begins the
         * input text (Metaspace's prepend_scheme "first").
         */
        void split(String s, boolean atStart, List<String> out);
    }

    static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /** BERT: whitespace removed, each punctuation character its own word. */
    record Bert() implements PreTokenizer {
        @Override
        public void split(String s, boolean atStart, List<String> out) {
            int start = -1;
            for (int i = 0; i < s.length(); ) {
                int c = s.codePointAt(i);
                int n = Character.charCount(c);
                if (Normalizers.isWhitespace(c)) {
                    if (start >= 0) out.add(s.substring(start, i));
                    start = -1;
                } else if ((c < 0x80 && isAsciiPunct(c)) || Normalizers.isPunctuation(c)) {
                    if (start >= 0) out.add(s.substring(start, i));
                    start = -1;
                    out.add(s.substring(i, i + n));
                } else if (start < 0) {
                    start = i;
                }
                i += n;
            }
            if (start >= 0) out.add(s.substring(start));
        }

        private static boolean isAsciiPunct(int c) {
            return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        }
    }

    /** {@code \w+|[^\w\s]+}. */
    record Whitespace() implements PreTokenizer {
        private static final Pattern P = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS);

        @Override
        public void split(String s, boolean atStart, List<String> out) {
            Matcher m = P.matcher(s);
            while (m.find()) out.add(m.group());
        }
    }

    record WhitespaceSplit() implements PreTokenizer {
        @Override
        public void split(String s, boolean atStart, List<String> out) {
            int start = -1;
            for (int i = 0; i < s.length(); ) {
                int c = s.codePointAt(i);
                if (Normalizers.isWhitespace(c)) {
                    if (start >= 0) out.add(s.substring(start, i));
                    start = -1;
                } else if (start < 0) {
                    start = i;
                }
                i += Character.charCount(c);
            }
            if (start >= 0) out.add(s.substring(start));
        }
    }

    /** GPT-2's byte-level step: optional prefix space, the GPT-2 regex, then bytes mapped to printable characters. */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        private static final Pattern P = Pattern.compile(GPT2_PATTERN, Pattern.UNICODE_CHARACTER_CLASS);

        @Override
        public void split(String s, boolean atStart, List<String> out) {
            if (addPrefixSpace && !s.startsWith(" ")) s = " " + s;
            if (!useRegex) {
                if (!s.isEmpty()) out.add(toByteChars(s));
                return;
            }
            Matcher m = P.matcher(s);
            int last = 0;
            while (m.find()) {
                if (m.start() > last) out.add(toByteChars(s.substring(last, m.start())));
                if (m.end() > m.start()) out.add(toByteChars(m.group()));
                last = m.end();
            }
            if (last < s.length()) out.add(toByteChars(s.substring(last)));
        }
    }

    /** SentencePiece's metaspace: spaces become the replacement character, optionally prepended and split on. */
    record Metaspace(char replacement, String prependScheme, boolean splitWords) implements PreTokenizer {
        @Override
        public void split(String s, boolean atStart, List<String> out) {
            if (s.isEmpty()) return;
            s = s.replace(' ', replacement);
            boolean prepend = switch (prependScheme) {
                case "always" -> true;
                case "first" -> atStart;
                default -> false;
            };
            if (prepend && s.charAt(0) != replacement) s = replacement + s;
            if (!splitWords) {
                out.add(s);
                return;
            }
            int start = 0;
            for (int i = 1; i < s.length(); i++) {
                if (s.charAt(i) == replacement) {
                    out.add(s.substring(start, i));
                    start = i;
                }
            }
            out.add(s.substring(start));
        }
    }

    /** Split with a regex, behaviour isolated / removed / merged_with_previous / merged_with_next / contiguous. */
    record Split(Pattern pattern, String behavior, boolean invert) implements PreTokenizer {
        @Override
        public void split(String s, boolean atStart, List<String> out) {
            // (start, end, isMatch) spans
            List<int[]> spans = new ArrayList<>();
            Matcher m = pattern.matcher(s);
            int last = 0;
            while (m.find()) {
                if (m.end() == m.start()) continue;
                if (m.start() > last) spans.add(new int[] {last, m.start(), invert ? 1 : 0});
                spans.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
                last = m.end();
            }
            if (last < s.length()) spans.add(new int[] {last, s.length(), invert ? 1 : 0});
            switch (behavior) {
                case "removed" -> {
                    for (int[] sp : spans) if (sp[2] == 0) out.add(s.substring(sp[0], sp[1]));
                }
                case "merged_with_previous" -> {
                    int start = 0;
                    for (int[] sp : spans) {
                        if (sp[2] == 1) {
                            out.add(s.substring(start, sp[1]));
                            start = sp[1];
                        }
                    }
                    if (start < s.length()) out.add(s.substring(start));
                }
                case "merged_with_next" -> {
                    int start = 0;
                    for (int[] sp : spans) {
                        if (sp[2] == 1 && sp[0] > start) {
                            out.add(s.substring(start, sp[0]));
                            start = sp[0];
                        }
                    }
                    if (start < s.length()) out.add(s.substring(start));
                }
                case "contiguous" -> {
                    int i = 0;
                    while (i < spans.size()) {
                        int j = i;
                        while (j + 1 < spans.size() && spans.get(j + 1)[2] == spans.get(i)[2] && spans.get(i)[2] == 1) j++;
                        out.add(s.substring(spans.get(i)[0], spans.get(j)[1]));
                        i = j + 1;
                    }
                }
                default -> {
                    for (int[] sp : spans) out.add(s.substring(sp[0], sp[1]));
                }
            }
        }
    }

    record Sequence(List<PreTokenizer> parts) implements PreTokenizer {
        @Override
        public void split(String s, boolean atStart, List<String> out) {
            List<String> cur = new ArrayList<>();
            cur.add(s);
            boolean first = true;
            for (PreTokenizer p : parts) {
                List<String> next = new ArrayList<>();
                for (int i = 0; i < cur.size(); i++) p.split(cur.get(i), atStart && i == 0, next);
                cur = next;
                first = false;
            }
            out.addAll(cur);
        }
    }

    // ---- GPT-2 bytes <-> unicode ----

    static final char[] BYTE_TO_CHAR = new char[256];
    static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    static String toByteChars(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        char[] cs = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) cs[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
        return new String(cs);
    }
}
