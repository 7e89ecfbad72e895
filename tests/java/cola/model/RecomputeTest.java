package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.lora.PeftAdapter;
import cola.tensor.Arena;
import cola.train.Loss;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Activation recompute per block: bit-identical logits and gradients, less activation memory. */
class RecomputeTest {

    record Run(float[] logits, float[] grads, long highWater) {}

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"opt-pre", "llama-gqa", "bert-mlm"})
    void recomputeIsBitIdenticalAndUsesLessMemory(String name) throws IOException {
        Path dir = GoldenModelTest.ROOT.resolve(name);
        Probe.Inputs in = Probe.readInputs(dir.resolve("inputs.json"));
        CpuBackend be = CpuBackend.get();
        try (Transformer m = Transformer.load(dir.resolve("model"), be)) {
            List<LoraAdapter> ads = PeftAdapter.attach(dir.resolve("adapter"), m);
            try {
                Run plain = run(m, in, false), again = run(m, in, true);
                assertArrayEquals(plain.logits(), again.logits());
                assertArrayEquals(plain.grads(), again.grads());
                assertTrue(again.highWater() < plain.highWater(),
                        "recompute peak " + again.highWater() + " vs " + plain.highWater() + " bytes");
            } finally {
                ads.forEach(LoraAdapter::close);
            }
        }
    }

    private static Run run(Transformer m, Probe.Inputs in, boolean recompute) {
        m.setActivationRecompute(recompute);
        for (Transformer.Trainable p : m.trainable()) p.grad().zero();
        try (Arena arena = new Arena(1 << 12)) {
            var logits = m.forward(arena, in.batch(), 3);
            int[] targets = m.head == Transformer.Head.CAUSAL_LM ? Loss.shiftLabels(in.tokenLabels())
                    : flatten(in.tokenLabels());
            Loss.Result r = Loss.crossEntropy(m.trainable().isEmpty() ? null : CpuBackend.get(), arena, logits, targets);
            float[] lg = logits.toFloatArray();
            m.backward(r.dlogits());
            List<Transformer.Trainable> ps = m.trainable();
            int n = 0;
            for (var p : ps) n += (int) p.grad().numel();
            float[] g = new float[n];
            int o = 0;
            for (var p : ps) {
                float[] x = p.grad().toFloatArray();
                System.arraycopy(x, 0, g, o, x.length);
                o += x.length;
            }
            return new Run(lg, g, arena.highWater());
        }
    }

    private static int[] flatten(int[][] a) {
        int t = a[0].length;
        int[] f = new int[a.length * t];
        for (int i = 0; i < a.length; i++) System.arraycopy(a[i], 0, f, i * t, t);
        return f;
    }
}
