package cola.data;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
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

    private ClassificationData() {}

    public static Split read(Path file, boolean skipBadLines) throws IOException {
        return of(Jsonl.read(file, skipBadLines, ClassificationData::parse));
    }

    /** Reads a JSONL resource of the jar (the embedded tasks). */
    public static Split resource(String name) throws IOException {
        return of(Jsonl.resource(name, ClassificationData::parse));
    }

    static Split read(String source, InputStream in, boolean skipBadLines) throws IOException {
        return of(Jsonl.read(source, in, skipBadLines, ClassificationData::parse));
    }

    private static Split of(Jsonl.Read<Example> r) {
        return new Split(r.source(), r.records(), r.skipped());
    }

    static Example parse(JsonNode n) {
        JsonNode text = n.get("text"), pair = n.get("text_pair"), label = n.get("label");
        if (text == null || !text.isTextual()) throw new IllegalArgumentException("missing string field 'text'");
        if (pair != null && !pair.isNull() && !pair.isTextual()) throw new IllegalArgumentException("'text_pair' must be a string");
        if (label == null || !label.isIntegralNumber() || label.asInt() < 0) {
            throw new IllegalArgumentException("'label' must be an integer >= 0, got " + label);
        }
        return new Example(text.asText(), pair == null || pair.isNull() ? null : pair.asText(), label.asInt());
    }
}
