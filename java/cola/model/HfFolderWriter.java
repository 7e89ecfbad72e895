package cola.model;

import cola.backend.Backend;
import cola.io.SafetensorsWriter;
import cola.tensor.DType;
import cola.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a model as a Hugging Face folder: the source config.json and one model.safetensors holding every weight under
 * its original key, in its original dtype (BF16/F16 rounded to nearest even from what the model holds) unless a
 * dtype is forced, GPT-2 Conv1D weights transposed back to [in, out]. A bf16 weight with a merge residual (a
 * compensated COLA chain) is written from its exact value W + R. Files are written atomically. Conversions run on
 * {@code be}, where the model's tensors live; the writer then copies each tensor to the host chunk by chunk
 * ({@link SafetensorsWriter}).
 */
public final class HfFolderWriter {
    private HfFolderWriter() {}

    /** @param forceDType null keeps each tensor's stored dtype; F32/BF16/F16 converts every weight. */
    public static void write(Transformer model, Backend be, Path sourceConfig, Path outDir, DType forceDType)
            throws IOException {
        Files.createDirectories(outDir);
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<Tensor> temps = new ArrayList<>();
        Map<Tensor, Tensor> residuals = new java.util.IdentityHashMap<>();  // bf16 weight → its merge residual
        for (Linear l : model.linears()) if (l.mergeResidual() != null) residuals.put(l.weight, l.mergeResidual());
        try {
            for (Transformer.Param p : model.params()) {
                Tensor v = model.masterOf(p.value());  // full fine-tuning of bf16 weights: the exact fp32 master
                if (p.transposed()) {
                    float[] s = v.toFloatArray();
                    int rows = (int) v.dim(0), cols = (int) v.dim(1);
                    float[] tr = new float[s.length];
                    for (int r = 0; r < rows; r++) for (int c = 0; c < cols; c++) tr[c * rows + r] = s[r * cols + c];
                    Tensor t = be.zeros(DType.F32, cols, rows);
                    temps.add(t);
                    t.copyFrom(tr);
                    v = t;
                }
                DType target = forceDType != null ? forceDType : switch (p.storedDType()) {
                    case "BF16" -> DType.BF16;
                    case "F16" -> DType.F16;
                    default -> DType.F32;
                };
                Tensor residual = v == p.value() ? residuals.get(p.value()) : null;
                if (residual != null) {  // the exact merged weight of a compensated bf16 chain: W + R in f32
                    Tensor exact = be.zeros(DType.F32, p.value().shape());
                    temps.add(exact);
                    be.convert(exact, p.value());
                    be.add(exact, exact, residual);
                    v = exact;
                }
                if (v.dtype() != target) {
                    if (v.dtype() != DType.F32 && target != DType.F32) {  // bf16 ↔ f16 goes through f32
                        Tensor wide = be.zeros(DType.F32, v.shape());
                        temps.add(wide);
                        be.convert(wide, v);
                        v = wide;
                    }
                    Tensor c = be.zeros(target, v.shape());
                    temps.add(c);
                    be.convert(c, v);
                    v = c;
                }
                out.put(p.key(), v);
            }
            Linear cls = model.classifier();
            boolean addedHead = cls != null && !out.containsKey("classifier.weight");
            if (addedHead) {  // the head cola added (mean pooling): saved under BertForSequenceClassification's keys
                out.put("classifier.weight", cls.weight);
                if (cls.bias != null) out.put("classifier.bias", cls.bias);
            }
            SafetensorsWriter.write(outDir.resolve("model.safetensors"), out, Map.of("format", "pt"));
            if (addedHead) {
                com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode)
                        new com.fasterxml.jackson.databind.ObjectMapper().readTree(sourceConfig.toFile());
                cfg.putArray("architectures").add("BertForSequenceClassification");
                cfg.put("num_labels", cls.out);
                // Hugging Face's BertForSequenceClassification pools [CLS] through a pooler layer; this head reads the
                // mean of the real tokens instead. cola's loader honours the key; transformers ignores it.
                cfg.put(BertConfig.POOLING_KEY, "mean");
                cola.io.AtomicFiles.writeJson(outDir.resolve("config.json"), cfg);
            } else {
                cola.io.AtomicFiles.copy(sourceConfig, outDir.resolve("config.json"));
            }
        } finally {
            for (Tensor t : temps) t.close();
        }
    }
}
