package cola.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Generic JSONL classification data: one object per line, {@code {"text": …, "label": …}} with an optional
 * {@code "text_pair"} (sentence pairs). Labels are integers 0..K-1. A bad line is an error naming file:line and the
 * field, or, with {@code skipBadLines}, skipped and counted.
 */
public final class ClassificationData {
    public record Example(String text, String textPair, int label) {}

    public record Split(String source, List<Example> examples, int skipped) {
        public int numLabels() {
            int max = -1;
            for (Example e : examples) max = Math.max(max, e.label());
            return max + 1;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private ClassificationData() {}

    public static Split read(Path file, boolean skipBadLines) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString());
        try (InputStream in = Files.newInputStream(file)) {
            return read(file.toString(), in, skipBadLines);
        }
    }

    /** Reads a JSONL resource of the jar (the embedded tasks). */
    public static Split resource(String name) throws IOException {
        InputStream in = ClassificationData.class.getClassLoader().getResourceAsStream(name);
        if (in == null) throw new NoSuchFileException("resource " + name + " is not in the jar");
        try (in) {
            return read(name, in, false);
        }
    }

    static Split read(String source, InputStream in, boolean skipBadLines) throws IOException {
        List<Example> out = new ArrayList<>();
        int skipped = 0, lineNo = 0;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) continue;
                try {
                    out.add(parse(line));
                } catch (IllegalArgumentException e) {
                    if (!skipBadLines) throw new IOException(source + ":" + lineNo + ": " + e.getMessage() + " (use --skip-bad-lines to skip such lines)");
                    skipped++;
                }
            }
        }
        if (out.isEmpty()) throw new IOException(source + ": no examples");
        return new Split(source, List.copyOf(out), skipped);
    }

    private static Example parse(String line) {
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (IOException e) {
            throw new IllegalArgumentException("not valid JSON");
        }
        if (n == null || !n.isObject()) throw new IllegalArgumentException("not a JSON object");
        JsonNode text = n.get("text"), pair = n.get("text_pair"), label = n.get("label");
        if (text == null || !text.isTextual()) throw new IllegalArgumentException("missing string field 'text'");
        if (pair != null && !pair.isNull() && !pair.isTextual()) throw new IllegalArgumentException("'text_pair' must be a string");
        if (label == null || !label.isIntegralNumber() || label.asInt() < 0) {
            throw new IllegalArgumentException("'label' must be an integer >= 0, got " + label);
        }
        return new Example(text.asText(), pair == null || pair.isNull() ? null : pair.asText(), label.asInt());
    }
}
