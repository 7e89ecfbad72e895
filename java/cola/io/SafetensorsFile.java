package cola.io;

import cola.tensor.DType;
import cola.tensor.Tensor;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A strictly validated safetensors file (the format of HF model weights and PEFT adapters).
 *
 * <p>{@link #open} reads and checks the whole header before any tensor data is touched: the 8-byte little-endian
 * header length (≤ 100 MB and inside the file), UTF-8 JSON object, every entry's dtype, shape and data_offsets,
 * dtype × shape = byte length, offsets that tile the data buffer exactly (no holes, no overlaps), and
 * 8 + N + buffer length = file size. Tensors are then read through memory-mapped windows of at most 1 GiB, so files
 * and tensors over 2 GB work.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The header limit the reference implementation enforces. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** One tensor's header entry. {@code dtype} is the file's dtype name; begin/end are absolute file offsets. */
    public record Entry(String name, String dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        public long byteLength() {
            return end - begin;
        }
    }

    private final Path path;
    private final FileChannel channel;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, Map<String, Entry> entries, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.entries = entries;
        this.metadata = metadata;
    }

    /** Opens and validates {@code path}; throws {@link SafetensorsFormatException} naming what is wrong. */
    public static SafetensorsFile open(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long size = ch.size();
            if (size < 8) throw new SafetensorsFormatException(path, "file is " + size + " bytes, shorter than the 8-byte header length");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long n = lenBuf.flip().getLong();
            if (n < 2 || n > MAX_HEADER_BYTES) {
                throw new SafetensorsFormatException(path, "header length " + Long.toUnsignedString(n)
                        + " is outside [2, " + MAX_HEADER_BYTES + "]");
            }
            if (8 + n > size) {
                throw new SafetensorsFormatException(path, "header length " + n + " runs past the end of the file ("
                        + size + " bytes)");
            }
            ByteBuffer headerBuf = ByteBuffer.allocate((int) n);
            readFully(ch, headerBuf, 8);
            String header;
            try {
                header = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(headerBuf.flip()).toString();
            } catch (CharacterCodingException e) {
                throw new SafetensorsFormatException(path, "header is not valid UTF-8");
            }
            if (!header.startsWith("{")) throw new SafetensorsFormatException(path, "header does not start with '{'");
            JsonNode root;
            try (JsonParser p = JSON.createParser(header)) {
                root = JSON.readTree(p);
                if (p.nextToken() != null) throw new SafetensorsFormatException(path, "trailing data after the header JSON");
            } catch (com.fasterxml.jackson.core.JacksonException e) {
                throw new SafetensorsFormatException(path, "header is not valid JSON: " + e.getOriginalMessage());
            }
            if (root == null || !root.isObject()) throw new SafetensorsFormatException(path, "header is not a JSON object");
            long dataStart = 8 + n;
            long bufferLength = size - dataStart;
            Map<String, String> metadata = new LinkedHashMap<>();
            List<Entry> list = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                if (f.getKey().equals("__metadata__")) {
                    parseMetadata(path, f.getValue(), metadata);
                } else {
                    list.add(parseEntry(path, f.getKey(), f.getValue(), dataStart, bufferLength));
                }
            }
            checkTiling(path, list, dataStart, bufferLength);
            Map<String, Entry> entries = new LinkedHashMap<>();
            for (Entry e : list) entries.put(e.name(), e);
            return new SafetensorsFile(path, ch, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static void parseMetadata(Path path, JsonNode node, Map<String, String> out) throws SafetensorsFormatException {
        if (!node.isObject()) throw new SafetensorsFormatException(path, "__metadata__ is not an object");
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> m = it.next();
            if (!m.getValue().isTextual()) {
                throw new SafetensorsFormatException(path, "__metadata__." + m.getKey() + " is not a string");
            }
            out.put(m.getKey(), m.getValue().asText());
        }
    }

    private static Entry parseEntry(Path path, String name, JsonNode node, long dataStart, long bufferLength)
            throws SafetensorsFormatException {
        String where = "tensor '" + name + "'";
        if (!node.isObject()) throw new SafetensorsFormatException(path, where + ": entry is not an object");
        JsonNode dt = node.get("dtype"), shape = node.get("shape"), off = node.get("data_offsets");
        if (dt == null || !dt.isTextual()) throw new SafetensorsFormatException(path, where + ": missing string field 'dtype'");
        int elemBytes = dtypeBytes(dt.asText());
        if (elemBytes < 0) throw new SafetensorsFormatException(path, where + ": unknown dtype '" + dt.asText() + "'");
        if (shape == null || !shape.isArray()) throw new SafetensorsFormatException(path, where + ": missing array field 'shape'");
        long[] s = new long[shape.size()];
        long numel = 1;
        for (int i = 0; i < s.length; i++) {
            JsonNode d = shape.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw new SafetensorsFormatException(path, where + ": shape[" + i + "] = " + d + " is not a non-negative integer");
            }
            s[i] = d.asLong();
            try {
                numel = Math.multiplyExact(numel, s[i]);
            } catch (ArithmeticException e) {
                throw new SafetensorsFormatException(path, where + ": shape " + shape + " overflows");
            }
        }
        if (off == null || !off.isArray() || off.size() != 2 || !off.get(0).isIntegralNumber()
                || !off.get(1).isIntegralNumber()) {
            throw new SafetensorsFormatException(path, where + ": 'data_offsets' must be [begin, end]");
        }
        long begin = off.get(0).asLong(), end = off.get(1).asLong();
        if (begin < 0 || end < begin || end > bufferLength) {
            throw new SafetensorsFormatException(path, where + ": data_offsets [" + begin + ", " + end
                    + ") are outside the data buffer of " + bufferLength + " bytes");
        }
        long expected;
        try {
            expected = Math.multiplyExact(numel, (long) elemBytes);
        } catch (ArithmeticException e) {
            throw new SafetensorsFormatException(path, where + ": byte length overflows");
        }
        if (end - begin != expected) {
            throw new SafetensorsFormatException(path, where + ": dtype " + dt.asText() + " × shape " + shape + " = "
                    + expected + " bytes but data_offsets span " + (end - begin));
        }
        return new Entry(name, dt.asText(), s, dataStart + begin, dataStart + end);
    }

    /** The entries, sorted by offset, must cover [0, bufferLength) exactly. */
    private static void checkTiling(Path path, List<Entry> list, long dataStart, long bufferLength)
            throws SafetensorsFormatException {
        List<Entry> sorted = new ArrayList<>(list);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long pos = dataStart;
        for (Entry e : sorted) {
            if (e.begin() < pos) {
                throw new SafetensorsFormatException(path, "tensor '" + e.name() + "' overlaps the previous tensor (data_offsets ["
                        + (e.begin() - dataStart) + ", " + (e.end() - dataStart) + "))");
            }
            if (e.begin() > pos) {
                throw new SafetensorsFormatException(path, "hole in the data buffer before tensor '" + e.name() + "' (bytes ["
                        + (pos - dataStart) + ", " + (e.begin() - dataStart) + ") belong to no tensor)");
            }
            pos = e.end();
        }
        if (pos != dataStart + bufferLength) {
            throw new SafetensorsFormatException(path, "file size is " + (dataStart + bufferLength) + " bytes but 8 + header + tensors = "
                    + pos + (pos < dataStart + bufferLength ? " (trailing bytes)" : ""));
        }
    }

    /** Bytes per element of a safetensors dtype, or -1 if unknown. */
    public static int dtypeBytes(String dtype) {
        return switch (dtype) {
            case "BOOL", "U8", "I8", "F8_E4M3", "F8_E5M2" -> 1;
            case "I16", "U16", "F16", "BF16" -> 2;
            case "I32", "U32", "F32" -> 4;
            case "I64", "U64", "F64" -> 8;
            default -> -1;
        };
    }

    /** The cola dtype for a safetensors dtype name, or null when cola has none. */
    public static DType colaDType(String dtype) {
        for (DType d : DType.values()) if (d.safetensorsName.equals(dtype)) return d;
        return null;
    }

    public Path path() {
        return path;
    }

    /** Tensor entries in header order. */
    public Map<String, Entry> entries() {
        return entries;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Entry entry(String name) {
        Entry e = entries.get(name);
        if (e == null) throw new IllegalArgumentException(path + ": no tensor '" + name + "'");
        return e;
    }

    /** Loads a tensor into a new host tensor of its own dtype. Caller owns (closes) it. */
    public Tensor load(String name) throws IOException {
        Entry e = entry(name);
        DType dt = colaDType(e.dtype());
        if (dt == null) {
            throw new SafetensorsFormatException(path, "tensor '" + name + "' has dtype " + e.dtype()
                    + ", which cola cannot hold (F32, BF16, F16, I32, I64)");
        }
        Tensor t = Tensor.zeros(dt, e.shape());
        try {
            t.readFrom(channel, e.begin());  // plain reads into the tensor: no mapped pages left in the RSS
        } catch (IOException | RuntimeException ex) {
            t.close();
            throw ex;
        }
        return t;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
