package cola.lora;

import cola.backend.Backend;
import cola.io.SafetensorsFile;
import cola.io.SafetensorsWriter;
import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.tensor.DType;
import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * PEFT LoRA adapters in and out: {@code adapter_config.json} + {@code adapter_model.safetensors} with keys
 * {@code base_model.model.<module path>.lora_A.weight} [r, in] and {@code .lora_B.weight} [out, r]. Unknown config keys
 * are ignored (as PEFT does); unknown tensor keys, missing halves and shape mismatches are errors naming the key.
 * modules_to_save (a trained classifier) are stored as {@code base_model.model.<module>.weight/bias}.
 */
public final class PeftAdapter {
    public static final String PREFIX = "base_model.model.";

    /**
     * The adapter_config.json fields cola uses. {@code rankPattern} / {@code alphaPattern} are PEFT's per-module
     * overrides of r and lora_alpha, keyed by a regular expression that matches a module path's end (PEFT:
     * {@code re.match(rf"(.*\.)?({key})$", module)}; the first matching key wins).
     */
    public record Config(int r, double alpha, List<String> targetModules, double dropout, boolean rslora,
            boolean fanInFanOut, List<String> modulesToSave, String taskType, String baseModel,
            Map<String, Integer> rankPattern, Map<String, Double> alphaPattern) {
        public Config {
            rankPattern = rankPattern == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(rankPattern));
            alphaPattern = alphaPattern == null ? Map.of() : java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(alphaPattern));
        }

        /** Without per-module patterns. */
        public Config(int r, double alpha, List<String> targetModules, double dropout, boolean rslora,
                boolean fanInFanOut, List<String> modulesToSave, String taskType, String baseModel) {
            this(r, alpha, targetModules, dropout, rslora, fanInFanOut, modulesToSave, taskType, baseModel, null, null);
        }

        /** r of a module: its rank_pattern entry, else r. */
        public int rankOf(String module) {
            String k = patternKey(module, rankPattern.keySet());
            return k == null ? r : rankPattern.get(k);
        }

        /** lora_alpha of a module: its alpha_pattern entry, else lora_alpha. */
        public double alphaOf(String module) {
            String k = patternKey(module, alphaPattern.keySet());
            return k == null ? alpha : alphaPattern.get(k);
        }

        private static String patternKey(String module, java.util.Set<String> keys) {
            for (String k : keys) if (java.util.regex.Pattern.compile("(.*\\.)?(" + k + ")$").matcher(module).matches()) return k;
            return null;
        }
    }

    private PeftAdapter() {}

    public static Config readConfig(Path dir) throws IOException {
        Path f = dir.resolve("adapter_config.json");
        if (!Files.exists(f)) throw new NoSuchFileException(f + " (a PEFT adapter folder needs adapter_config.json)");
        JsonNode n;
        try {
            n = cola.json.StrictJson.MAPPER.readTree(f.toFile());
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(f + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        String type = n.path("peft_type").asText("");
        if (!type.equals("LORA")) throw new IOException(f + ": peft_type is '" + type + "', cola reads LORA adapters");
        if (!n.path("r").isIntegralNumber() || n.path("r").asInt() <= 0) throw new IOException(f + ": 'r' must be a positive integer");
        List<String> targets = new ArrayList<>();
        JsonNode tm = n.path("target_modules");
        if (tm.isArray()) tm.forEach(x -> targets.add(x.asText()));
        else if (tm.isTextual()) targets.add(tm.asText());
        List<String> save = new ArrayList<>();
        if (n.path("modules_to_save").isArray()) n.path("modules_to_save").forEach(x -> save.add(x.asText()));
        Map<String, Integer> ranks = new java.util.LinkedHashMap<>();
        Map<String, Double> alphas = new java.util.LinkedHashMap<>();
        for (var e : patterns(f, n, "rank_pattern").entrySet()) {
            if (!e.getValue().isIntegralNumber() || e.getValue().asLong() <= 0 || e.getValue().asLong() > Integer.MAX_VALUE) {
                throw new IOException(f + ": rank_pattern['" + e.getKey() + "'] must be a positive integer, got " + e.getValue());
            }
            ranks.put(e.getKey(), e.getValue().asInt());
        }
        for (var e : patterns(f, n, "alpha_pattern").entrySet()) {
            if (!e.getValue().isNumber() || !Double.isFinite(e.getValue().asDouble())) {
                throw new IOException(f + ": alpha_pattern['" + e.getKey() + "'] must be a finite number, got " + e.getValue());
            }
            alphas.put(e.getKey(), e.getValue().asDouble());
        }
        return new Config(n.path("r").asInt(), n.path("lora_alpha").asDouble(n.path("r").asInt()), targets,
                n.path("lora_dropout").asDouble(0), n.path("use_rslora").asBoolean(false),
                n.path("fan_in_fan_out").asBoolean(false), save, n.path("task_type").asText(null),
                n.path("base_model_name_or_path").asText(null), ranks, alphas);
    }

    /** A {pattern: value} object of adapter_config.json (absent or null: empty); each key must be a valid regex. */
    private static Map<String, JsonNode> patterns(Path f, JsonNode n, String field) throws IOException {
        JsonNode p = n.path(field);
        Map<String, JsonNode> out = new java.util.LinkedHashMap<>();
        if (p.isMissingNode() || p.isNull()) return out;
        if (!p.isObject()) throw new IOException(f + ": '" + field + "' must be an object of {module pattern: value}");
        for (var it = p.fields(); it.hasNext(); ) {
            var e = it.next();
            try {
                java.util.regex.Pattern.compile(e.getKey());
            } catch (java.util.regex.PatternSyntaxException ex) {
                throw new IOException(f + ": " + field + " key '" + e.getKey() + "' is not a valid pattern: "
                        + ex.getDescription());
            }
            out.put(e.getKey(), e.getValue());
        }
        return out;
    }

    /**
     * Reads the adapter in {@code dir} and attaches it to {@code model}'s linears (replacing modules_to_save weights),
     * its tensors on the model's device. Returns the adapters, owned by the caller.
     */
    public static List<LoraAdapter> attach(Path dir, Transformer model) throws IOException {
        Config cfg = readConfig(dir);
        Path file = dir.resolve("adapter_model.safetensors");
        if (!Files.exists(file)) throw new NoSuchFileException(file + " (the adapter's weights)");
        List<LoraAdapter> out = new ArrayList<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, String[]> pairs = new TreeMap<>();
            for (String key : f.entries().keySet()) {
                if (!key.startsWith(PREFIX)) throw new IOException(file + ": key '" + key + "' does not start with " + PREFIX);
                String rest = key.substring(PREFIX.length());
                if (rest.endsWith(".lora_A.weight")) {
                    pairs.computeIfAbsent(rest.substring(0, rest.length() - 14), k -> new String[2])[0] = key;
                } else if (rest.endsWith(".lora_B.weight")) {
                    pairs.computeIfAbsent(rest.substring(0, rest.length() - 14), k -> new String[2])[1] = key;
                } else {
                    replaceSaved(file, f, key, rest, model, cfg);
                }
            }
            try {
                for (Map.Entry<String, String[]> p : pairs.entrySet()) {
                    String path = p.getKey();
                    if (p.getValue()[0] == null || p.getValue()[1] == null) {
                        throw new IOException(file + ": module '" + path + "' has only one of lora_A / lora_B");
                    }
                    Linear lin = model.linear(path);
                    if (lin == null) throw new IOException(file + ": no linear layer '" + path + "' in this " + model.config.architecture());
                    // PEFT saves adapters in the training dtype (often bf16/fp16): widened here to fp32 masters
                    Tensor a = asF32(f.load(p.getValue()[0])), b = asF32(f.load(p.getValue()[1]));
                    if (a.dtype() != DType.F32 || b.dtype() != DType.F32 || a.rank() != 2 || b.rank() != 2
                            || a.dim(1) != lin.in || b.dim(0) != lin.out || a.dim(0) != b.dim(1)) {
                        String msg = file + ": " + path + " lora_A " + a.describe() + " / lora_B " + b.describe()
                                + " do not fit a layer with in=" + lin.in + ", out=" + lin.out + " (need f32/bf16/f16 [r, in], [out, r])";
                        a.close();
                        b.close();
                        throw new IOException(msg);
                    }
                    int r = (int) a.dim(0);
                    if (r != cfg.rankOf(path)) {
                        a.close();
                        b.close();
                        throw new IOException(file + ": " + path + " has rank-" + r + " tensors but adapter_config.json says r = "
                                + cfg.rankOf(path) + (cfg.rankPattern().isEmpty() ? "" : " (rank_pattern " + cfg.rankPattern() + ")"));
                    }
                    Backend be = model.backend();
                    a = be.adopt(a);
                    try {
                        b = be.adopt(b);
                    } catch (RuntimeException ex) {
                        a.close();
                        throw ex;
                    }
                    LoraAdapter ad = new LoraAdapter(be, path, a, b, LoraAdapter.scale(cfg.alphaOf(path), r, cfg.rslora()),
                            (float) cfg.dropout());
                    out.add(ad);
                    lin.setLora(ad);
                }
            } catch (IOException | RuntimeException e) {
                for (LoraAdapter ad : out) ad.close();
                throw e;
            }
        }
        return out;
    }

    /** A host tensor as f32: itself, or (bf16/f16, closed here) a widened copy; other dtypes pass through unchanged. */
    private static Tensor asF32(Tensor t) {
        if (t.dtype() != DType.BF16 && t.dtype() != DType.F16) return t;
        try (t) {
            return Tensor.of(t.toFloatArray(), t.shape());
        }
    }

    /** modules_to_save: the adapter's copy of e.g. the classifier replaces the base weights. */
    private static void replaceSaved(Path file, SafetensorsFile f, String key, String rest, Transformer model, Config cfg)
            throws IOException {
        int dot = rest.lastIndexOf('.');
        String module = dot < 0 ? rest : rest.substring(0, dot), param = dot < 0 ? "" : rest.substring(dot + 1);
        Linear lin = model.linear(module);
        boolean listed = cfg.modulesToSave().stream().anyMatch(m -> module.equals(m) || module.endsWith("." + m));
        if (lin == null || !listed || !(param.equals("weight") || param.equals("bias"))) {
            throw new IOException(file + ": unexpected key '" + key + "' (neither a LoRA tensor nor a weight of modules_to_save "
                    + cfg.modulesToSave() + ")");
        }
        Tensor target = param.equals("weight") ? lin.weight : lin.bias;
        try (Tensor t = asF32(f.load(key))) {
            if (target == null || !java.util.Arrays.equals(t.shape(), target.shape()) || t.dtype() != DType.F32) {
                throw new IOException(file + ": '" + key + "' is " + t.describe() + ", the model's " + module + "." + param
                        + " is " + (target == null ? "absent" : target.describe()));
            }
            target.copyFrom(t);
        }
    }

    /** Writes the model's adapters (and trainable classifier) as a PEFT folder, atomically per file. */
    public static void write(Path dir, Transformer model, Config cfg) throws IOException {
        write(dir, model, model.adapters(), cfg);
    }

    /**
     * Writes {@code adapters} (attached to {@code model} or not: e.g. {@link cola.chain.Chain#chainAsOneAdapter()}) and
     * the model's trainable classifier (when modules_to_save names it) as a PEFT folder.
     */
    public static void write(Path dir, Transformer model, List<LoraAdapter> adapters, Config cfg) throws IOException {
        Files.createDirectories(dir);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (LoraAdapter a : adapters) {
            tensors.put(PREFIX + a.modulePath + ".lora_A.weight", a.a);
            tensors.put(PREFIX + a.modulePath + ".lora_B.weight", a.b);
        }
        Linear cls = model.classifier();
        if (cls != null && !cfg.modulesToSave().isEmpty()) {
            tensors.put(PREFIX + cls.path + ".weight", cls.weight);
            if (cls.bias != null) tensors.put(PREFIX + cls.path + ".bias", cls.bias);
        }
        SafetensorsWriter.write(dir.resolve("adapter_model.safetensors"), tensors, Map.of("format", "pt"));
        ObjectMapper om = new ObjectMapper();
        ObjectNode c = om.createObjectNode();
        c.put("peft_type", "LORA");
        if (cfg.taskType() != null) c.put("task_type", cfg.taskType());
        c.put("r", cfg.r());
        c.put("lora_alpha", cfg.alpha());
        c.putPOJO("target_modules", cfg.targetModules());
        c.put("lora_dropout", cfg.dropout());
        c.put("bias", "none");
        c.put("fan_in_fan_out", cfg.fanInFanOut());
        c.put("use_rslora", cfg.rslora());
        ObjectNode pattern = c.putObject("rank_pattern");  // per-module ranks that differ from r (PEFT's rank_pattern)
        for (LoraAdapter a : adapters) if (a.rank != cfg.r()) pattern.put(a.modulePath, a.rank);
        if (cfg.modulesToSave().isEmpty()) c.putNull("modules_to_save");
        else c.putPOJO("modules_to_save", cfg.modulesToSave());
        c.put("init_lora_weights", true);
        c.put("inference_mode", true);
        if (cfg.baseModel() != null) c.put("base_model_name_or_path", cfg.baseModel());
        cola.io.AtomicFiles.writeJson(dir.resolve("adapter_config.json"), c);
    }
}
