package cola.io;

import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes safetensors files as the Python library does: header JSON padded with spaces to a multiple of 8, tensors in
 * name order, contiguous. Atomic: the file is written to a temporary sibling, fsynced, then renamed over the target,
 * so a crash never leaves a half-written file under the real name. Device tensors are copied to the host chunk by chunk
 * ({@link Tensor#copyBytesTo}, 16 MiB at a time) as they are written: no whole-tensor host copy.
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int CHUNK = 1 << 24;

    private SafetensorsWriter() {}

    public static void write(Path target, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        Map<String, Tensor> sorted = new TreeMap<>(tensors);
        ObjectNode header = JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            new TreeMap<>(metadata).forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
            if (e.getKey().equals("__metadata__")) throw new IllegalArgumentException("'__metadata__' is not a tensor name");
            Tensor t = e.getValue();
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", t.dtype().safetensorsName);
            ArrayNode shape = entry.putArray("shape");
            for (long d : t.shape()) shape.add(d);
            ArrayNode off = entry.putArray("data_offsets");
            off.add(offset);
            offset += t.byteSize();
            off.add(offset);
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = AtomicFiles.tempSibling(dir, target);
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                while (head.hasRemaining()) ch.write(head);
                ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
                for (Tensor t : sorted.values()) {
                    for (long off = 0; off < t.byteSize(); off += CHUNK) {
                        int len = (int) Math.min(CHUNK, t.byteSize() - off);
                        buf.clear().limit(len);
                        t.copyBytesTo(off, buf);
                        buf.flip();
                        while (buf.hasRemaining()) ch.write(buf);
                    }
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
    }
}
