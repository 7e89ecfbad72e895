package cola.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.cpu.CpuBackend;
import cola.tensor.Tensor;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Full fine-tuning (every weight trains): each family's gradients of embeddings, norms, linears, biases and heads
 * against finite differences of the whole model's loss.
 */
class FullFineTuningTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"opt-pre", "opt-post-proj", "llama-gqa", "gpt2", "bert-mlm", "bert-cls", "qwen2", "qwen3", "mistral", "phi3"})
    void everyWeightsGradientMatchesFiniteDifferences(String name) throws IOException {
        Path dir = GoldenModelTest.ROOT.resolve(name);
        CpuBackend be = CpuBackend.get();
        Probe.Inputs in = Probe.readInputs(dir.resolve("inputs.json"));
        try (Transformer m = Transformer.load(dir.resolve("model"), be)) {
            m.enableFullFineTuning();
            List<Transformer.Trainable> ps = m.trainable();
            assertTrue(ps.size() == m.params().size(), name + ": every weight trains (" + ps.size() + " of "
                    + m.params().size() + ")");
            close(Probe.run(be, m, in));
            // snapshot the analytic gradients before finite differences overwrite them
            float[][] analytic = new float[ps.size()][];
            for (int i = 0; i < ps.size(); i++) analytic[i] = ps.get(i).grad().toFloatArray();
            Random rng = new Random(name.hashCode());
            StringBuilder bad = new StringBuilder();
            for (int i = 0; i < ps.size(); i++) {
                Transformer.Trainable p = ps.get(i);
                float[] x = p.value().toFloatArray();
                double maxGrad = 1e-9, maxErr = 0;
                for (float g : analytic[i]) maxGrad = Math.max(maxGrad, Math.abs(g));
                for (int s = 0; s < 2; s++) {
                    int j = rng.nextInt(x.length);
                    float orig = x[j], h = 5e-3f;
                    x[j] = orig + h;
                    p.value().copyFrom(x);
                    double lp = loss(be, m, in);
                    x[j] = orig - h;
                    p.value().copyFrom(x);
                    double lm = loss(be, m, in);
                    x[j] = orig;
                    p.value().copyFrom(x);
                    maxErr = Math.max(maxErr, Math.abs((lp - lm) / (2 * h) - analytic[i][j]));
                }
                double rel = maxErr / maxGrad;
                // The key projection's bias has an exactly zero gradient (softmax ignores a per-query constant added
                // to every score), so its scale is rounding noise: there the absolute error must sit at the
                // finite-difference noise floor (f32 loss ~1e-7 relative over a 1e-2 step) instead.
                if (!(rel < 3e-2 || maxErr < 2e-4)) bad.append(String.format("%n  %s: error %.3e of grad scale %.3e", p.name(), rel, maxGrad));
            }
            assertTrue(bad.length() == 0, name + ":" + bad);
        }
    }

    /**
     * bf16 full fine-tuning: the optimiser updates fp32 masters (updates far below a bf16 ulp are kept), the bf16
     * working copy is round_bf16(master) after every step, and the run tracks the f32 engine's: losses within 2e-2
     * relative over three steps, each weight's first gradient with cosine ≥ 0.98 against the f32 run's (weights whose
     * gradient is zero in exact arithmetic — the key projection's bias — carry only rounding noise and are skipped).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama-tied-bf16", "opt-pre", "bert-cls"})
    void bf16FullFineTuningUpdatesFp32MastersAndTracksTheF32Run(String name) throws IOException {
        Path dir = GoldenModelTest.ROOT.resolve(name);
        CpuBackend be = CpuBackend.get();
        Probe.Inputs in = Probe.readInputs(dir.resolve("inputs.json"));
        try (Transformer f32 = Transformer.load(dir.resolve("model"), be, cola.tensor.DType.F32);
             Transformer b16 = Transformer.load(dir.resolve("model"), be, cola.tensor.DType.BF16)) {
            float[][][] start = new float[2][][], end = new float[2][][], grad0 = new float[2][][];
            double[][] losses = new double[2][3];
            Transformer[] models = {f32, b16};
            for (int k = 0; k < 2; k++) {
                Transformer m = models[k];
                m.enableFullFineTuning();
                List<Transformer.Trainable> ps = m.trainable();
                start[k] = new float[ps.size()][];
                for (int i = 0; i < ps.size(); i++) {
                    assertTrue(ps.get(i).value().dtype() == cola.tensor.DType.F32, ps.get(i).name() + " trains an fp32 master");
                    start[k][i] = ps.get(i).value().toFloatArray();
                }
                try (cola.optim.AdamW opt = new cola.optim.AdamW(be, ps.stream().map(Transformer.Trainable::value).toList(),
                        ps.stream().map(Transformer.Trainable::grad).toList(), cola.backend.AdamWConfig.defaults(0f))) {
                    for (int step = 0; step < 3; step++) {
                        Map<String, Tensor> r = Probe.run(be, m, in);
                        losses[k][step] = r.get("loss").item();
                        close(r);
                        if (step == 0) {
                            grad0[k] = new float[ps.size()][];
                            for (int i = 0; i < ps.size(); i++) grad0[k][i] = ps.get(i).grad().toFloatArray();
                        }
                        opt.step(1e-3, 1f);
                        m.syncWorkingCopies();
                    }
                }
                end[k] = new float[ps.size()][];
                for (int i = 0; i < ps.size(); i++) end[k][i] = ps.get(i).value().toFloatArray();
            }
            for (int step = 0; step < 3; step++) {
                assertEquals(losses[0][step], losses[1][step], 2e-2 * Math.abs(losses[0][step]), "loss at step " + step);
            }
            boolean subUlpKept = false;
            double maxNorm = 0;
            for (float[] g : grad0[0]) maxNorm = Math.max(maxNorm, norm(g));
            for (int i = 0; i < start[0].length; i++) {
                for (int j = 0; j < start[1][i].length; j++) {
                    double b = end[1][i][j] - start[1][i][j], ulp = Math.ulp(start[1][i][j]) * 65536.0;
                    if (b != 0 && Math.abs(b) < ulp / 2) subUlpKept = true;
                }
                if (norm(grad0[0][i]) < 1e-5 * maxNorm) continue;  // an exactly-zero gradient: rounding noise only
                double cos = GoldenModelTest.cosine(grad0[0][i], grad0[1][i]);
                assertTrue(cos >= 0.98, name + " parameter " + i + ": gradient cosine " + cos);
            }
            assertTrue(subUlpKept, "some updates below half a bf16 ulp were kept in the masters");
            for (Transformer.Param p : b16.params()) {  // working copy = round_bf16(master), exactly
                if (p.value().dtype() != cola.tensor.DType.BF16) continue;
                float[] w = p.value().toFloatArray(), mst = b16.masterOf(p.value()).toFloatArray();
                for (int j = 0; j < w.length; j++) {
                    assertEquals(cola.tensor.Half.bf16ToFloat(cola.tensor.Half.floatToBf16(mst[j])), w[j], 0f, p.key());
                }
            }
        }
    }

    private static double norm(float[] g) {
        double s = 0;
        for (float x : g) s += (double) x * x;
        return Math.sqrt(s);
    }

    private static double loss(CpuBackend be, Transformer m, Probe.Inputs in) {
        Map<String, Tensor> r = Probe.run(be, m, in);
        double l = r.get("loss").item();
        close(r);
        return l;
    }

    private static void close(Map<String, Tensor> r) {
        r.values().forEach(Tensor::close);
    }
}
