package cola.cli;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.lora.Lora;
import cola.lora.PeftAdapter;
import cola.model.Batch;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.tensor.Arena;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `init`, `train` (prompted SST-2 with LoRA, COLA and full fine-tuning; causal-LM text), `export` and `eval` on every
 * causal family (Qwen2 / Qwen3 / Mistral / Phi-3: a Llama folder given their config and q/k/v biases / q/k norms / a
 * window / fused projections), with tiny random models that use the real GPT-2 BPE vocabulary. The exports round-trip: the merged
 * folder and base + the whole-chain adapter give the trained model's logits, and `eval` of the merged export reproduces
 * the test loss the training run reported.
 */
class FamiliesTrainTest {
    @TempDir
    Path tmp;

    static Path gpt2Tokenizer() throws Exception {
        return Path.of(FamiliesTrainTest.class.getClassLoader().getResource("tokenizer/gpt2").toURI());
    }

    /** A tiny sentiment set in SST-2's fields. */
    Path sst2(String name, int n, int offset) throws Exception {
        String[] good = {"a wonderful film", "truly great acting", "I loved every minute", "a joyful story", "brilliant and moving"};
        String[] bad = {"a dull mess", "terrible acting", "I hated every minute", "a boring story", "painful and slow"};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            int k = (i + offset) % 5;
            boolean pos = (i + offset) % 2 == 0;
            sb.append("{\"sentence\": \"").append(pos ? good[k] : bad[k]).append("\", \"label\": ").append(pos ? 1 : 0).append("}\n");
        }
        Path p = tmp.resolve(name);
        Files.writeString(p, sb);
        return p;
    }

    Path init(String family) throws Exception {
        if (List.of("qwen2", "qwen3", "mistral", "phi3").contains(family)) return variant(init("llama"), family);
        Path dir = tmp.resolve(family);
        List<String> a = new ArrayList<>(List.of("init", "--family", family, "--tokenizer", gpt2Tokenizer().toString(), "--hidden",
                "32", "--layers", "2", "--heads", "4", "--ffn", "64", "--max-positions", "64", "--seed", "3", "--out", dir.toString()));
        if (family.equals("llama")) a.addAll(List.of("--kv-heads", "2"));
        assertEquals(0, ColaTrainer.commandLine().execute(a.toArray(String[]::new)));
        return dir;
    }

    /**
     * A Qwen2ForCausalLM folder from a Llama one (the Qwen2 config fields and q/k/v biases, random and small), a
     * Qwen3ForCausalLM one (per-head q/k RMSNorm weights instead of the biases), a MistralForCausalLM one (a sliding
     * window of 8 tokens, shorter than the rows), or a Phi3ForCausalLM one (q/k/v and gate/up concatenated into the
     * fused qkv_proj and gate_up_proj, and the same window).
     */
    Path variant(Path llama, String family) throws Exception {
        boolean q3 = family.equals("qwen3"), mistral = family.equals("mistral"), phi3 = family.equals("phi3");
        Path dir = Files.createDirectories(tmp.resolve(family));
        for (String f : List.of("encoder.json", "vocab.bpe")) {
            if (Files.exists(llama.resolve(f))) Files.copy(llama.resolve(f), dir.resolve(f));
        }
        com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode)
                new ObjectMapper().readTree(llama.resolve("config.json").toFile());
        cfg.putArray("architectures").add(q3 ? "Qwen3ForCausalLM" : mistral ? "MistralForCausalLM"
                : phi3 ? "Phi3ForCausalLM" : "Qwen2ForCausalLM");
        cfg.put("model_type", family);
        if (mistral || phi3) cfg.put("sliding_window", 8);
        else cfg.put("use_sliding_window", false);
        int headDim = cfg.get("hidden_size").asInt() / cfg.get("num_attention_heads").asInt();
        Files.writeString(dir.resolve("config.json"), cfg.toString());
        java.util.Map<String, cola.tensor.Tensor> ts = new java.util.LinkedHashMap<>();
        java.util.Random rng = new java.util.Random(5);
        try (cola.io.SafetensorsFile f = cola.io.SafetensorsFile.open(llama.resolve("model.safetensors"))) {
            for (String n : f.entries().keySet()) {
                ts.put(n, f.load(n));
                if (!q3 && !mistral && !phi3 && n.matches(".*self_attn\\.[qkv]_proj\\.weight")) {
                    float[] b = new float[(int) f.entry(n).shape()[0]];
                    for (int i = 0; i < b.length; i++) b[i] = (float) (0.05 * rng.nextGaussian());
                    ts.put(n.replace(".weight", ".bias"), cola.tensor.Tensor.of(b, b.length));
                }
                if (q3 && n.matches(".*self_attn\\.[qk]_proj\\.weight")) {
                    float[] w = new float[headDim];
                    for (int i = 0; i < w.length; i++) w[i] = (float) (1 + 0.1 * rng.nextGaussian());
                    ts.put(n.replace("_proj.weight", "_norm.weight"), cola.tensor.Tensor.of(w, w.length));
                }
            }
        }
        if (phi3) fuse(ts);
        try {
            cola.io.SafetensorsWriter.write(dir.resolve("model.safetensors"), ts, java.util.Map.of("format", "pt"));
        } finally {
            ts.values().forEach(cola.tensor.Tensor::close);
        }
        return dir;
    }

    /** Phi-3's layout: [q; k; v] rows as qkv_proj, [gate; up] rows as gate_up_proj (the parts are closed). */
    static void fuse(java.util.Map<String, cola.tensor.Tensor> ts) {
        for (int i = 0; ts.containsKey("model.layers." + i + ".self_attn.q_proj.weight"); i++) {
            String p = "model.layers." + i + ".";
            ts.put(p + "self_attn.qkv_proj.weight", rows(ts, p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight",
                    p + "self_attn.v_proj.weight"));
            ts.put(p + "mlp.gate_up_proj.weight", rows(ts, p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"));
        }
    }

    static cola.tensor.Tensor rows(java.util.Map<String, cola.tensor.Tensor> ts, String... names) {
        java.util.List<float[]> parts = new ArrayList<>();
        long rowsTotal = 0, cols = 0;
        for (String n : names) {
            try (cola.tensor.Tensor t = ts.remove(n)) {
                parts.add(t.toFloatArray());
                rowsTotal += t.dim(0);
                cols = t.dim(1);
            }
        }
        float[] all = new float[(int) (rowsTotal * cols)];
        int at = 0;
        for (float[] part : parts) {
            System.arraycopy(part, 0, all, at, part.length);
            at += part.length;
        }
        return cola.tensor.Tensor.of(all, rowsTotal, cols);
    }

    static String captured(String... args) {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, ColaTrainer.commandLine().execute(args), () -> buf.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(old);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    static float[] logits(Transformer m, Batch b) {
        try (Arena a = new Arena(1 << 20)) {
            return m.forward(a, b, 0).toFloatArray();
        }
    }

    static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    @ParameterizedTest
    @ValueSource(strings = {"opt", "llama", "gpt2", "qwen2", "qwen3", "mistral", "phi3"})
    void promptedSst2TrainsExportsAndEvaluates(String family) throws Exception {
        Path model = init(family), train = sst2("train.jsonl", 16, 0), dev = sst2("dev.jsonl", 8, 1), test = sst2("test.jsonl", 8, 2);
        Path run = tmp.resolve("run-" + family);
        String out = captured("train", "--model", model.toString(), "--task", "sst2", "--train", train.toString(), "--dev",
                dev.toString(), "--test", test.toString(), "--method", "all", "--chain-length", "2", "--ranks", "4",
                "--epochs", "2", "--batch-size", "4", "--max-length", "32", "--lr", "5e-3", "--full-lr", "1e-3",
                "--export", "--out", run.toString());
        assertTrue(out.contains("sst2 prompts (2 candidates: terrible/great): 16 train / 8 dev / 8 test"), out);
        String summary = Files.readString(run.resolve("summary.txt"));
        for (String m : List.of("LoRA", "COLA", "Full")) assertTrue(summary.contains(m), summary);
        List<JsonNode> rows = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) rows.add(new ObjectMapper().readTree(l));
        JsonNode cola = rows.stream().filter(r -> r.path("method").asText().equals("COLA") && r.has("test_loss")).findFirst().orElseThrow();
        assertEquals("[4]", cola.get("knots").toString(), "8 steps (2 epochs × 4 batches), 2 links: knot at 4");
        assertEquals(8.0, cola.get("effective_rank_delta_w").asDouble(), "two rank-4 links reach rank 8 in ΔW");
        assertEquals(2, cola.get("links").size());
        assertTrue(cola.get("links").get(1).get("lora_flops").asDouble() > 0);

        // exports round-trip against each other and against the run's own test loss
        Path exp = run.resolve("export").resolve("COLA");
        JsonNode adapterCfg = new ObjectMapper().readTree(exp.resolve("adapter/adapter_config.json").toFile());
        assertEquals(8, adapterCfg.get("r").asInt(), "the chain as one adapter: rank Σr = 4 + 4");
        assertEquals(8.0, adapterCfg.get("lora_alpha").asDouble(), "scale 1: s_i folded into B_i");
        assertEquals(4, new ObjectMapper().readTree(exp.resolve("last-link/adapter_config.json").toFile()).get("r").asInt());
        Batch b = pad(new int[][] {{464, 3807, 373, 1049}, {40, 12008, 340, 13, 632, 373}});
        try (Transformer merged = Transformer.load(exp.resolve("merged"), CpuBackend.get());
             Transformer base = Transformer.load(model, CpuBackend.get())) {
            float[] base0 = logits(base, b);
            List<LoraAdapter> ads = PeftAdapter.attach(exp.resolve("adapter"), base);
            double d = maxDiff(logits(merged, b), logits(base, b));
            assertTrue(d < 1e-4, family + ": merged export vs base + chain adapter differ by " + d);
            assertTrue(maxDiff(base0, logits(base, b)) > 1e-3, "the adapter changes the model");
            Lora.detach(base, ads);
        }
        String ev = captured("eval", "--model", exp.resolve("merged").toString(), "--task", "sst2", "--data", test.toString(),
                "--batch-size", "4", "--max-length", "32");
        Matcher mm = Pattern.compile("loss ([0-9.]+)").matcher(ev);
        assertTrue(mm.find(), ev);
        assertEquals(cola.get("test_loss").asDouble(), Double.parseDouble(mm.group(1)), 1e-4,
                "eval of the merged export reproduces the run's test loss: " + ev);
        String ev2 = captured("eval", "--model", model.toString(), "--adapter", exp.resolve("adapter").toString(), "--task",
                "sst2", "--data", test.toString(), "--batch-size", "4", "--max-length", "32");
        assertTrue(ev2.contains(String.format("accuracy %.4f", cola.get("test_accuracy").asDouble())), ev2);

        // export from the checkpoint reproduces train --export
        Path again = tmp.resolve("again-" + family);
        assertEquals(0, ColaTrainer.commandLine().execute("export", "--run", run.toString(), "--method", "COLA", "--out", again.toString()));
        try (Transformer a = Transformer.load(again.resolve("merged"), CpuBackend.get());
             Transformer m = Transformer.load(exp.resolve("merged"), CpuBackend.get())) {
            assertEquals(0.0, maxDiff(logits(a, b), logits(m, b)), "export from the final checkpoint == train --export");
        }
    }

    static Batch pad(int[][] rows) {
        int t = 0;
        for (int[] r : rows) t = Math.max(t, r.length);
        int[][] ids = new int[rows.length][t], mask = new int[ids.length][t];
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(rows[i], 0, ids[i], 0, rows[i].length);
            java.util.Arrays.fill(mask[i], 0, rows[i].length, 1);
        }
        return new Batch(ids, mask, null);
    }

    @Test
    void causalLmTextTrainsAndReportsPerplexity() throws Exception {
        Path model = init("opt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 24; i++) sb.append("{\"text\": \"the cat sat on the mat and the dog sat on the log number ").append(i).append("\"}\n");
        Path text = tmp.resolve("text.jsonl");
        Files.writeString(text, sb);
        Path run = tmp.resolve("lm");
        String out = captured("train", "--model", model.toString(), "--task", "lm", "--train", text.toString(), "--dev",
                text.toString(), "--method", "all", "--chain-length", "2", "--knots", "3", "--epochs", "2", "--batch-size", "4",
                "--max-length", "32", "--lr", "1e-2", "--full-lr", "1e-3", "--out", run.toString());
        assertTrue(out.contains("causal LM:"), out);
        String summary = Files.readString(run.resolve("summary.txt"));
        assertTrue(summary.contains("dev ppl") && summary.contains("Full"), summary);
        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        JsonNode first = new ObjectMapper().readTree(lines.get(0)), fin = null;
        for (String l : lines) if (l.contains("\"COLA\"") && l.contains("test_perplexity")) fin = new ObjectMapper().readTree(l);
        assertNotNull(fin);
        assertEquals("[3]", fin.get("knots").toString(), "--knots 3");
        assertTrue(first.get("dev_loss").asDouble() < Math.log(50257), "trained below the uniform-vocabulary loss");
    }

    /** --task prompt: a user's template and candidates on classification JSONL (SpamAssassin-style) with a causal LM. */
    @Test
    void customPromptTemplateTrainsACausalLmOnClassificationData() throws Exception {
        Path model = init("gpt2");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 12; i++) {
            sb.append(i % 2 == 0 ? "{\"text\": \"WIN a free prize now " + i + "\", \"label\": 1}\n"
                    : "{\"text\": \"meeting notes for monday " + i + "\", \"label\": 0}\n");
        }
        Path data = tmp.resolve("spam.jsonl");
        Files.writeString(data, sb);
        Path run = tmp.resolve("custom");
        String out = captured("train", "--model", model.toString(), "--task", "prompt", "--template",
                "{text}\\nIs this message spam? Yes or No?\\n", "--candidates", "No,Yes", "--train", data.toString(), "--dev",
                data.toString(), "--test", data.toString(), "--method", "lora", "--epochs", "1", "--batch-size", "4",
                "--max-length", "32", "--out", run.toString());
        assertTrue(out.contains("custom prompts (2 candidates: No/Yes): 12 train"), out);
        assertTrue(Files.readString(run.resolve("summary.txt")).contains("LoRA"));
        picocli.CommandLine cl = ColaTrainer.commandLine();
        java.io.StringWriter err = new java.io.StringWriter();
        cl.setErr(new java.io.PrintWriter(err));
        assertEquals(2, cl.execute("train", "--model", model.toString(), "--task", "prompt", "--train", data.toString(),
                "--test", data.toString(), "--dev", data.toString(), "--out", tmp.resolve("x").toString()));
        assertTrue(err.toString().contains("--task prompt needs --template"), err.toString());
    }
}
