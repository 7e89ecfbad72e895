package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.io.SafetensorsFile;
import cola.io.SafetensorsWriter;
import cola.tensor.DType;
import cola.tensor.Tensor;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real checkpoints of the supported families as the Hub stores them (issue: today's families): GPT-2's causal-mask
 * buffers are ignored, original BERT checkpoints' LayerNorm gamma/beta load (and are written back under their own
 * names), PEFT adapters saved in bf16 or fp16 load into fp32 masters. Each against the PyTorch golden outputs.
 */
class HubLayoutTest {
    static final Path ROOT = GoldenModelTest.ROOT;
    final CpuBackend be = CpuBackend.get();

    @TempDir
    Path tmp;

    /** A copy of {@code src}'s folder {@code sub} with the tensors of {@code file} edited (insertion order kept). */
    Path copy(Path src, String sub, String file, Consumer<Map<String, Tensor>> edit) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(sub + System.nanoTime()));
        try (var s = Files.list(src.resolve(sub))) {
            for (Path p : s.toList()) if (!p.getFileName().toString().equals(file)) Files.copy(p, dir.resolve(p.getFileName()));
        }
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(src.resolve(sub).resolve(file))) {
            for (String n : f.entries().keySet()) ts.put(n, f.load(n));
        }
        try {
            edit.accept(ts);
            SafetensorsWriter.write(dir.resolve(file), ts, Map.of("format", "pt"));
        } finally {
            ts.values().forEach(t -> {
                if (!t.isClosed()) t.close();
            });
        }
        return dir;
    }

    /** Max relative error of every output of a probe against the golden file's (logits, loss, gradients). */
    double worst(Path caseDir, Path model, Path adapter) throws IOException {
        Map<String, Tensor> got = Probe.run(be, model, caseDir.resolve("inputs.json"), adapter);
        try (SafetensorsFile exp = SafetensorsFile.open(caseDir.resolve("expected.safetensors"))) {
            double worst = 0;
            for (String k : exp.entries().keySet()) {
                if (k.startsWith("grad.classifier.")) continue;
                try (Tensor e = exp.load(k)) {
                    worst = Math.max(worst, GoldenModelTest.rel(e.toFloatArray(), got.get(k).toFloatArray()));
                }
            }
            return worst;
        } finally {
            got.values().forEach(Tensor::close);
        }
    }

    @Test
    void gpt2MaskBuffersFromTheHubAreIgnored() throws IOException {
        Path c = ROOT.resolve("gpt2");
        Path model = copy(c, "model", "model.safetensors", ts -> {
            for (int i = 0; i < 2; i++) {
                float[] tril = new float[32 * 32];
                for (int r = 0; r < 32; r++) for (int k = 0; k <= r; k++) tril[r * 32 + k] = 1;
                ts.put("transformer.h." + i + ".attn.bias", Tensor.of(tril, 1, 1, 32, 32));
                ts.put("transformer.h." + i + ".attn.masked_bias", Tensor.of(new float[] {-1e4f}));
            }
        });
        assertTrue(worst(c, model, c.resolve("adapter")) < 1e-3, "the buffers change nothing");
        Path extra = copy(c, "model", "model.safetensors", ts -> ts.put("transformer.h.0.attn.extra", Tensor.of(new float[1])));
        IOException e = assertThrows(IOException.class, () -> Transformer.load(extra, be).close());
        assertTrue(e.getMessage().contains("unexpected tensor(s)") && e.getMessage().contains("attn.extra"), e.getMessage());
    }

    @Test
    void bertLayerNormGammaBetaLoadAndAreWrittenBackUnderTheirNames() throws IOException {
        Path c = ROOT.resolve("bert-mlm");
        Path model = copy(c, "model", "model.safetensors", ts -> {
            Map<String, Tensor> renamed = new LinkedHashMap<>();
            for (var e : ts.entrySet()) {
                renamed.put(e.getKey().replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"),
                        e.getValue());
            }
            ts.clear();
            ts.putAll(renamed);
        });
        assertTrue(worst(c, model, c.resolve("adapter")) < 1e-3, "gamma/beta are LayerNorm weight/bias");
        try (Transformer m = Transformer.load(model, be)) {
            HfFolderWriter.write(m, be, model.resolve("config.json"), tmp.resolve("out"), null);
        }
        try (SafetensorsFile f = SafetensorsFile.open(tmp.resolve("out/model.safetensors"))) {
            assertTrue(f.entries().containsKey("bert.embeddings.LayerNorm.gamma"), "written back under the file's names");
            assertFalse(f.entries().containsKey("bert.embeddings.LayerNorm.weight"));
        }
    }

    @Test
    void peftAdaptersSavedInBf16OrF16LoadIntoFp32Masters() throws IOException {
        Path c = ROOT.resolve("gpt2");
        for (DType dt : new DType[] {DType.BF16, DType.F16}) {
            Path adapter = copy(c, "adapter", "adapter_model.safetensors", ts -> {
                for (var e : ts.entrySet()) {
                    Tensor half = Tensor.zeros(dt, e.getValue().shape());
                    be.convert(half, e.getValue());
                    e.getValue().close();
                    e.setValue(half);
                }
            });
            // the adapter's values are rounded to 8 (bf16) or 11 (f16) bits: outputs within that of PyTorch's
            double w = worst(c, c.resolve("model"), adapter);
            assertTrue(w < (dt == DType.BF16 ? 3e-2 : 3e-3), dt + " adapter: worst relative error " + w);
        }
    }

    /** The gpt2 golden adapter with adapter_config.json fields replaced ({@code json} edits the text). */
    Path adapterWithConfig(java.util.function.UnaryOperator<String> json, Consumer<Map<String, Tensor>> edit)
            throws IOException {
        Path dir = copy(ROOT.resolve("gpt2"), "adapter", "adapter_model.safetensors", edit);
        Path cfg = dir.resolve("adapter_config.json");
        Files.writeString(cfg, json.apply(Files.readString(cfg)));
        return dir;
    }

    @Test
    void alphaPatternAndRankPatternApplyPerModuleAndRMustMatchTheTensors() throws IOException {
        Path c = ROOT.resolve("gpt2"), model = c.resolve("model");
        // alpha_pattern 16 on layer 1 only (PEFT: the key matches the module path's end) ≡ that layer's B doubled
        Path patterned = adapterWithConfig(j -> j.replace("\"alpha_pattern\": {}", "\"alpha_pattern\": {\"h.1.attn.c_attn\": 16}")
                .replace("\"rank_pattern\": {}", "\"rank_pattern\": {\"c_attn\": 4}"), ts -> {});
        Path doubled = adapterWithConfig(j -> j, ts -> {
            Tensor b = ts.get("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight");
            float[] v = b.toFloatArray();
            for (int i = 0; i < v.length; i++) v[i] *= 2;
            b.copyFrom(v);
        });
        Map<String, Tensor> p = Probe.run(be, model, c.resolve("inputs.json"), patterned);
        Map<String, Tensor> d = Probe.run(be, model, c.resolve("inputs.json"), doubled);
        try {
            assertTrue(GoldenModelTest.rel(d.get("logits").toFloatArray(), p.get("logits").toFloatArray()) < 1e-6,
                    "alpha_pattern scales exactly that module");
            try (SafetensorsFile exp = SafetensorsFile.open(c.resolve("expected.safetensors")); Tensor e = exp.load("logits")) {
                assertTrue(GoldenModelTest.rel(e.toFloatArray(), p.get("logits").toFloatArray()) > 1e-3, "and it matters");
            }
        } finally {
            p.values().forEach(Tensor::close);
            d.values().forEach(Tensor::close);
        }
        Path wrongR = adapterWithConfig(j -> j.replace("\"r\": 4", "\"r\": 8"), ts -> {});
        IOException e = assertThrows(IOException.class, () -> Probe.run(be, model, c.resolve("inputs.json"), wrongR));
        assertTrue(e.getMessage().contains("rank-4 tensors but adapter_config.json says r = 8"), e.getMessage());
        Path wrongPattern = adapterWithConfig(j -> j.replace("\"rank_pattern\": {}", "\"rank_pattern\": {\"h.0.attn.c_attn\": 2}"), ts -> {});
        e = assertThrows(IOException.class, () -> Probe.run(be, model, c.resolve("inputs.json"), wrongPattern));
        assertTrue(e.getMessage().contains("says r = 2 (rank_pattern"), e.getMessage());
        Path badRegex = adapterWithConfig(j -> j.replace("\"alpha_pattern\": {}", "\"alpha_pattern\": {\"c_attn(\": 2}"), ts -> {});
        e = assertThrows(IOException.class, () -> Probe.run(be, model, c.resolve("inputs.json"), badRegex));
        assertTrue(e.getMessage().contains("alpha_pattern key 'c_attn(' is not a valid pattern"), e.getMessage());
    }
}
