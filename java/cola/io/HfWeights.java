package cola.io;

import cola.backend.Backend;
import cola.tensor.DType;
import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The weights of a Hugging Face folder: {@code model.safetensors}, or shards listed in
 * {@code model.safetensors.index.json}. Names are looked up with and without the usual prefixes ("model.",
 * "transformer.", "bert." …, given by the caller), every load checks the shape the config implies, and
 * {@link #checkAllUsed} reports tensors the model did not expect — each error names the file and the tensor.
 */
public final class HfWeights implements AutoCloseable {
    private final Path folder;
    private boolean allowNonFinite;
    private final Map<String, SafetensorsFile> byName = new LinkedHashMap<>();
    private final List<SafetensorsFile> files = new ArrayList<>();
    private final Set<String> used = new LinkedHashSet<>();
    private HfWeights(Path folder) {
        this.folder = folder;
    }

    public static HfWeights open(Path folder) throws IOException {
        return open(folder, false);
    }

    /**
     * @param allowNonFinite load tensors holding NaN or infinity (the rare user who wants them); by default such a tensor
     *                       is an error naming it and its first bad element
     */
    public static HfWeights open(Path folder, boolean allowNonFinite) throws IOException {
        HfWeights w = new HfWeights(folder);
        w.allowNonFinite = allowNonFinite;
        try {
            Path single = folder.resolve("model.safetensors");
            Path index = folder.resolve("model.safetensors.index.json");
            if (Files.exists(index)) {
                w.openSharded(index);
            } else if (Files.exists(single)) {
                w.add(SafetensorsFile.open(single));
            } else {
                // a PyTorch pickle is never unpickled here (arbitrary code); say how to convert it instead
                for (String bin : new String[] {"pytorch_model.bin", "pytorch_model.bin.index.json", "model.bin"}) {
                    if (Files.exists(folder.resolve(bin))) {
                        throw new IOException(folder + ": weights are in " + bin + " (a PyTorch pickle), which cola does"
                                + " not read; save them as safetensors (transformers: model.save_pretrained(dir,"
                                + " safe_serialization=True)) and point cola at that folder");
                    }
                }
                throw new NoSuchFileException(folder + ": no model.safetensors or model.safetensors.index.json");
            }
        } catch (IOException | RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    private void openSharded(Path index) throws IOException {
        JsonNode root;
        try {
            root = cola.json.StrictJson.MAPPER.readTree(index.toFile());
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(index + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) throw new IOException(index + ": missing object 'weight_map'");
        Map<String, SafetensorsFile> shards = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) throw new IOException(index + ": weight_map." + e.getKey() + " is not a file name");
            String shard = e.getValue().asText();
            if (shard.contains("/") || shard.contains("\\")) throw new IOException(index + ": shard name '" + shard + "' must be a plain file name");
            if (!shards.containsKey(shard)) {
                Path p = folder.resolve(shard);
                if (!Files.exists(p)) throw new NoSuchFileException(index + ": shard '" + shard + "' does not exist");
                SafetensorsFile f = SafetensorsFile.open(p);
                shards.put(shard, f);
                files.add(f);
            }
            SafetensorsFile f = shards.get(shard);
            if (!f.entries().containsKey(e.getKey())) {
                throw new IOException(index + ": tensor '" + e.getKey() + "' is mapped to " + shard + ", which does not contain it");
            }
            byName.put(e.getKey(), f);
        }
    }

    private void add(SafetensorsFile f) {
        files.add(f);
        for (String n : f.entries().keySet()) byName.put(n, f);
    }

    public Path folder() {
        return folder;
    }

    /** All tensor names in the folder. */
    public Set<String> names() {
        return Collections.unmodifiableSet(byName.keySet());
    }

    /** The first of {@code prefixes} + name that exists, or null. "" is a prefix too. */
    public String resolve(String name, String... prefixes) {
        for (String p : prefixes) if (byName.containsKey(p + name)) return p + name;
        return null;
    }

    public boolean has(String name, String... prefixes) {
        return resolve(name, prefixes) != null;
    }

    /** The stored entry (dtype, shape) of a tensor by its full name. */
    public SafetensorsFile.Entry entry(String fullName) {
        SafetensorsFile f = byName.get(fullName);
        if (f == null) throw new IllegalArgumentException(folder + ": no tensor '" + fullName + "'");
        return f.entry(fullName);
    }

    /** The floating dtype ("F32", "BF16", "F16") holding most of the folder's bytes: the checkpoint's dtype. */
    public String dominantFloatDType() {
        Map<String, Long> bytes = new java.util.HashMap<>();
        for (var e : byName.entrySet()) {
            SafetensorsFile.Entry en = e.getValue().entry(e.getKey());
            long n = 1;
            for (long d : en.shape()) n *= d;
            if (en.dtype().equals("F32") || en.dtype().equals("BF16") || en.dtype().equals("F16")) {
                bytes.merge(en.dtype(), n, Long::sum);
            }
        }
        return bytes.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse("F32");
    }

    /** The stored dtype name of a tensor (e.g. "BF16"). */
    public String storedDType(String fullName) {
        return byName.get(fullName).entry(fullName).dtype();
    }

    /**
     * Loads a tensor as f32 onto {@code be}'s device (read into host memory, then adopted: no copy on the CPU, one upload
     * otherwise; BF16/F16 are converted by the backend, on its device), checking its shape. Missing → an error listing
     * the names tried; wrong shape → an error with both shapes.
     */
    public Tensor loadF32(Backend be, String name, String[] prefixes, long... expectedShape) throws IOException {
        String full = resolve(name, prefixes);
        if (full == null) {
            List<String> tried = new ArrayList<>();
            for (String p : prefixes) tried.add(p + name);
            throw new IOException(folder + ": missing tensor '" + name + "' (looked for " + String.join(", ", tried) + ")");
        }
        SafetensorsFile f = byName.get(full);
        SafetensorsFile.Entry e = f.entry(full);
        if (!Arrays.equals(e.shape(), expectedShape)) {
            throw new IOException(f.path() + ": tensor '" + full + "' has shape " + Arrays.toString(e.shape())
                    + " but the config implies " + Arrays.toString(expectedShape));
        }
        used.add(full);
        Tensor raw = checked(f, full, f.load(full));
        if (raw.dtype() == DType.F32) return be.adopt(raw);
        if (raw.dtype() != DType.BF16 && raw.dtype() != DType.F16) {
            raw.close();
            throw new IOException(f.path() + ": tensor '" + full + "' has dtype " + e.dtype() + "; weights must be F32, BF16 or F16");
        }
        try (Tensor stored = be.adopt(raw)) {
            return be.converted(stored, DType.F32);
        }
    }

    /**
     * Loads a tensor as {@code dtype} (F32 or BF16) onto {@code be}'s device. BF16 keeps a BF16 tensor as stored (one
     * copy of the file's bytes, no widening): the frozen-weight path of the bf16 engine. An F16 or F32 tensor asked for
     * as BF16 is converted (round to nearest even) through f32, one tensor at a time, so the peak stays one f32 tensor.
     */
    public Tensor load(Backend be, String name, String[] prefixes, DType dtype, long... expectedShape)
            throws IOException {
        if (dtype == DType.F32) return loadF32(be, name, prefixes, expectedShape);
        if (dtype != DType.BF16) throw new IllegalArgumentException("weights load as F32 or BF16, not " + dtype);
        String full = resolve(name, prefixes);
        if (full != null && byName.get(full).entry(full).dtype().equals("BF16")
                && Arrays.equals(byName.get(full).entry(full).shape(), expectedShape)) {
            used.add(full);
            SafetensorsFile f = byName.get(full);
            return be.adopt(checked(f, full, f.load(full)));
        }
        try (Tensor f32 = loadF32(be, name, prefixes, expectedShape)) {  // the missing/shape errors come from here
            return be.converted(f32, DType.BF16);
        }
    }

    /**
     * A freshly read host tensor, unless it holds a NaN or infinity: then it is closed and the error names the file,
     * the tensor and its first bad element (a non-finite weight would otherwise silently disable a head or poison
     * every step). {@code allowNonFinite} lets it through.
     */
    private Tensor checked(SafetensorsFile f, String name, Tensor raw) throws IOException {
        if (allowNonFinite) return raw;
        long bad = raw.firstNonFinite();
        if (bad < 0) return raw;
        String shape = Arrays.toString(raw.shape());
        raw.close();
        throw new IOException(f.path() + ": tensor '" + name + "' " + shape + " holds a non-finite value (NaN or Inf) at"
                + " element " + bad + "; cola refuses non-finite weights (--allow-nonfinite loads them anyway)");
    }

    /** Throws if the folder holds tensors the model never loaded (ignoring names matched by {@code ignorable}). */
    public void checkAllUsed(java.util.function.Predicate<String> ignorable) throws IOException {
        Set<String> extra = new TreeSet<>();
        for (String n : byName.keySet()) if (!used.contains(n) && !ignorable.test(n)) extra.add(n);
        if (!extra.isEmpty()) {
            throw new IOException(folder + ": unexpected tensor(s) the architecture does not use: "
                    + String.join(", ", extra.stream().limit(20).toList()) + (extra.size() > 20 ? ", …" : ""));
        }
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (SafetensorsFile f : files) {
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }
}
