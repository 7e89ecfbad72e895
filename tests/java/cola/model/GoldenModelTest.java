package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.io.SafetensorsFile;
import cola.tensor.Tensor;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine against golden files from an independent PyTorch implementation (tests/golden/make_golden.py): logits,
 * loss and every LoRA gradient of tiny OPT (pre-/post-LN, project_in/out, BF16), Llama (GQA, sharded, rsLoRA, tied
 * BF16; rope_scaling llama3, yarn, linear, dynamic; attention_bias), Qwen2 (q/k/v biases), Qwen3 (q/k norms), Mistral (sliding window), Phi-3 (fused projections), GPT-2 (Conv1D, fused c_attn) and BERT (MLM, sequence
 * classification) models.
 */
class GoldenModelTest {
    static final Path ROOT = Path.of("tests/resources/golden");

    static Stream<Arguments> cases() {
        return Stream.of(Arguments.of("opt-pre", "adapter", "expected"), Arguments.of("opt-post-proj", "adapter", "expected"),
                Arguments.of("llama-gqa", "adapter", "expected"), Arguments.of("llama-tied-bf16", "adapter", "expected"),
                Arguments.of("gpt2", "adapter", "expected"), Arguments.of("gpt2", "adapter-all", "expected-all"),
                Arguments.of("bert-mlm", "adapter", "expected"), Arguments.of("bert-cls", "adapter", "expected"),
                // rope_scaling (Llama 3.x and the others of modeling_rope_utils.py), each changing the frequencies used
                Arguments.of("llama3-rope", "adapter", "expected"), Arguments.of("llama-yarn-rope", "adapter", "expected"),
                Arguments.of("llama-linear-rope", "adapter", "expected"),
                Arguments.of("llama-dynamic-rope", "adapter", "expected"),
                // Qwen2 (q/k/v biases, no o_proj bias, tied head) and Llama's attention_bias (biases on q/k/v/o)
                Arguments.of("qwen2", "adapter", "expected"), Arguments.of("llama-attn-bias", "adapter", "expected"),
                // Qwen3: per-head q/k RMSNorm before RoPE, head_dim 16 != hidden / heads
                Arguments.of("qwen3", "adapter", "expected"),
                // Mistral: sliding window 5 < T = 11
                Arguments.of("mistral", "adapter", "expected"),
                // Phi-3: fused qkv_proj and gate_up_proj (LoRA on both fused modules), sliding window 6
                Arguments.of("phi3", "adapter", "expected"));
    }

    /** max|got − exp| / max(max|exp|, 1e-6), the golden files' definition. */
    static double rel(float[] exp, float[] got) {
        double maxAbs = 1e-6, maxErr = 0;
        for (int i = 0; i < exp.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(exp[i]));
            maxErr = Math.max(maxErr, Math.abs(exp[i] - got[i]));
        }
        return maxErr / maxAbs;
    }

    @ParameterizedTest(name = "{0} with {1}")
    @MethodSource("cases")
    void matchesPyTorch(String name, String adapter, String expected) throws IOException {
        Path dir = ROOT.resolve(name);
        Map<String, Tensor> got = Probe.run(CpuBackend.get(), dir.resolve("model"), dir.resolve("inputs.json"),
                dir.resolve(adapter));
        try (SafetensorsFile exp = SafetensorsFile.open(dir.resolve(expected + ".safetensors"))) {
            StringBuilder report = new StringBuilder();
            boolean ok = true;
            int grads = 0;
            for (String key : exp.entries().keySet()) {
                Tensor mine = got.get(key);
                if (key.startsWith("grad.classifier.")) continue;  // duplicate of grad.base_model.model.classifier.*
                assertNotNull(mine, name + ": cola produced no '" + key + "'; it has " + got.keySet());
                try (Tensor e = exp.load(key)) {
                    assertArrayEquals(e.shape(), mine.shape(), name + ": shape of " + key);
                    double r = rel(e.toFloatArray(), mine.toFloatArray());
                    double tol = key.startsWith("grad.") ? 1e-3 : 1e-4;
                    if (key.startsWith("grad.")) grads++;
                    if (!(r <= tol)) {
                        ok = false;
                        report.append(String.format("%n  %s: rel error %.3e > %.0e", key, r, tol));
                    }
                }
            }
            assertTrue(grads > 0, name + ": no gradients compared");
            assertTrue(ok, name + ":" + report);
        } finally {
            for (Tensor t : got.values()) t.close();
        }
    }

    /** ⟨a, b⟩ / (‖a‖·‖b‖) in double. */
    static double cosine(float[] a, float[] b) {
        double ab = 0, aa = 0, bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return aa == 0 && bb == 0 ? 1 : ab / Math.sqrt(aa * bb);
    }

    /**
     * The bf16 engine (frozen matrices kept in bf16, bf16 GEMMs with fp32 accumulation) against the same f32 golden
     * files, with bf16's tolerances: loss rel ≤ 2e-2, logits rel ≤ 1e-1, every LoRA gradient's cosine with PyTorch's
     * f32 gradient ≥ 0.98. The f32-stored cases are rounded to bf16 at load, so this also covers that path.
     */
    @ParameterizedTest(name = "{0} with {1} in bf16")
    @MethodSource("cases")
    void bf16EngineMatchesPyTorchF32WithinBf16Tolerance(String name, String adapter, String expected) throws IOException {
        Path dir = ROOT.resolve(name);
        Map<String, Tensor> got = Probe.run(CpuBackend.get(), dir.resolve("model"), dir.resolve("inputs.json"),
                dir.resolve(adapter), cola.tensor.DType.BF16);
        try (SafetensorsFile exp = SafetensorsFile.open(dir.resolve(expected + ".safetensors"))) {
            StringBuilder report = new StringBuilder();
            int grads = 0;
            for (String key : exp.entries().keySet()) {
                if (key.startsWith("grad.classifier.")) continue;
                Tensor mine = got.get(key);
                assertNotNull(mine, name + ": cola produced no '" + key + "'");
                try (Tensor e = exp.load(key)) {
                    float[] ev = e.toFloatArray(), mv = mine.toFloatArray();
                    if (key.startsWith("grad.")) {
                        grads++;
                        double c = cosine(ev, mv);
                        if (!(c >= 0.98)) report.append(String.format("%n  %s: cosine %.4f < 0.98", key, c));
                    } else {
                        double r = rel(ev, mv), tol = key.equals("loss") ? 2e-2 : 1e-1;
                        if (!(r <= tol)) report.append(String.format("%n  %s: rel error %.3e > %.0e", key, r, tol));
                    }
                }
            }
            assertTrue(grads > 0, name + ": no gradients compared");
            assertTrue(report.length() == 0, name + " (bf16):" + report);
        } finally {
            for (Tensor t : got.values()) t.close();
        }
    }

    /** Mistral's case binds: without its sliding window the logits miss PyTorch's by far. */
    @org.junit.jupiter.api.Test
    void mistralCaseFailsWithoutItsSlidingWindow(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Path dir = ROOT.resolve("mistral"), model = Files.createDirectories(tmp.resolve("model"));
        Files.copy(dir.resolve("model/model.safetensors"), model.resolve("model.safetensors"));
        Files.writeString(model.resolve("config.json"), Files.readString(dir.resolve("model/config.json"))
                .replace("\"sliding_window\": 5", "\"sliding_window\": null"));
        Map<String, Tensor> got = Probe.run(CpuBackend.get(), model, dir.resolve("inputs.json"), dir.resolve("adapter"));
        try (SafetensorsFile exp = SafetensorsFile.open(dir.resolve("expected.safetensors")); Tensor e = exp.load("logits")) {
            double r = rel(e.toFloatArray(), got.get("logits").toFloatArray());
            assertTrue(r > 1e-2, "without the window the logits still match (rel " + r + ")");
        } finally {
            for (Tensor t : got.values()) t.close();
        }
    }

    /** Each rope_scaling case binds: the same model without its rope_scaling misses PyTorch's logits by far. */
    @ParameterizedTest(name = "{0} without rope_scaling")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"llama3-rope", "llama-yarn-rope", "llama-linear-rope",
            "llama-dynamic-rope"})
    void ropeScalingCasesFailWithoutTheirScaling(String name, @org.junit.jupiter.api.io.TempDir Path tmp)
            throws IOException {
        Path dir = ROOT.resolve(name), model = Files.createDirectories(tmp.resolve("model"));
        for (String f : new String[] {"model.safetensors"}) Files.copy(dir.resolve("model").resolve(f), model.resolve(f));
        com.fasterxml.jackson.databind.node.ObjectNode cfg = (com.fasterxml.jackson.databind.node.ObjectNode)
                new com.fasterxml.jackson.databind.ObjectMapper().readTree(dir.resolve("model/config.json").toFile());
        assertTrue(cfg.get("rope_scaling").isObject(), name + " has a rope_scaling");
        cfg.putNull("rope_scaling");
        Files.writeString(model.resolve("config.json"), cfg.toString());
        Map<String, Tensor> got = Probe.run(CpuBackend.get(), model, dir.resolve("inputs.json"), dir.resolve("adapter"));
        try (SafetensorsFile exp = SafetensorsFile.open(dir.resolve("expected.safetensors")); Tensor e = exp.load("logits")) {
            double r = rel(e.toFloatArray(), got.get("logits").toFloatArray());
            assertTrue(r > 1e-2, name + ": without rope_scaling the logits still match (rel " + r + "): the case does not bind");
        } finally {
            for (Tensor t : got.values()) t.close();
        }
    }

    @org.junit.jupiter.api.Test
    void goldenFolderIsPresent() {
        assertTrue(Files.isDirectory(ROOT.resolve("opt-pre")), "run from the repository root (Maven does)");
    }
}
