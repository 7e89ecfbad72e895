package cola.io;

import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Imports a BERT-family encoder exported to ONNX (e.g. all-MiniLM-L6-v2) into a Hugging Face {@code BertModel} folder.
 *
 * <p>Biases, embeddings and LayerNorms keep their PyTorch names as ONNX initializers; the 36-or-so linear weights are
 * anonymous {@code onnx::MatMul_NNN} tensors stored [in, out]. Each is named by walking the graph: MatMul(x, W) feeds
 * an Add with the bias {@code <module>.bias}, so W is {@code <module>.weight} (transposed to HF's [out, in]). The head
 * count comes from the attention Reshape's constant shape [.., heads, head_dim]. Anything unexpected — external data,
 * a non-float weight, an unmapped MatMul — is an error naming it.
 */
public final class OnnxBertImporter {
    private record Init(String name, long[] dims, int dataType, int rawStart, int rawEnd, int floatStart, int floatEnd) {}

    private record Node(String op, List<String> in, List<String> out, List<long[]> constInts) {}

    private OnnxBertImporter() {}

    /** Imports {@code onnx} into {@code outDir} (config.json + model.safetensors [+ tokenizer.json]). */
    public static void importModel(Path onnx, Path outDir, Path tokenizer, Integer numHeads) throws IOException {
        try (FileChannel ch = FileChannel.open(onnx, StandardOpenOption.READ)) {
            if (ch.size() > Integer.MAX_VALUE) throw new IOException(onnx + ": ONNX files over 2 GB use external data, which is not supported");
            ByteBuffer b = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
            Map<String, Init> inits = new LinkedHashMap<>();
            List<Node> nodes = new ArrayList<>();
            try {
                parse(b, inits, nodes);
            } catch (IllegalStateException e) {
                throw new IOException(onnx + ": malformed ONNX protobuf: " + e.getMessage(), e);
            }
            if (inits.isEmpty()) throw new IOException(onnx + ": no graph initializers (is this an ONNX model?)");
            write(onnx, b, inits, nodes, outDir, tokenizer, numHeads);
        }
    }

    private static void parse(ByteBuffer b, Map<String, Init> inits, List<Node> nodes) {
        Protobuf model = new Protobuf(b, 0, b.limit());
        while (model.hasNext()) {
            Protobuf.Field f = model.next();
            if (f.number() != 7 || f.wireType() != 2) continue;  // ModelProto.graph
            Protobuf g = new Protobuf(b, f.start(), f.end());
            while (g.hasNext()) {
                Protobuf.Field gf = g.next();
                if (gf.wireType() != 2) continue;
                if (gf.number() == 5) {
                    Init t = tensor(b, gf.start(), gf.end());
                    inits.put(t.name(), t);
                } else if (gf.number() == 1) {
                    nodes.add(node(b, gf.start(), gf.end()));
                }
            }
        }
    }

    /** TensorProto: dims (1), data_type (2), float_data (4, packed), name (8), raw_data (9). */
    private static Init tensor(ByteBuffer b, int s, int e) {
        Protobuf p = new Protobuf(b, s, e);
        List<Long> dims = new ArrayList<>();
        String name = null;
        int type = 0, rs = -1, re = -1, fs = -1, fe = -1;
        while (p.hasNext()) {
            Protobuf.Field f = p.next();
            switch (f.number()) {
                case 1 -> {
                    if (f.wireType() != 0) throw new IllegalStateException("tensor dims in packed form are not supported");
                    dims.add(f.value());
                }
                case 2 -> type = (int) f.value();
                case 4 -> {
                    fs = f.start();
                    fe = f.end();
                }
                case 8 -> name = f.string(b);
                case 9 -> {
                    rs = f.start();
                    re = f.end();
                }
                case 14 -> throw new IllegalStateException("tensor '" + name + "' uses external data, which is not supported");
                default -> { }
            }
        }
        long[] d = dims.stream().mapToLong(Long::longValue).toArray();
        return new Init(name, d, type, rs, re, fs, fe);
    }

    /** NodeProto: input (1), output (2), op_type (4), attribute (5) — Constant nodes' int64 tensors are kept. */
    private static Node node(ByteBuffer b, int s, int e) {
        Protobuf p = new Protobuf(b, s, e);
        List<String> in = new ArrayList<>(), out = new ArrayList<>();
        List<long[]> ints = new ArrayList<>();
        String op = "";
        while (p.hasNext()) {
            Protobuf.Field f = p.next();
            if (f.number() == 1 && f.wireType() == 2) in.add(f.string(b));
            else if (f.number() == 2 && f.wireType() == 2) out.add(f.string(b));
            else if (f.number() == 4 && f.wireType() == 2) op = f.string(b);
            else if (f.number() == 5 && f.wireType() == 2) {
                Protobuf a = new Protobuf(b, f.start(), f.end());  // AttributeProto: t (5) = TensorProto
                while (a.hasNext()) {
                    Protobuf.Field af = a.next();
                    if (af.number() == 5 && af.wireType() == 2) {
                        Init t = tensor(b, af.start(), af.end());
                        if (t.dataType() == 7 && t.rawStart() >= 0) {  // INT64 raw
                            long[] v = new long[(t.rawEnd() - t.rawStart()) / 8];
                            for (int i = 0; i < v.length; i++) v[i] = b.getLong(t.rawStart() + 8 * i);
                            ints.add(v);
                        }
                    }
                }
            }
        }
        return new Node(op, in, out, ints);
    }

    private static void write(Path onnx, ByteBuffer b, Map<String, Init> inits, List<Node> nodes, Path outDir,
            Path tokenizer, Integer numHeads) throws IOException {
        Map<String, Node> producer = new HashMap<>();
        for (Node n : nodes) for (String o : n.out()) producer.put(o, n);
        Map<String, Tensor> out = new LinkedHashMap<>();
        try {
            for (Init t : inits.values()) {
                if (t.name().equals("embeddings.position_ids")) continue;  // a buffer, not a weight
                if (t.name().startsWith("onnx::")) {
                    String module = moduleOfMatMul(onnx, t.name(), nodes, inits);
                    out.put(module + ".weight", floats(onnx, b, t, true));
                } else {
                    out.put(t.name(), floats(onnx, b, t, false));
                }
            }
            int hidden = (int) dims(onnx, inits, "embeddings.word_embeddings.weight")[1];
            int heads = numHeads != null ? numHeads : headsFromGraph(onnx, nodes, producer, hidden);
            TreeSet<Integer> layers = new TreeSet<>();
            for (String k : out.keySet()) {
                if (k.startsWith("encoder.layer.")) layers.add(Integer.parseInt(k.split("\\.")[2]));
            }
            ObjectMapper om = new ObjectMapper();
            ObjectNode c = om.createObjectNode();
            c.putArray("architectures").add("BertModel");
            c.put("model_type", "bert");
            c.put("vocab_size", dims(onnx, inits, "embeddings.word_embeddings.weight")[0]);
            c.put("hidden_size", hidden);
            c.put("num_hidden_layers", layers.size());
            c.put("num_attention_heads", heads);
            c.put("intermediate_size", dims(onnx, inits, "encoder.layer.0.intermediate.dense.bias")[0]);
            c.put("max_position_embeddings", dims(onnx, inits, "embeddings.position_embeddings.weight")[0]);
            c.put("type_vocab_size", dims(onnx, inits, "embeddings.token_type_embeddings.weight")[0]);
            c.put("layer_norm_eps", 1e-12);
            c.put("hidden_act", "gelu");
            c.put("torch_dtype", "float32");
            c.put("cola_imported_from", onnx.getFileName().toString());
            Files.createDirectories(outDir);
            SafetensorsWriter.write(outDir.resolve("model.safetensors"), out, Map.of("format", "pt"));
            AtomicFiles.writeJson(outDir.resolve("config.json"), c);
            if (tokenizer != null) Files.copy(tokenizer, outDir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
        } finally {
            for (Tensor t : out.values()) t.close();
        }
    }

    private static long[] dims(Path onnx, Map<String, Init> inits, String name) throws IOException {
        Init t = inits.get(name);
        if (t == null) throw new IOException(onnx + ": missing initializer '" + name + "' (is this a BERT encoder?)");
        return t.dims();
    }

    /** MatMul(x, W) → Add(bias, ·) with bias "<module>.bias": W is <module>.weight. */
    private static String moduleOfMatMul(Path onnx, String weight, List<Node> nodes, Map<String, Init> inits) throws IOException {
        for (Node mm : nodes) {
            if (!mm.op().equals("MatMul") || mm.in().size() != 2 || !mm.in().get(1).equals(weight)) continue;
            for (Node add : nodes) {
                if (!add.op().equals("Add") || !add.in().contains(mm.out().get(0))) continue;
                for (String i : add.in()) {
                    if (i.endsWith(".bias") && inits.containsKey(i)) return i.substring(0, i.length() - 5);
                }
            }
        }
        throw new IOException(onnx + ": cannot tell which layer initializer '" + weight + "' belongs to (no MatMul → Add(bias) pattern)");
    }

    /** The Reshape of the first query projection splits [.., hidden] into [.., heads, head_dim]: read heads there. */
    private static int headsFromGraph(Path onnx, List<Node> nodes, Map<String, Node> producer, int hidden) throws IOException {
        for (Node add : nodes) {
            if (!add.op().equals("Add") || !add.in().contains("encoder.layer.0.attention.self.query.bias")) continue;
            for (Node r : nodes) {
                if (!r.op().equals("Reshape") || !r.in().get(0).equals(add.out().get(0))) continue;
                List<Long> consts = new ArrayList<>();
                Node shape = producer.get(r.in().get(1));
                if (shape != null) {
                    List<Node> sources = new ArrayList<>();
                    if (shape.op().equals("Concat")) for (String i : shape.in()) sources.add(producer.get(i));
                    else sources.add(shape);
                    for (Node s : sources) if (s != null && s.op().equals("Constant")) for (long[] v : s.constInts()) for (long x : v) consts.add(x);
                }
                if (consts.size() >= 2) {
                    long h = consts.get(consts.size() - 2), d = consts.get(consts.size() - 1);
                    if (h > 0 && h * d == hidden) return (int) h;
                }
            }
        }
        throw new IOException(onnx + ": cannot find the attention head count in the graph; pass it explicitly (--num-heads)");
    }

    /** f32 data of an initializer (raw_data or float_data), transposed [in, out] → [out, in] when asked. */
    private static Tensor floats(Path onnx, ByteBuffer b, Init t, boolean transpose) throws IOException {
        if (t.dataType() != 1) throw new IOException(onnx + ": initializer '" + t.name() + "' has ONNX data type " + t.dataType() + ", expected FLOAT (1)");
        long n = 1;
        for (long d : t.dims()) n *= d;
        int start = t.rawStart() >= 0 ? t.rawStart() : t.floatStart(), end = t.rawStart() >= 0 ? t.rawEnd() : t.floatEnd();
        if (start < 0 || end - start != n * 4) {
            throw new IOException(onnx + ": initializer '" + t.name() + "' holds " + (end - start) + " bytes for shape "
                    + java.util.Arrays.toString(t.dims()));
        }
        float[] v = new float[(int) n];
        b.slice(start, end - start).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
        if (!transpose) return Tensor.of(v, t.dims());
        if (t.dims().length != 2) throw new IOException(onnx + ": MatMul weight '" + t.name() + "' is not 2-D");
        int in = (int) t.dims()[0], out = (int) t.dims()[1];
        float[] tr = new float[v.length];
        for (int i = 0; i < in; i++) for (int o = 0; o < out; o++) tr[o * in + i] = v[i * out + o];
        return Tensor.of(tr, out, in);
    }
}
