package cola.train;

import cola.backend.Backend;
import cola.lora.PeftAdapter;
import cola.model.Batch;
import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One forward and backward of the mean cross-entropy, for checking cola against any other implementation
 * ({@code cola probe}). Inputs come from a JSON file {@code {"input_ids": [[…]], "attention_mask": [[…]],
 * "token_type_ids": [[…]], "labels": [[…]] or [c, …]}}; causal LMs default to next-token labels (= input_ids with
 * padding ignored). Results: F32 {@code logits}, {@code loss} [] and {@code grad.<PEFT key>} for every adapter tensor
 * (and the trainable classifier of sequence classification).
 */
public final class Probe {
    private Probe() {}

    /** Reads inputs.json; labels are returned separately (int[][] for token labels, int[1][B] for classes). */
    public record Inputs(Batch batch, int[][] tokenLabels, int[] classLabels) {}

    public static Inputs readInputs(Path file) throws IOException {
        if (!Files.exists(file)) throw new NoSuchFileException(file.toString());
        JsonNode n;
        try {
            n = cola.json.StrictJson.MAPPER.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        int[][] ids = matrix(file, n, "input_ids", true);
        int[][] mask = matrix(file, n, "attention_mask", false);
        int[][] types = matrix(file, n, "token_type_ids", false);
        int[][] tok = null;
        int[] cls = null;
        JsonNode l = n.get("labels");
        if (l != null && l.isArray() && l.size() > 0) {
            if (l.get(0).isArray()) tok = matrix(file, n, "labels", true);
            else {
                cls = new int[l.size()];
                for (int i = 0; i < cls.length; i++) cls[i] = l.get(i).asInt();
            }
        }
        try {
            return new Inputs(new Batch(ids, mask, types), tok, cls);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    private static int[][] matrix(Path file, JsonNode root, String field, boolean required) throws IOException {
        JsonNode a = root.get(field);
        if (a == null || a.isNull()) {
            if (required) throw new IOException(file + ": missing field '" + field + "'");
            return null;
        }
        if (!a.isArray()) throw new IOException(file + ": '" + field + "' must be a list of lists of integers");
        int[][] m = new int[a.size()][];
        for (int i = 0; i < m.length; i++) {
            JsonNode row = a.get(i);
            if (!row.isArray()) throw new IOException(file + ": '" + field + "'[" + i + "] is not a list");
            m[i] = new int[row.size()];
            for (int j = 0; j < m[i].length; j++) {
                if (!row.get(j).isIntegralNumber()) throw new IOException(file + ": '" + field + "'[" + i + "][" + j + "] is not an integer");
                m[i][j] = row.get(j).asInt();
            }
        }
        return m;
    }

    /** Causal default labels: input_ids with -100 where attention_mask is 0. */
    static int[][] defaultLabels(Batch b) {
        int[][] l = new int[b.batchSize()][];
        for (int r = 0; r < l.length; r++) {
            l[r] = b.inputIds()[r].clone();
            if (b.attentionMask() != null) {
                for (int i = 0; i < l[r].length; i++) if (b.attentionMask()[r][i] == 0) l[r][i] = Loss.IGNORE;
            }
        }
        return l;
    }

    /**
     * Runs forward + backward on {@code model} (adapters already attached) and returns host copies: "logits", "loss",
     * and "grad.<key>" per adapter tensor. The caller owns the returned tensors.
     */
    public static Map<String, Tensor> run(Backend be, Transformer model, Inputs in) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (Arena arena = be.newArena(1 << 20)) {
            for (Transformer.Trainable p : model.trainable()) p.grad().zero();
            Linear cls = model.classifier();
            Tensor logits = model.forward(arena, in.batch(), 0);
            int[] targets;
            switch (model.head) {
                case CAUSAL_LM -> targets = Loss.shiftLabels(in.tokenLabels() != null ? in.tokenLabels() : defaultLabels(in.batch()));
                case MASKED_LM -> {
                    if (in.tokenLabels() == null) throw new IllegalArgumentException("a masked LM needs token 'labels'");
                    targets = flatten(in.tokenLabels());
                }
                case SEQUENCE_CLASSIFICATION -> {
                    if (in.classLabels() == null) throw new IllegalArgumentException("sequence classification needs 'labels': [class, …]");
                    targets = in.classLabels();
                }
                default -> throw new IllegalArgumentException(model.config.architecture() + " has no loss head");
            }
            Loss.Result r = Loss.crossEntropy(be, arena, logits, targets);
            out.put("logits", copy(logits));
            Tensor loss = Tensor.zeros(DType.F32);
            loss.copyFrom(new float[] {(float) r.loss()});
            out.put("loss", loss);
            model.backward(r.dlogits());
            for (LoraAdapter a : model.adapters()) {
                out.put("grad." + PeftAdapter.PREFIX + a.modulePath + ".lora_A.weight", copy(a.gradA));
                out.put("grad." + PeftAdapter.PREFIX + a.modulePath + ".lora_B.weight", copy(a.gradB));
            }
            if (cls != null && cls.gradWeight() != null) {
                out.put("grad." + PeftAdapter.PREFIX + cls.path + ".weight", copy(cls.gradWeight()));
                if (cls.gradBias() != null) out.put("grad." + PeftAdapter.PREFIX + cls.path + ".bias", copy(cls.gradBias()));
            }
        }
        return out;
    }

    private static int[] flatten(int[][] a) {
        int t = a[0].length;
        int[] f = new int[a.length * t];
        for (int i = 0; i < a.length; i++) System.arraycopy(a[i], 0, f, i * t, t);
        return f;
    }

    private static Tensor copy(Tensor t) {
        Tensor c = Tensor.zeros(t.dtype(), t.shape());
        c.copyFrom(t);
        return c;
    }

    /** Convenience for tools: loads model + optional adapter, runs, closes the model. */
    public static Map<String, Tensor> run(Backend be, Path modelDir, Path inputs, Path adapterDir) throws IOException {
        return run(be, modelDir, inputs, adapterDir, cola.tensor.DType.F32);
    }

    /** The same with the frozen matrices held in {@code weights} (F32 or BF16: the bf16 engine). */
    public static Map<String, Tensor> run(Backend be, Path modelDir, Path inputs, Path adapterDir,
            cola.tensor.DType weights) throws IOException {
        return run(be, modelDir, readInputs(inputs), adapterDir, weights);
    }

    /** {@code probe --dtype}: the inputs are read (and checked) first, then the dtype is resolved for the model. */
    public static Map<String, Tensor> run(Backend be, Path modelDir, Path inputs, Path adapterDir,
            cola.model.Precision.Choice dtype) throws IOException {
        Inputs in = readInputs(inputs);
        return run(be, modelDir, in, adapterDir, cola.model.Precision.resolve(dtype, modelDir, be).dtype());
    }

    private static Map<String, Tensor> run(Backend be, Path modelDir, Inputs in, Path adapterDir,
            cola.tensor.DType weights) throws IOException {
        try (Transformer m = Transformer.load(modelDir, be, weights)) {
            List<LoraAdapter> adapters = adapterDir == null ? List.of() : PeftAdapter.attach(adapterDir, m);
            try {
                return run(be, m, in);
            } finally {
                for (LoraAdapter a : adapters) a.close();
            }
        }
    }
}
