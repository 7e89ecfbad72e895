package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.lora.Lora;
import cola.lora.LoraConfig;
import cola.tensor.Tensor;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A fresh mean-pooling classification head on an encoder: padding ignored, gradients right (finite differences). */
class MeanPoolHeadTest {
    @TempDir
    Path tmp;

    Path encoder() throws IOException {
        Path src = GoldenModelTest.ROOT.resolve("bert-mlm/model"), dir = tmp.resolve("enc");
        Files.createDirectories(dir);
        Files.copy(src.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        Files.writeString(dir.resolve("config.json"),
                Files.readString(src.resolve("config.json")).replace("BertForMaskedLM", "BertModel"));
        return dir;
    }

    @Test
    void gradientsOfHeadAndAdaptersMatchFiniteDifferences() throws IOException {
        CpuBackend be = CpuBackend.get();
        Probe.Inputs raw = Probe.readInputs(GoldenModelTest.ROOT.resolve("bert-mlm/inputs.json"));
        Probe.Inputs in = new Probe.Inputs(raw.batch(), null, new int[] {2, 0});
        try (Transformer m = Transformer.load(encoder(), be)) {
            assertEquals(Transformer.Head.HIDDEN_STATES, m.head);
            m.addClassificationHead(3, 1);
            List<LoraAdapter> ads = Lora.attach(m, new LoraConfig(4, 8, 0, false, List.of("query", "value"), Map.of(),
                    LoraConfig.Init.KAIMING_UNIFORM, 2));
            try {
                for (LoraAdapter a : ads) {
                    float[] b = new float[(int) a.b.numel()];
                    for (int i = 0; i < b.length; i++) b[i] = 0.1f * (float) Math.cos(i);
                    a.b.copyFrom(b);
                }
                Map<String, Tensor> r = Probe.run(be, m, in);
                r.values().forEach(Tensor::close);
                List<Tensor[]> checks = List.of(new Tensor[] {m.classifier().weight, m.classifier().gradWeight()},
                        new Tensor[] {m.classifier().bias, m.classifier().gradBias()},
                        new Tensor[] {ads.get(0).a, ads.get(0).gradA}, new Tensor[] {ads.get(3).b, ads.get(3).gradB});
                float[][] grads = new float[checks.size()][];
                for (int i = 0; i < grads.length; i++) grads[i] = checks.get(i)[1].toFloatArray();
                Random rng = new Random(3);
                for (int c = 0; c < checks.size(); c++) {
                    Tensor p = checks.get(c)[0];
                    float[] x = p.toFloatArray();
                    double maxG = 1e-9, maxErr = 0;
                    for (float g : grads[c]) maxG = Math.max(maxG, Math.abs(g));
                    for (int s = 0; s < 5; s++) {
                        int j = rng.nextInt(x.length);
                        float o = x[j];
                        x[j] = o + 1e-2f;
                        p.copyFrom(x);
                        double lp = loss(be, m, in);
                        x[j] = o - 1e-2f;
                        p.copyFrom(x);
                        double lm = loss(be, m, in);
                        x[j] = o;
                        p.copyFrom(x);
                        maxErr = Math.max(maxErr, Math.abs((lp - lm) / 2e-2 - grads[c][j]));
                    }
                    assertTrue(maxErr / maxG < 2e-2, "check " + c + ": " + maxErr / maxG);
                }
            } finally {
                Lora.detach(m, ads);
            }
        }
    }

    @Test
    void paddingDoesNotChangeThePooledPrediction() throws IOException {
        CpuBackend be = CpuBackend.get();
        try (Transformer m = Transformer.load(encoder(), be); cola.tensor.Arena arena = new cola.tensor.Arena(1 << 16)) {
            m.addClassificationHead(2, 1);
            float[] a = m.forward(arena, new Batch(new int[][] {{1, 40, 41, 2}}, null, null), 0).toFloatArray();
            arena.reset();
            float[] b = m.forward(arena, new Batch(new int[][] {{1, 40, 41, 2, 0, 0}}, new int[][] {{1, 1, 1, 1, 0, 0}},
                    null), 0).toFloatArray();
            assertArrayEquals(a, b, 1e-5f);
        }
    }

    private static double loss(CpuBackend be, Transformer m, Probe.Inputs in) {
        Map<String, Tensor> r = Probe.run(be, m, in);
        double l = r.get("loss").item();
        r.values().forEach(Tensor::close);
        return l;
    }

    /** A BertForMaskedLM (cola's own BERT-base import) takes a classification head: the MLM head goes, exports skip it. */
    @Test
    void aMaskedLmDropsItsHeadForClassification() throws IOException {
        CpuBackend be = CpuBackend.get();
        Probe.Inputs raw = Probe.readInputs(GoldenModelTest.ROOT.resolve("bert-mlm/inputs.json"));
        float[] viaEncoder, viaMlm;
        try (Transformer m = Transformer.load(encoder(), be)) {
            m.addClassificationHead(3, 7);
            viaEncoder = logits(m, raw);
        }
        try (Transformer m = Transformer.load(GoldenModelTest.ROOT.resolve("bert-mlm/model"), be)) {
            assertEquals(Transformer.Head.MASKED_LM, m.head);
            new cola.train.ClassificationTask(cola.tokenizer.Tokenizer.fromFile(
                    Path.of("target/minilm/all-minilm-l6-v2-tokenizer.json")), split(), split(), split(), 2, 16).prepare(m, 7);
            assertEquals(Transformer.Head.SEQUENCE_CLASSIFICATION, m.head);
            viaMlm = logits(m, raw);
            assertTrue(m.params().stream().noneMatch(p -> p.key().startsWith("cls.")), "the MLM head left the params");
            HfFolderWriter.write(m, be, GoldenModelTest.ROOT.resolve("bert-mlm/model/config.json"), tmp.resolve("out"), null);
        }
        assertArrayEquals(viaEncoder, viaMlm, "the same encoder and the same seeded head");
        try (Transformer back = Transformer.load(tmp.resolve("out"), be)) {
            assertEquals(Transformer.Head.SEQUENCE_CLASSIFICATION, back.head);
            assertArrayEquals(viaMlm, logits(back, raw), "the export reloads as cola's mean-pooling classifier");
        }
    }

    static cola.data.ClassificationData.Split split() {
        return new cola.data.ClassificationData.Split("t", List.of(new cola.data.ClassificationData.Example("a", null, 0),
                new cola.data.ClassificationData.Example("b", null, 2)), 0);
    }

    static float[] logits(Transformer m, Probe.Inputs in) {
        try (cola.tensor.Arena a = new cola.tensor.Arena(1 << 20)) {
            return m.forward(a, in.batch(), 0).toFloatArray();
        }
    }
}
