package cola.io;

import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * Imports a TensorFlow BERT checkpoint (TensorBundle: {@code variables.index}, a LevelDB SSTable whose values are
 * BundleEntryProto, plus {@code variables.data-00000-of-00001}, raw little-endian tensors) into a Hugging Face
 * {@code BertForMaskedLM} folder. Names {@code [module/]bert/encoder/layer_N/attention/self/query/kernel} map to HF keys,
 * kernels [in, out] are transposed to [out, in], {@code gamma/beta} become {@code weight/bias}. An uncompressed table,
 * one data shard and float tensors are required; anything else is an error naming the file and entry.
 */
public final class TfCheckpointImporter {
    private record Entry(int dtype, long[] shape, int shard, long offset, long size) {}

    private TfCheckpointImporter() {}

    /**
     * @param source a SavedModel folder (containing variables/), a variables/ folder, or the "variables" prefix path
     * @param vocab  a vocab.txt to copy into the folder (BERT WordPiece), or null
     */
    public static void importModel(Path source, Path outDir, Path vocab, Integer numHeads) throws IOException {
        Path prefix = source;
        if (Files.isDirectory(source.resolve("variables"))) prefix = source.resolve("variables").resolve("variables");
        else if (Files.isDirectory(source)) prefix = source.resolve("variables");
        Path index = Path.of(prefix + ".index"), data = Path.of(prefix + ".data-00000-of-00001");
        if (!Files.exists(index)) throw new NoSuchFileException(index + " (a TensorBundle checkpoint needs variables.index)");
        if (!Files.exists(data)) throw new NoSuchFileException(data + " (only single-shard checkpoints are supported)");
        Map<String, Entry> entries;
        try {
            entries = readIndex(index);
        } catch (IllegalStateException | IndexOutOfBoundsException e) {
            throw new IOException(index + ": malformed TensorBundle index: " + e.getMessage(), e);
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (FileChannel ch = FileChannel.open(data, StandardOpenOption.READ)) {
            if (ch.size() > Integer.MAX_VALUE) throw new IOException(data + ": data shards over 2 GB are not supported yet");
            ByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
            for (Map.Entry<String, Entry> e : entries.entrySet()) {
                String hf = hfName(e.getKey());
                if (hf == null) continue;  // optimiser slots, global_step, …
                Entry en = e.getValue();
                if (en.dtype() != 1) throw new IOException(index + ": '" + e.getKey() + "' has TF dtype " + en.dtype() + ", expected DT_FLOAT (1)");
                if (en.shard() != 0) throw new IOException(index + ": '" + e.getKey() + "' lives in shard " + en.shard() + "; only one shard is supported");
                long n = 1;
                for (long d : en.shape()) n *= d;
                if (en.size() != n * 4 || en.offset() < 0 || en.offset() + en.size() > buf.limit()) {
                    throw new IOException(data + ": '" + e.getKey() + "' at [" + en.offset() + ", " + (en.offset() + en.size())
                            + ") does not hold " + n + " floats inside the " + buf.limit() + "-byte shard");
                }
                float[] v = new float[(int) n];
                buf.slice((int) en.offset(), (int) en.size()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
                if (e.getKey().endsWith("/kernel") || e.getKey().endsWith("seq_relationship/output_weights")) {
                    if (e.getKey().endsWith("/kernel")) {  // [in, out] → [out, in]
                        int in = (int) en.shape()[0], o = (int) en.shape()[1];
                        float[] tr = new float[v.length];
                        for (int i = 0; i < in; i++) for (int j = 0; j < o; j++) tr[j * in + i] = v[i * o + j];
                        out.put(hf, Tensor.of(tr, o, in));
                        continue;
                    }
                }
                out.put(hf, Tensor.of(v, en.shape()));
            }
            write(index, out, outDir, vocab, numHeads);
        } finally {
            for (Tensor t : out.values()) t.close();
        }
    }

    /** TF variable name → HF BertForMaskedLM key, or null for variables the model does not use. */
    static String hfName(String tf) {
        String n = tf.startsWith("module/") ? tf.substring(7) : tf;
        if (!n.startsWith("bert/") && !n.startsWith("cls/")) return null;
        if (n.endsWith("/adam_m") || n.endsWith("/adam_v")) return null;
        n = n.replace("/gamma", "/weight").replace("/beta", "/bias").replace("/kernel", "/weight")
                .replace("layer_", "layer.").replace('/', '.');
        if (n.endsWith("_embeddings")) n += ".weight";
        if (n.equals("cls.predictions.output_bias")) return "cls.predictions.bias";
        if (n.equals("cls.seq_relationship.output_weights")) return "cls.seq_relationship.weight";
        if (n.equals("cls.seq_relationship.output_bias")) return "cls.seq_relationship.bias";
        return n;
    }

    private static void write(Path index, Map<String, Tensor> t, Path outDir, Path vocab, Integer numHeads) throws IOException {
        Tensor word = t.get("bert.embeddings.word_embeddings.weight");
        if (word == null) throw new IOException(index + ": no bert/embeddings/word_embeddings (is this a BERT checkpoint?)");
        int hidden = (int) word.dim(1);
        TreeSet<Integer> layers = new TreeSet<>();
        for (String k : t.keySet()) if (k.startsWith("bert.encoder.layer.")) layers.add(Integer.parseInt(k.split("\\.")[3]));
        Tensor inter = t.get("bert.encoder.layer.0.intermediate.dense.bias");
        if (inter == null) throw new IOException(index + ": no encoder layer 0 intermediate/dense/bias");
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = om.createObjectNode();
        c.putArray("architectures").add("BertForMaskedLM");
        c.put("model_type", "bert");
        c.put("vocab_size", word.dim(0));
        c.put("hidden_size", hidden);
        c.put("num_hidden_layers", layers.size());
        // the checkpoint does not record heads; BERT's convention is a head dimension of 64
        c.put("num_attention_heads", numHeads != null ? numHeads : hidden / 64);
        c.put("intermediate_size", inter.dim(0));
        c.put("max_position_embeddings", t.get("bert.embeddings.position_embeddings.weight").dim(0));
        c.put("type_vocab_size", t.get("bert.embeddings.token_type_embeddings.weight").dim(0));
        c.put("layer_norm_eps", 1e-12);
        c.put("hidden_act", "gelu");
        c.put("torch_dtype", "float32");
        Files.createDirectories(outDir);
        SafetensorsWriter.write(outDir.resolve("model.safetensors"), t, Map.of("format", "pt"));
        AtomicFiles.writeJson(outDir.resolve("config.json"), c);
        if (vocab != null) Files.copy(vocab, outDir.resolve("vocab.txt"), StandardCopyOption.REPLACE_EXISTING);
    }

    // ---------------------------------------------------------------- LevelDB SSTable

    /** Reads every (name, BundleEntryProto) of the table, following the index block to each data block. */
    static Map<String, Entry> readIndex(Path file) throws IOException {
        byte[] b = Files.readAllBytes(file);
        if (b.length < 48) throw new IllegalStateException("file of " + b.length + " bytes has no SSTable footer");
        ByteBuffer f = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if (f.getLong(b.length - 8) != 0xdb4775248b80fb57L) throw new IllegalStateException("bad SSTable magic number");
        int[] pos = {b.length - 48};
        varint(b, pos);  // metaindex offset
        varint(b, pos);  // metaindex size
        long indexOff = varint(b, pos), indexSize = varint(b, pos);
        Map<String, Entry> out = new LinkedHashMap<>();
        for (byte[][] kv : block(b, indexOff, indexSize)) {
            int[] p = {0};
            long off = varint(kv[1], p), size = varint(kv[1], p);
            for (byte[][] e : block(b, off, size)) {
                String key = new String(e[0], StandardCharsets.UTF_8);
                if (key.isEmpty()) continue;  // the BundleHeaderProto
                out.put(key, entry(e[1], key));
            }
        }
        return out;
    }

    /** Entries of one block: shared/non-shared key prefix compression, restart array at the end, 5-byte trailer. */
    private static java.util.List<byte[][]> block(byte[] b, long off, long size) {
        if (off < 0 || size < 4 || off + size + 5 > b.length) throw new IllegalStateException("block [" + off + ", +" + size + ") outside the file");
        if (b[(int) (off + size)] != 0) throw new IllegalStateException("compressed blocks are not supported (type " + b[(int) (off + size)] + ")");
        int start = (int) off, end = (int) (off + size);
        int restarts = ByteBuffer.wrap(b, end - 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        int dataEnd = end - 4 - 4 * restarts;
        if (restarts < 0 || dataEnd < start) throw new IllegalStateException("bad restart count " + restarts);
        java.util.List<byte[][]> out = new java.util.ArrayList<>();
        byte[] last = new byte[0];
        int[] p = {start};
        while (p[0] < dataEnd) {
            int shared = (int) varint(b, p), nonShared = (int) varint(b, p), valueLen = (int) varint(b, p);
            if (shared > last.length || p[0] + nonShared + valueLen > dataEnd) throw new IllegalStateException("entry at " + p[0] + " runs past its block");
            byte[] key = new byte[shared + nonShared];
            System.arraycopy(last, 0, key, 0, shared);
            System.arraycopy(b, p[0], key, shared, nonShared);
            p[0] += nonShared;
            byte[] value = java.util.Arrays.copyOfRange(b, p[0], p[0] + valueLen);
            p[0] += valueLen;
            out.add(new byte[][] {key, value});
            last = key;
        }
        return out;
    }

    /** BundleEntryProto: dtype (1), shape (2: TensorShapeProto.dim (2).size (1)), shard_id (3), offset (4), size (5). */
    private static Entry entry(byte[] v, String key) {
        ByteBuffer bb = ByteBuffer.wrap(v);
        Protobuf p = new Protobuf(bb, 0, v.length);
        int dtype = 0, shard = 0;
        long offset = 0, size = 0;
        java.util.List<Long> dims = new java.util.ArrayList<>();
        while (p.hasNext()) {
            Protobuf.Field f = p.next();
            switch (f.number()) {
                case 1 -> dtype = (int) f.value();
                case 2 -> {
                    Protobuf shape = new Protobuf(bb, f.start(), f.end());
                    while (shape.hasNext()) {
                        Protobuf.Field d = shape.next();
                        if (d.number() != 2 || d.wireType() != 2) continue;
                        Protobuf dim = new Protobuf(bb, d.start(), d.end());
                        while (dim.hasNext()) {
                            Protobuf.Field s = dim.next();
                            if (s.number() == 1) dims.add(s.value());
                        }
                    }
                }
                case 3 -> shard = (int) f.value();
                case 4 -> offset = f.value();
                case 5 -> size = f.value();
                default -> { }
            }
        }
        return new Entry(dtype, dims.stream().mapToLong(Long::longValue).toArray(), shard, offset, size);
    }

    private static long varint(byte[] b, int[] pos) {
        long r = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos[0] >= b.length) throw new IllegalStateException("varint past the end");
            byte x = b[pos[0]++];
            r |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) return r;
        }
        throw new IllegalStateException("varint too long");
    }
}
