package cola.bench;

import cola.tokenizer.Tokenizer;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * GPT-2 byte-level BPE encode of ~1 MB of English-like text (one thread). The text is drawn Zipf-like from the
 * 20,000 lowest-id all-letter words of the GPT-2 vocabulary (lower id ≈ more frequent), with capitals, digits,
 * punctuation, sentence and paragraph breaks; one op = one 1 MB encode, so ops/s = MB/s.
 *
 * <p>Measured on the 2-core dev machine (shared, JDK 17, {@code -f 1 -wi 1 -i 2 -r 1} smoke run): 14.9 MB/s on one
 * thread (target ≥ 1 MB/s per core), with the BPE word cache warm after the first op.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1)
public class TokenizerBench {
    Tokenizer gpt2;
    String text;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        gpt2 = Tokenizer.fromGpt2Files(resource("tokenizer/gpt2/encoder.json"), resource("tokenizer/gpt2/vocab.bpe"));
        text = englishLike(1 << 20, 42);
    }

    @Benchmark
    public int gpt2Encode1MB() {
        return gpt2.encode(text).length();
    }

    static Path resource(String name) throws URISyntaxException {
        var url = TokenizerBench.class.getClassLoader().getResource(name);
        if (url == null) throw new IllegalStateException("missing test resource " + name);
        return Path.of(url.toURI());
    }

    /** Roughly {@code bytes} UTF-8 bytes of English-like text. */
    String englishLike(int bytes, long seed) {
        List<String> words = new ArrayList<>();
        for (int id = 0; id < 50_000 && words.size() < 20_000; id++) {
            String t = gpt2.idToToken(id);
            if (t != null && t.length() > 1 && t.charAt(0) == '\u0120' && t.substring(1).chars().allMatch(Character::isLowerCase)) {
                words.add(t.substring(1));
            }
        }
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder(bytes + 64);
        boolean sentenceStart = true;
        while (sb.length() < bytes) {
            // Zipf-like: index = n^u - 1 with u uniform
            int idx = (int) Math.min(words.size() - 1, Math.pow(words.size(), r.nextDouble()) - 1);
            String w = words.get(idx);
            if (sentenceStart) w = Character.toUpperCase(w.charAt(0)) + w.substring(1);
            sentenceStart = false;
            sb.append(w);
            int p = r.nextInt(100);
            if (p < 6) {
                sb.append(". ");
                sentenceStart = true;
                if (r.nextInt(8) == 0) sb.append("\n\n");
            } else if (p < 11) {
                sb.append(", ");
            } else if (p < 12) {
                sb.append(' ').append(r.nextInt(2030)).append(' ');
            } else {
                sb.append(' ');
            }
        }
        return new String(sb.toString().getBytes(StandardCharsets.UTF_8), 0, bytes, StandardCharsets.UTF_8);
    }
}
