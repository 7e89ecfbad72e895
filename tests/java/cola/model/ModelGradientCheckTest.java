package cola.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import cola.backend.cpu.CpuBackend;
import cola.lora.PeftAdapter;
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
 * Finite differences of the whole model, per family: the loss's change when one adapter weight moves by ±h against
 * the backward's gradient, for sampled entries of A and B in the first and last adapted layers.
 */
class ModelGradientCheckTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"opt-pre", "opt-post-proj", "llama-gqa", "llama-tied-bf16", "gpt2", "bert-mlm", "bert-cls"})
    void lossGradientMatchesFiniteDifferences(String name) throws IOException {
        Path dir = GoldenModelTest.ROOT.resolve(name);
        CpuBackend be = CpuBackend.get();
        Probe.Inputs in = Probe.readInputs(dir.resolve("inputs.json"));
        try (Transformer m = Transformer.load(dir.resolve("model"), be)) {
            List<LoraAdapter> adapters = PeftAdapter.attach(dir.resolve("adapter"), m);
            try {
                Random rng = new Random(name.hashCode());
                for (LoraAdapter ad : List.of(adapters.get(0), adapters.get(adapters.size() - 1))) {
                    for (boolean isA : new boolean[] {true, false}) {
                        Tensor p = isA ? ad.a : ad.b;
                        float[] analytic = grad(be, m, in, ad, isA);
                        float[] x = p.toFloatArray();
                        double maxErr = 0, maxGrad = 1e-12;
                        for (float g : analytic) maxGrad = Math.max(maxGrad, Math.abs(g));
                        for (int s = 0; s < 6; s++) {
                            int i = rng.nextInt(x.length);
                            float orig = x[i], h = 1e-2f;
                            x[i] = orig + h;
                            p.copyFrom(x);
                            double lp = loss(be, m, in);
                            x[i] = orig - h;
                            p.copyFrom(x);
                            double lm = loss(be, m, in);
                            x[i] = orig;
                            p.copyFrom(x);
                            double fd = (lp - lm) / (2 * h);
                            maxErr = Math.max(maxErr, Math.abs(fd - analytic[i]));
                        }
                        double rel = maxErr / maxGrad;
                        assertTrue(rel < 2e-2, name + " " + ad.modulePath + (isA ? " A" : " B")
                                + ": finite-difference error " + rel + " of the gradient's scale " + maxGrad);
                    }
                }
            } finally {
                for (LoraAdapter a : adapters) a.close();
            }
        }
    }

    private static float[] grad(CpuBackend be, Transformer m, Probe.Inputs in, LoraAdapter ad, boolean isA) {
        Map<String, Tensor> r = Probe.run(be, m, in);
        try {
            return (isA ? ad.gradA : ad.gradB).toFloatArray();
        } finally {
            r.values().forEach(Tensor::close);
        }
    }

    private static double loss(CpuBackend be, Transformer m, Probe.Inputs in) {
        Map<String, Tensor> r = Probe.run(be, m, in);
        try {
            return r.get("loss").item();
        } finally {
            r.values().forEach(Tensor::close);
        }
    }
}
