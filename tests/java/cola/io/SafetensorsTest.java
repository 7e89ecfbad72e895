package cola.io;

import static org.junit.jupiter.api.Assertions.*;

import cola.tensor.DType;
import cola.tensor.Half;
import cola.tensor.Tensor;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The strict safetensors reader and the atomic writer: round trips, and every malformation named, never a crash. */
class SafetensorsTest {
    @TempDir
    Path dir;

    /** A file with the given header JSON (unpadded) and data bytes. */
    private Path raw(String name, String header, byte[] data) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(data);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private String failure(Path p) {
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().startsWith(p.toString()), "names the file: " + e.getMessage());
        return e.getMessage();
    }

    @Test
    void roundTripsEveryDtypeWithMetadataAndPaddedHeader() throws IOException {
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (Tensor w = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
             Tensor ids = Tensor.ofInts(new int[] {7, -1}, 2);
             Tensor bf = Tensor.zeros(DType.BF16, 3);
             Tensor h = Tensor.zeros(DType.F16, 1, 1);
             Tensor l = Tensor.zeros(DType.I64, 1);
             Tensor empty = Tensor.zeros(DType.F32, 0, 4)) {
            bf.copyFrom(new short[] {Half.floatToBf16(1.5f), Half.floatToBf16(-2f), Half.floatToBf16(0.25f)});
            h.copyFrom(new short[] {Half.fromFloat(0.5f)});
            l.copyFrom(new long[] {1L << 40});
            ts.put("model.layers.0.w", w);
            ts.put("ids", ids);
            ts.put("bf", bf);
            ts.put("h", h);
            ts.put("l", l);
            ts.put("empty", empty);
            Path p = dir.resolve("m.safetensors");
            SafetensorsWriter.write(p, ts, Map.of("format", "pt"));
            byte[] bytes = Files.readAllBytes(p);
            long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, n % 8, "header padded to 8 bytes");
            assertEquals('{', bytes[8]);
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                assertEquals(Map.of("format", "pt"), f.metadata());
                assertEquals(6, f.entries().size());
                try (Tensor w2 = f.load("model.layers.0.w"); Tensor ids2 = f.load("ids"); Tensor bf2 = f.load("bf");
                     Tensor h2 = f.load("h"); Tensor l2 = f.load("l"); Tensor e2 = f.load("empty")) {
                    assertArrayEquals(new long[] {2, 3}, w2.shape());
                    assertArrayEquals(w.toFloatArray(), w2.toFloatArray());
                    assertArrayEquals(new int[] {7, -1}, ids2.toIntArray());
                    assertArrayEquals(new float[] {1.5f, -2f, 0.25f}, bf2.toFloatArray());
                    assertEquals(DType.F16, h2.dtype());
                    assertEquals(0.5f, h2.toFloatArray()[0]);
                    assertArrayEquals(new long[] {1L << 40}, l2.toLongArray());
                    assertEquals(0, e2.numel());
                }
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> f.load("nope"));
                assertTrue(e.getMessage().contains("no tensor 'nope'"));
            }
            assertEquals(1, Files.list(dir).count(), "no temp file left behind");
        }
    }

    @Test
    void malformedFilesGiveErrorsThatNameTheProblem() throws IOException {
        byte[] eight = new byte[8];
        String ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        // sanity: the well-formed variant opens
        SafetensorsFile.open(raw("ok", ok, eight)).close();

        Path tiny = dir.resolve("tiny");
        Files.write(tiny, new byte[] {1, 2, 3});
        assertTrue(failure(tiny).contains("shorter than the 8-byte header length"));

        Path truncated = raw("truncated", ok, new byte[4]);
        assertTrue(failure(truncated).contains("data_offsets [0, 8) are outside the data buffer of 4 bytes"));

        Path longHeader = dir.resolve("longheader");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).put(new byte[8]);
        Files.write(longHeader, b.array());
        assertTrue(failure(longHeader).contains("runs past the end of the file"));

        Path huge = dir.resolve("huge");
        Files.write(huge, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE).array());
        assertTrue(failure(huge).contains("is outside [2, 104857600]"));

        assertTrue(failure(raw("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight)).contains("overlaps"));
        assertTrue(failure(raw("hole", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight))
                .contains("hole in the data buffer before tensor 'a'"));
        assertTrue(failure(raw("trailing", ok, new byte[12])).contains("trailing bytes"));
        assertTrue(failure(raw("mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", eight))
                .contains("tensor 'a': dtype F32 × shape [3] = 12 bytes but data_offsets span 8"));
        assertTrue(failure(raw("dtype", "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight))
                .contains("tensor 'a': unknown dtype 'Q4'"));
        assertTrue(failure(raw("neg", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", eight))
                .contains("shape[0] = -2 is not a non-negative integer"));
        assertTrue(failure(raw("json", "{\"a\":{\"dtype\":\"F32\",", eight)).contains("not valid JSON"));
        assertTrue(failure(raw("array", "[1, 2, 3, 4, 5, 6]", new byte[0])).contains("does not start with '{'"));
        assertTrue(failure(raw("offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", eight))
                .contains("'data_offsets' must be [begin, end]"));
        assertTrue(failure(raw("meta", "{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                + "\"data_offsets\":[0,8]}}", eight)).contains("__metadata__.k is not a string"));
        assertTrue(failure(raw("dup", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", eight)).contains("not valid JSON"));
        byte[] badUtf8 = {'{', '"', (byte) 0xff, '"', ':', '1', '}'};
        Path bad = dir.resolve("utf8");
        ByteBuffer bb = ByteBuffer.allocate(8 + badUtf8.length).order(ByteOrder.LITTLE_ENDIAN).putLong(badUtf8.length)
                .put(badUtf8);
        Files.write(bad, bb.array());
        assertTrue(failure(bad).contains("not valid UTF-8"));
    }

    @Test
    void unsupportedDtypeIsNamedAtLoad() throws IOException {
        Path p = raw("f64", "{\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> f.load("d"));
            assertTrue(e.getMessage().contains("tensor 'd' has dtype F64"), e.getMessage());
        }
    }

    @Test
    void filesAndTensorsOver2GbLoad() throws IOException {
        // A sparse 2.2 GB tensor: the header is real, the data is a hole in the file except for two marked bytes.
        long numel = 550_000_000L;  // × 4 bytes = 2.2 GB
        String header = "{\"big\":{\"dtype\":\"F32\",\"shape\":[" + numel + "],\"data_offsets\":[0," + numel * 4 + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path p = dir.resolve("big.safetensors");
        long dataStart = 8 + h.length;
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            f.write(h);
            f.setLength(dataStart + numel * 4);
            f.seek(dataStart + (numel - 1) * 4);
            f.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(42f).array());
        }
        try (SafetensorsFile f = SafetensorsFile.open(p); Tensor t = f.load("big")) {
            assertEquals(numel, t.numel());
            ByteBuffer last = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            t.copyBytesTo((numel - 1) * 4, last);
            assertEquals(42f, last.flip().getFloat());
        }
    }

    /** Outputs are readable by the group that serves them (temp files start owner-only), and no temp file stays. */
    @Test
    void writtenFilesAreWorldReadableAndNoTempFileRemains() throws Exception {
        Path f = dir.resolve("perm.safetensors"), j = dir.resolve("perm.json");
        try (cola.tensor.Tensor t = cola.tensor.Tensor.of(new float[] {1, 2}, 2)) {
            SafetensorsWriter.write(f, java.util.Map.of("x", t), java.util.Map.of());
        }
        cola.io.AtomicFiles.writeString(j, "{}");
        for (Path p : new Path[] {f, j}) {
            assertEquals("rw-r--r--", java.nio.file.attribute.PosixFilePermissions.toString(
                    java.nio.file.Files.getPosixFilePermissions(p)), p.toString());
        }
        try (var s = java.nio.file.Files.list(dir)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")));
        }
    }
}
