package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.io.SafetensorsFile;
import cola.io.SafetensorsFormatException;
import cola.io.SafetensorsWriter;
import cola.lora.Lora;
import cola.lora.LoraConfig;
import cola.lora.PeftAdapter;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad model folders and adapters fail with errors naming the file, field or tensor; fresh LoRA starts at the base. */
class ModelLoadingTest {
    @TempDir
    Path tmp;

    final CpuBackend be = CpuBackend.get();
    static final Path OPT = GoldenModelTest.ROOT.resolve("opt-pre/model");

    /** A copy of the opt-pre model whose tensors are edited by {@code edit}. */
    private Path copyWith(java.util.function.Consumer<Map<String, Tensor>> edit) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        Files.copy(OPT.resolve("config.json"), dir.resolve("config.json"));
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(OPT.resolve("model.safetensors"))) {
            for (String n : f.entries().keySet()) ts.put(n, f.load(n));
        }
        try {
            edit.accept(ts);
            SafetensorsWriter.write(dir.resolve("model.safetensors"), ts, Map.of("format", "pt"));
        } finally {
            ts.values().forEach(t -> {
                if (!t.isClosed()) t.close();
            });
        }
        return dir;
    }

    @Test
    void unknownArchitectureIsNamed() throws IOException {
        Path dir = copyWith(ts -> {});
        String cfg = Files.readString(dir.resolve("config.json")).replace("OPTForCausalLM", "MambaForCausalLM");
        Files.writeString(dir.resolve("config.json"), cfg);
        IOException e = assertThrows(IOException.class, () -> Transformer.load(dir, be));
        assertTrue(e.getMessage().contains("architecture 'MambaForCausalLM' is not supported")
                && e.getMessage().contains("LlamaForCausalLM"), e.getMessage());
    }

    @Test
    void missingConfigFieldIsNamed() throws IOException {
        Path dir = copyWith(ts -> {});
        String cfg = Files.readString(dir.resolve("config.json")).replace("\"ffn_dim\"", "\"ffn_dim_typo\"");
        Files.writeString(dir.resolve("config.json"), cfg);
        IOException e = assertThrows(IOException.class, () -> Transformer.load(dir, be));
        assertTrue(e.getMessage().contains("missing field 'ffn_dim'"), e.getMessage());
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        Path dir = copyWith(ts -> ts.remove("model.decoder.layers.1.fc2.bias").close());
        IOException e = assertThrows(IOException.class, () -> Transformer.load(dir, be));
        assertTrue(e.getMessage().contains("missing tensor 'layers.1.fc2.bias'"), e.getMessage());
    }

    @Test
    void unexpectedTensorIsNamed() throws IOException {
        Path dir = copyWith(ts -> ts.put("model.decoder.layers.0.mystery.weight", Tensor.zeros(DType.F32, 2)));
        IOException e = assertThrows(IOException.class, () -> Transformer.load(dir, be));
        assertTrue(e.getMessage().contains("unexpected tensor(s)") && e.getMessage().contains("mystery"), e.getMessage());
    }

    @Test
    void shapeThatDisagreesWithTheConfigIsNamed() throws IOException {
        Path dir = copyWith(ts -> {
            ts.remove("model.decoder.layers.0.fc1.weight").close();
            ts.put("model.decoder.layers.0.fc1.weight", Tensor.zeros(DType.F32, 63, 32));
        });
        IOException e = assertThrows(IOException.class, () -> Transformer.load(dir, be));
        assertTrue(e.getMessage().contains("'model.decoder.layers.0.fc1.weight' has shape [63, 32] but the config implies [64, 32]"),
                e.getMessage());
    }

    @Test
    void truncatedWeightsFileIsAFormatError() throws IOException {
        Path dir = copyWith(ts -> {});
        Path f = dir.resolve("model.safetensors");
        byte[] b = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(b, b.length - 100));
        SafetensorsFormatException e = assertThrows(SafetensorsFormatException.class, () -> Transformer.load(dir, be));
        assertTrue(e.getMessage().contains("model.safetensors"), e.getMessage());
    }

    @Test
    void tokenOutsideTheVocabularyIsNamed() throws IOException {
        try (Transformer m = Transformer.load(OPT, be); Arena arena = new Arena(1 << 16)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> m.forward(arena, new Batch(new int[][] {{2, 5, 101}}, null, null), 0));
            assertTrue(e.getMessage().contains("input_ids[0][2] = 101 is outside the vocabulary [0, 101)"), e.getMessage());
        }
    }

    @Test
    void adapterThatDoesNotFitIsNamed() throws IOException {
        Path ad = Files.createDirectories(tmp.resolve("bad-adapter"));
        Files.copy(GoldenModelTest.ROOT.resolve("opt-pre/adapter/adapter_config.json"), ad.resolve("adapter_config.json"));
        try (Tensor a = Tensor.zeros(DType.F32, 4, 31); Tensor b = Tensor.zeros(DType.F32, 32, 4)) {
            SafetensorsWriter.write(ad.resolve("adapter_model.safetensors"), Map.of(
                    "base_model.model.model.decoder.layers.0.self_attn.q_proj.lora_A.weight", a,
                    "base_model.model.model.decoder.layers.0.self_attn.q_proj.lora_B.weight", b), Map.of());
        }
        try (Transformer m = Transformer.load(OPT, be)) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.attach(ad, m));
            assertTrue(e.getMessage().contains("q_proj lora_A f32[4, 31]") && e.getMessage().contains("in=32"), e.getMessage());
        }
    }

    @Test
    void freshLoraStartsExactlyAtTheBaseModelAndRoundTripsThroughPeft() throws IOException {
        Probe.Inputs in = Probe.readInputs(GoldenModelTest.ROOT.resolve("opt-pre/inputs.json"));
        try (Transformer m = Transformer.load(OPT, be)) {
            float[] base = logits(m, in);
            LoraConfig cfg = new LoraConfig(4, 8, 0, false, List.of("q_proj", "v_proj", "fc1"), Map.of("fc1", 2),
                    LoraConfig.Init.KAIMING_UNIFORM, 7);
            List<LoraAdapter> ads = Lora.attach(m, cfg);
            try {
                assertEquals(6, ads.size());
                assertEquals(2, m.linear("model.decoder.layers.0.fc1").lora().rank);
                assertArrayEquals(base, logits(m, in), "B = 0: identical to the base model");
                float bound = (float) (1 / Math.sqrt(32));
                for (float v : ads.get(0).a.toFloatArray()) assertTrue(Math.abs(v) <= bound);
                // give B some values, write PEFT, read back into a fresh model: same logits
                for (LoraAdapter a : ads) {
                    float[] bv = new float[(int) a.b.numel()];
                    for (int i = 0; i < bv.length; i++) bv[i] = (float) Math.sin(i + a.modulePath.length());
                    a.b.copyFrom(bv);
                }
                float[] tuned = logits(m, in);
                Path out = tmp.resolve("peft");
                PeftAdapter.write(out, m, new PeftAdapter.Config(4, 8, cfg.targets(), 0, false, false, List.of(),
                        "CAUSAL_LM", "cola-golden/opt-pre"));
                try (Transformer m2 = Transformer.load(OPT, be)) {
                    List<LoraAdapter> back = PeftAdapter.attach(out, m2);
                    try {
                        assertArrayEquals(tuned, logits(m2, in), "PEFT round trip reproduces the tuned model");
                    } finally {
                        back.forEach(LoraAdapter::close);
                    }
                }
            } finally {
                Lora.detach(m, ads);
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Lora.attach(m, LoraConfig.paper(List.of("query"), 1)));
            assertTrue(e.getMessage().contains("match no layer") && e.getMessage().contains("q_proj"), e.getMessage());
        }
    }

    private float[] logits(Transformer m, Probe.Inputs in) {
        try (Arena arena = new Arena(1 << 16)) {
            return m.forward(arena, in.batch(), 0).toFloatArray();
        }
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"opt-post-proj", "llama-gqa", "gpt2", "bert-cls"})
    void hfFolderRoundTripsKeysDtypesAndLogits(String name) throws IOException {
        Path src = GoldenModelTest.ROOT.resolve(name + "/model");
        Probe.Inputs in = Probe.readInputs(GoldenModelTest.ROOT.resolve(name + "/inputs.json"));
        Path out = tmp.resolve(name);
        try (Transformer m = Transformer.load(src, be)) {
            float[] before = logits(m, in);
            HfFolderWriter.write(m, be, src.resolve("config.json"), out, null);
            try (Transformer back = Transformer.load(out, be)) {
                assertArrayEquals(before, logits(back, in), "reloaded model computes the same logits");
            }
        }
        // same keys and dtypes as the source (a sharded source becomes one file)
        Map<String, String> srcTypes = new java.util.TreeMap<>(), outTypes = new java.util.TreeMap<>();
        try (cola.io.HfWeights w = cola.io.HfWeights.open(src)) {
            for (String n : w.names()) srcTypes.put(n, w.storedDType(n));
        }
        try (cola.io.HfWeights w = cola.io.HfWeights.open(out)) {
            for (String n : w.names()) outTypes.put(n, w.storedDType(n));
        }
        assertEquals(srcTypes, outTypes);
    }

    /** A NaN or Inf in a weight is an error naming the tensor and element, unless allowed (issue: reliability). */
    @Test
    void nonFiniteWeightsAreRefusedAtLoadUnlessAllowed() throws IOException {
        Path dir = copyWith(ts -> {
            Tensor t = ts.get("model.decoder.layers.0.self_attn.q_proj.weight");
            float[] v = t.toFloatArray();
            v[37] = Float.NaN;
            t.copyFrom(v);
        });
        IOException e = assertThrows(IOException.class, () -> Transformer.load(dir, be).close());
        assertTrue(e.getMessage().contains("'model.decoder.layers.0.self_attn.q_proj.weight'")
                && e.getMessage().contains("non-finite value (NaN or Inf) at element 37")
                && e.getMessage().contains("--allow-nonfinite"), e.getMessage());
        e = assertThrows(IOException.class, () -> Transformer.load(dir, be, cola.tensor.DType.BF16).close());
        assertTrue(e.getMessage().contains("element 37"), "the bf16 path checks too: " + e.getMessage());
        try (Transformer m = Transformer.load(dir, be, cola.tensor.DType.F32, true)) {
            assertTrue(Float.isNaN(m.linear("model.decoder.layers.0.self_attn.q_proj").weight.toFloatArray()[37]));
        }
    }
}
