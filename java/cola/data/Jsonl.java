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
import java.util.function.Function;

/**
 * Reads JSONL (one JSON object per line) into records. A line that is not an object, or that the parser rejects with
 * an {@link IllegalArgumentException}, is an {@link IOException} naming {@code file:line} and the parser's reason — or,
 * with {@code skipBadLines}, skipped and counted. Blank lines are ignored. An empty file is an error.
 */
public final class Jsonl {
    /** The records of one file and how many bad lines were skipped. */
    public record Read<T>(String source, List<T> records, int skipped) {}

    private static final ObjectMapper JSON = cola.json.StrictJson.MAPPER;

    private Jsonl() {}

    public static <T> Read<T> read(Path file, boolean skipBadLines, Function<JsonNode, T> parser) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString());
        try (InputStream in = Files.newInputStream(file)) {
            return read(file.toString(), in, skipBadLines, parser);
        }
    }

    /** A JSONL resource of the jar (the embedded tasks). */
    public static <T> Read<T> resource(String name, Function<JsonNode, T> parser) throws IOException {
        InputStream in = Jsonl.class.getClassLoader().getResourceAsStream(name);
        if (in == null) throw new NoSuchFileException("resource " + name + " is not in the jar");
        try (in) {
            return read(name, in, false, parser);
        }
    }

    public static <T> Read<T> read(String source, InputStream in, boolean skipBadLines, Function<JsonNode, T> parser)
            throws IOException {
        List<T> out = new ArrayList<>();
        int skipped = 0, lineNo = 0;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                lineNo++;
                if (line.isBlank()) continue;
                try {
                    JsonNode n;
                    try {
                        n = JSON.readTree(line);
                    } catch (com.fasterxml.jackson.core.JacksonException e) {
                        // Jackson's first line says what (a duplicate key, trailing content, a bad token), not where
                        String why = e.getOriginalMessage() == null ? "" : e.getOriginalMessage().lines().findFirst().orElse("");
                        throw new IllegalArgumentException("not valid JSON" + (why.isEmpty() ? "" : ": " + clip(why)));
                    } catch (IOException e) {
                        throw new IllegalArgumentException("not valid JSON");
                    }
                    if (n == null || !n.isObject()) throw new IllegalArgumentException("not a JSON object");
                    out.add(parser.apply(n));
                } catch (IllegalArgumentException e) {
                    if (!skipBadLines) {
                        throw new IOException(source + ":" + lineNo + ": " + e.getMessage() + " (use --skip-bad-lines to skip such lines)");
                    }
                    skipped++;
                }
            }
        }
        if (out.isEmpty()) throw new IOException(source + ": no examples");
        return new Read<>(source, List.copyOf(out), skipped);
    }

    /** A required string field. */
    public static String string(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || !v.isTextual()) throw new IllegalArgumentException("missing string field '" + field + "'");
        return v.asText();
    }

    /** A required string field that may sit one level down (SuperGLUE's WSC keeps spans under "target"). */
    public static String string(JsonNode n, String field, String parent) {
        if (n.has(field)) return string(n, field);
        JsonNode p = n.get(parent);
        if (p != null && p.isObject() && p.has(field)) return string(p, field);
        throw new IllegalArgumentException("missing string field '" + field + "' (or '" + parent + "." + field + "')");
    }

    /** At most 200 characters of a message, control characters escaped (it may quote the line). */
    private static String clip(String m) {
        StringBuilder b = new StringBuilder();
        for (char c : (m.length() > 200 ? m.substring(0, 200) + "…" : m).toCharArray()) {
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.toString();
    }
}
