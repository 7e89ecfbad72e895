package cola.tokenizer;

import java.text.Normalizer.Form;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Hugging Face normalizers (the ones BERT, GPT-2, RoBERTa, OPT and Llama files use). */
final class Normalizers {
    private Normalizers() {}

    interface Normalizer {
        String normalize(String s);
    }

    /** Rust's {@code char::is_whitespace} (the Unicode White_Space property). */
    static boolean isWhitespace(int c) {
        switch (c) {
            case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20: case 0x85: case 0xA0: case 0x1680:
            case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
                return true;
            default:
                return c >= 0x2000 && c <= 0x200A;
        }
    }

    /** Unicode categories Cc, Cf, Cn, Co, Cs (Rust unicode_categories {@code is_other}). */
    static boolean isOther(int c) {
        int t = Character.getType(c);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.UNASSIGNED
                || t == Character.PRIVATE_USE || t == Character.SURROGATE;
    }

    /** Unicode categories P* (Rust unicode_categories {@code is_punctuation}). */
    static boolean isPunctuation(int c) {
        int t = Character.getType(c);
        return t == Character.CONNECTOR_PUNCTUATION || t == Character.DASH_PUNCTUATION
                || t == Character.START_PUNCTUATION || t == Character.END_PUNCTUATION
                || t == Character.INITIAL_QUOTE_PUNCTUATION || t == Character.FINAL_QUOTE_PUNCTUATION
                || t == Character.OTHER_PUNCTUATION;
    }

    static boolean isChineseChar(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    /** Per character lowercase, as Rust's {@code char::to_lowercase} (no final-sigma rule). */
    static String lowercase(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if (c < 0x80) {
                sb.append((char) (c >= 'A' && c <= 'Z' ? c + 32 : c));
            } else if (c == 0x130) {
                sb.append("i\u0307");
            } else {
                sb.appendCodePoint(Character.toLowerCase(c));
            }
        }
        return sb.toString();
    }

    static String stripAccents(String s) {
        String d = java.text.Normalizer.normalize(s, Form.NFD);
        StringBuilder sb = new StringBuilder(d.length());
        for (int i = 0; i < d.length(); ) {
            int c = d.codePointAt(i);
            i += Character.charCount(c);
            if (Character.getType(c) != Character.NON_SPACING_MARK) sb.appendCodePoint(c);
        }
        return sb.toString();
    }

    record Bert(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase)
            implements Normalizer {
        @Override
        public String normalize(String s) {
            StringBuilder sb = new StringBuilder(s.length() + 8);
            for (int i = 0; i < s.length(); ) {
                int c = s.codePointAt(i);
                i += Character.charCount(c);
                if (cleanText) {
                    if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && isOther(c))) continue;
                    if (isWhitespace(c)) c = ' ';
                }
                if (handleChineseChars && isChineseChar(c)) {
                    sb.append(' ').appendCodePoint(c).append(' ');
                } else {
                    sb.appendCodePoint(c);
                }
            }
            String r = sb.toString();
            if (stripAccents) r = Normalizers.stripAccents(r);
            if (lowercase) r = Normalizers.lowercase(r);
            return r;
        }
    }

    record Sequence(List<Normalizer> parts) implements Normalizer {
        @Override
        public String normalize(String s) {
            for (Normalizer n : parts) s = n.normalize(s);
            return s;
        }
    }

    /** Prepends {@code prefix} to a non-empty string. */
    record Prepend(String prefix) implements Normalizer {
        @Override
        public String normalize(String s) {
            return s.isEmpty() ? s : prefix + s;
        }
    }

    record Replace(Pattern pattern, String content) implements Normalizer {
        @Override
        public String normalize(String s) {
            return pattern.matcher(s).replaceAll(Matcher.quoteReplacement(content));
        }
    }

    record Unicode(Form form) implements Normalizer {
        @Override
        public String normalize(String s) {
            return java.text.Normalizer.normalize(s, form);
        }
    }

    record Lowercase() implements Normalizer {
        @Override
        public String normalize(String s) {
            return lowercase(s);
        }
    }

    record StripAccents() implements Normalizer {
        @Override
        public String normalize(String s) {
            int n = s.length();
            StringBuilder sb = new StringBuilder(n);
            for (int i = 0; i < n; ) {
                int c = s.codePointAt(i);
                i += Character.charCount(c);
                if (Character.getType(c) != Character.NON_SPACING_MARK) sb.appendCodePoint(c);
            }
            return sb.toString();
        }
    }

    /** Strips whitespace on the left and/or right. */
    record Strip(boolean left, boolean right) implements Normalizer {
        @Override
        public String normalize(String s) {
            int b = 0;
            int e = s.length();
            if (left) while (b < e && isWhitespace(s.codePointAt(b))) b += Character.charCount(s.codePointAt(b));
            if (right) while (e > b && isWhitespace(s.codePointBefore(e))) e -= Character.charCount(s.codePointBefore(e));
            return s.substring(b, e);
        }
    }
}
