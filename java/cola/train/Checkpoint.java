package cola.train;

import cola.chain.Chain;
import cola.io.SafetensorsFile;
import cola.io.SafetensorsWriter;
import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A resumable training state in one safetensors file, written atomically (temp file, fsync, rename — SafetensorsWriter),
 * so a crash or a kill never leaves a half-written checkpoint under the real name:
 * <ul>
 *   <li>{@code weight.<module>}: the current (merged) weights of every adapted layer, and of the trainable head;</li>
 *   <li>{@code lora.<module>.A/B}: the current link's adapters; {@code adam.m.<i>}, {@code adam.v.<i>}: the optimiser;</li>
 *   <li>{@code history.<module>.<link>.A/sB}: finished links, for the rank-Σr export;</li>
 *   <li>{@code residual.<module>}: the merge residual of a bf16 weight (compensated knots);</li>
 *   <li>metadata: format, next step, link, AdamW step count.</li>
 * </ul>
 * Randomness needs no state: dropout masks and A's initialisation are functions of (seed, step / link).
 */
public final class Checkpoint {
    public static final String FORMAT = "cola-checkpoint-1";

    private Checkpoint() {}

    /** The position stored in a checkpoint, and the caller's extra metadata (run history for a resumed run's logs). */
    public record Position(int nextStep, int link, long adamSteps, Map<String, String> metadata) {}

    public static void write(Path file, Transformer model, Chain chain, int nextStep) throws IOException {
        write(file, model, chain, nextStep, Map.of());
    }

    /** @param extra metadata stored alongside (keys must not clash with format, next_step, link, adam_steps) */
    public static void write(Path file, Transformer model, Chain chain, int nextStep, Map<String, String> extra)
            throws IOException {
        Map<String, Tensor> t = new LinkedHashMap<>();
        List<Tensor> temps = new ArrayList<>();
        try {
            for (LoraAdapter a : chain.adapters()) {
                t.put("weight." + a.modulePath, model.linear(a.modulePath).weight);
                t.put("lora." + a.modulePath + ".A", a.a);
                t.put("lora." + a.modulePath + ".B", a.b);
            }
            for (var e : chain.history().entrySet()) {
                Linear l = model.linear(e.getKey());
                t.putIfAbsent("weight." + e.getKey(), l.weight);
                if (l.mergeResidual() != null) t.put("residual." + e.getKey(), l.mergeResidual());
                int i = 0;
                for (float[][] link : e.getValue()) {
                    int r = link[0].length / l.in;
                    Tensor a = Tensor.of(link[0], r, l.in), sb = Tensor.of(link[1], l.out, r);
                    temps.add(a);
                    temps.add(sb);
                    t.put("history." + e.getKey() + "." + i + ".A", a);
                    t.put("history." + e.getKey() + "." + i + ".sB", sb);
                    i++;
                }
            }
            Linear cls = model.classifier();
            if (cls != null && cls.gradWeight() != null) {
                t.put("weight." + cls.path, cls.weight);
                if (cls.bias != null) t.put("bias." + cls.path, cls.bias);
            }
            List<Tensor> m = chain.optimizer().firstMoments(), v = chain.optimizer().secondMoments();
            for (int i = 0; i < m.size(); i++) {
                t.put("adam.m." + i, m.get(i));
                t.put("adam.v." + i, v.get(i));
            }
            Map<String, String> meta = new LinkedHashMap<>(extra);
            meta.put("format", FORMAT);
            meta.put("next_step", Integer.toString(nextStep));
            meta.put("link", Integer.toString(chain.link()));
            meta.put("adam_steps", Long.toString(chain.optimizer().steps()));
            SafetensorsWriter.write(file, t, meta);
        } finally {
            for (Tensor x : temps) x.close();
        }
    }

    /** Restores a checkpoint into a freshly loaded model and a freshly built chain of the same configuration. */
    public static Position restore(Path file, Transformer model, Chain chain) throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Map<String, String> meta = f.metadata();
            if (!FORMAT.equals(meta.get("format"))) {
                throw new IOException(file + ": not a cola checkpoint (format '" + meta.get("format") + "', expected " + FORMAT + ")");
            }
            Position pos = new Position(Integer.parseInt(meta.get("next_step")), Integer.parseInt(meta.get("link")),
                    Long.parseLong(meta.get("adam_steps")), Map.copyOf(meta));
            chain.restoreLink(pos.link());
            for (String key : f.entries().keySet()) {
                if (key.startsWith("weight.")) {
                    copy(f, key, weightOf(file, model, key.substring(7)));
                } else if (key.startsWith("residual.")) {  // a compensated bf16 chain's rounding residual
                    Linear l = model.linear(key.substring(9));
                    if (l == null || l.weight.dtype() != cola.tensor.DType.BF16) {
                        throw new IOException(file + ": '" + key + "' names no bf16 layer of this model (resumed with"
                                + " another --dtype?)");
                    }
                    copy(f, key, l.ensureMergeResidual(model.backend()));
                } else if (key.startsWith("bias.")) {
                    Linear l = model.linear(key.substring(5));
                    if (l == null || l.bias == null) throw new IOException(file + ": '" + key + "' names no bias of this model");
                    copy(f, key, l.bias);
                }
            }
            for (LoraAdapter a : chain.adapters()) {
                copy(f, "lora." + a.modulePath + ".A", a.a);
                copy(f, "lora." + a.modulePath + ".B", a.b);
            }
            List<Tensor> m = chain.optimizer().firstMoments(), v = chain.optimizer().secondMoments();
            for (int i = 0; i < m.size(); i++) {
                copy(f, "adam.m." + i, m.get(i));
                copy(f, "adam.v." + i, v.get(i));
            }
            chain.optimizer().setSteps(pos.adamSteps());
            for (Linear l : model.linears()) {
                for (int i = 0; f.entries().containsKey("history." + l.path + "." + i + ".A"); i++) {
                    try (Tensor a = f.load("history." + l.path + "." + i + ".A");
                         Tensor sb = f.load("history." + l.path + "." + i + ".sB")) {
                        chain.restoreHistory(l.path, a.toFloatArray(), sb.toFloatArray(), l.in, l.out);
                    }
                }
            }
            return pos;
        }
    }

    private static Tensor weightOf(Path file, Transformer model, String path) throws IOException {
        Linear l = model.linear(path);
        if (l == null) throw new IOException(file + ": checkpoint weight '" + path + "' names no layer of this model");
        return l.weight;
    }

    private static void copy(SafetensorsFile f, String key, Tensor into) throws IOException {
        if (!f.entries().containsKey(key)) throw new IOException(f.path() + ": checkpoint lacks '" + key + "'");
        try (Tensor t = f.load(key)) {
            if (!java.util.Arrays.equals(t.shape(), into.shape())) {
                throw new IOException(f.path() + ": '" + key + "' is " + t.describe() + " but the model expects "
                        + into.describe() + " (different chain or LoRA configuration?)");
            }
            if (t.dtype() != into.dtype()) {
                throw new IOException(f.path() + ": '" + key + "' is " + t.dtype() + " but the model holds " + into.dtype()
                        + " (the run was trained with another --dtype: resume with the same one)");
            }
            into.copyFrom(t);
        }
    }
}
