package cola.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Causal-LM text: JSONL with a string field {@code "text"} per line (one document per line). */
public final class TextData {
    public record Split(String source, List<String> documents, int skipped) {}

    private TextData() {}

    public static Split read(Path file, boolean skipBadLines) throws IOException {
        Jsonl.Read<String> r = Jsonl.read(file, skipBadLines, n -> Jsonl.string(n, "text"));
        return new Split(r.source(), r.records(), r.skipped());
    }
}
