package cola.model;

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
    @ValueSource(strings = {"opt-pre", "opt-post-proj", "llama-gqa", "gpt2", "bert-mlm", "bert-cls"})
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
