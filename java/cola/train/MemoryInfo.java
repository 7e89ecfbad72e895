package cola.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process's memory as Linux reports it (/proc): the peak resident set (VmHWM) that summary.txt and metrics.jsonl
 * quote, and the memory available for a new allocation (MemAvailable) that {@code --recompute auto} compares its
 * estimate with. -1 where /proc does not say (not Linux).
 */
public final class MemoryInfo {
    private MemoryInfo() {}

    /** Peak resident set size of this process, in bytes. */
    public static long peakRssBytes() {
        return kib(Path.of("/proc/self/status"), "VmHWM:");
    }

    /** Memory the kernel could give a new allocation without swapping, in bytes. */
    public static long availableBytes() {
        return kib(Path.of("/proc/meminfo"), "MemAvailable:");
    }

    private static long kib(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key)) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
