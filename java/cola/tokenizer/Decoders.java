package cola.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Hugging Face decoders: token strings back to text (each works on the list, the result is joined). */
final class Decoders {
    private Decoders() {}

    interface Decoder {
        List<String> decodeChain(List<String> tokens);
    }

    static String decode(Decoder d, List<String> tokens) {
        if (d == null) return String.join(" ", tokens);
        return String.join("", d.decodeChain(tokens));
    }

    record ByteLevel() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (String t : tokens) {
                boolean all = true;
                for (int i = 0; i < t.length() && all; i++) {
                    char c = t.charAt(i);
                    all = c < PreTokenizers.CHAR_TO_BYTE.length && PreTokenizers.CHAR_TO_BYTE[c] >= 0;
                }
                if (all) {
                    for (int i = 0; i < t.length(); i++) bytes.write(PreTokenizers.CHAR_TO_BYTE[t.charAt(i)]);
                } else {
                    bytes.writeBytes(t.getBytes(StandardCharsets.UTF_8));
                }
            }
            return List.of(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
        }
    }

    record WordPiece(String prefix, boolean cleanup) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                String t = tokens.get(i);
                if (i != 0) t = t.startsWith(prefix) ? t.substring(prefix.length()) : " " + t;
                if (cleanup) t = cleanup(t);
                out.add(t);
            }
            return out;
        }

        static String cleanup(String s) {
            return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
                    .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't")
                    .replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
        }
    }

    record Replace(String pattern, String content) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) out.add(t.replace(pattern, content));
            return out;
        }
    }

    record ByteFallback() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            for (String t : tokens) {
                int b = byteToken(t);
                if (b >= 0) {
                    pending.write(b);
                } else {
                    flush(pending, out);
                    out.add(t);
                }
            }
            flush(pending, out);
            return out;
        }

        private static int byteToken(String t) {
            if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') return -1;
            int hi = Character.digit(t.charAt(3), 16);
            int lo = Character.digit(t.charAt(4), 16);
            return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }

        private static void flush(ByteArrayOutputStream pending, List<String> out) {
            if (pending.size() == 0) return;
            byte[] bytes = pending.toByteArray();
            try {
                out.add(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString());
            } catch (CharacterCodingException e) {
                for (int i = 0; i < bytes.length; i++) out.add("\uFFFD");
            }
            pending.reset();
        }
    }

    record Fuse() implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            return List.of(String.join("", tokens));
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters of each token. */
    record Strip(char content, int start, int stop) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
                int b = 0;
                int e = t.length();
                for (int i = 0; i < start && b < e && t.charAt(b) == content; i++) b++;
                for (int i = 0; i < stop && e > b && t.charAt(e - 1) == content; i++) e--;
                out.add(t.substring(b, e));
            }
            return out;
        }
    }

    record Metaspace(char replacement, String prependScheme) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                String t = tokens.get(i).replace(replacement, ' ');
                if (i == 0 && !"never".equals(prependScheme) && t.startsWith(" ")) t = t.substring(1);
                out.add(t);
            }
            return out;
        }
    }

    record Sequence(List<Decoder> parts) implements Decoder {
        @Override
        public List<String> decodeChain(List<String> tokens) {
            for (Decoder d : parts) tokens = d.decodeChain(tokens);
            return tokens;
        }
    }
}
