package cola.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Small files written atomically: a temporary sibling, then a rename over the target (never a half-written file). */
public final class AtomicFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private AtomicFiles() {}

    /** Pretty-printed JSON (config.json, adapter_config.json). */
    public static void writeJson(Path target, JsonNode value) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = tempSibling(dir, target);
        try {
            JSON.writerWithDefaultPrettyPrinter().writeValue(tmp.toFile(), value);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }

    /** A copy of {@code source} (e.g. a config.json carried over unchanged). */
    public static void copy(Path source, Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = tempSibling(dir, target);
        try {
            Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }

    /** UTF-8 text (summaries, metrics, plots). */
    public static void writeString(Path target, String text) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = tempSibling(dir, target);
        try {
            Files.writeString(tmp, text, java.nio.charset.StandardCharsets.UTF_8);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }

    /**
     * A temporary file next to {@code target}. Files.createTempFile makes it owner-only (0600), which would leave a
     * user's exported model unreadable to the group that serves it; outputs get the usual rw-r--r-- instead.
     */
    public static Path tempSibling(Path dir, Path target) throws IOException {
        Path tmp = Files.createTempFile(dir, "." + target.getFileName(), ".tmp");
        try {
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException notPosix) {
            // not a POSIX file system: its defaults apply
        }
        return tmp;
    }
}
