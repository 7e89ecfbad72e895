package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.lora.Lora;
import cola.lora.LoraConfig;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.train.Loss;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused, chunked LM head + cross-entropy (Transformer#causalLmLoss) equals the plain path — full logits,
 * Loss.crossEntropy, backward — in loss and in every adapter gradient, for chunks that divide the rows and chunks that
 * do not, tied and untied heads, f32 and bf16 weights, and with an ignored (padded) target.
 */
class ChunkedLmLossTest {
    static final Path GOLDEN = Path.of("tests/resources/golden");

    @ParameterizedTest(name = "{0} chunk={1} {2}")
    @CsvSource({"llama-gqa, 1, F32", "llama-gqa, 5, F32", "llama-tied-bf16, 3, F32", "llama-tied-bf16, 4, BF16",
            "opt-pre, 7, F32", "llama-gqa, 0, BF16"})
    void chunkedLossAndGradientsEqualThePlainPath(String name, int chunk, DType dtype) throws IOException {
        CpuBackend be = CpuBackend.get();
        Probe.Inputs in = Probe.readInputs(GOLDEN.resolve(name).resolve("inputs.json"));
        try (Transformer m = Transformer.load(GOLDEN.resolve(name).resolve("model"), be, dtype);
             Arena arena = new Arena(1 << 20)) {
            List<LoraAdapter> ads = Lora.attach(m, new LoraConfig(4, 8, 0, false, List.of("q_proj", "v_proj"), Map.of(),
                    LoraConfig.Init.GAUSSIAN, 3));
            for (LoraAdapter a : ads) {  // non-zero B so every adapter gradient is non-trivial
                float[] b = new float[(int) a.b.numel()];
                for (int i = 0; i < b.length; i++) b[i] = 0.05f * (float) Math.cos(i + a.modulePath.length());
                a.b.copyFrom(b);
            }
            int[] targets = Loss.shiftLabels(in.tokenLabels());
            targets[1] = Loss.IGNORE;

            arena.reset();
            Loss.Result plain = Loss.crossEntropy(be, arena, m.forward(arena, in.batch(), 0), targets);
            be.scale(List.of(plain.dlogits()), 0.5f);
            m.backward(plain.dlogits());
            float[][] want = grads(ads);

            for (LoraAdapter a : ads) a.zeroGrad();
            arena.reset();
            m.setLmHeadChunkRows(chunk);
            Transformer.LmLoss fused = m.causalLmLoss(arena, in.batch(), 0, targets, Loss.IGNORE, 0.5f, true);
            m.backwardFromHead();
            assertEquals(plain.counted(), fused.counted());
            assertEquals(plain.loss(), fused.loss(), 1e-6 * Math.abs(plain.loss()), "loss");
            float[][] got = grads(ads);
            for (int i = 0; i < want.length; i++) {
                double max = 1e-12, err = 0;
                for (int j = 0; j < want[i].length; j++) {
                    max = Math.max(max, Math.abs(want[i][j]));
                    err = Math.max(err, Math.abs(want[i][j] - got[i][j]));
                }
                assertTrue(err / max < 1e-5, "gradient " + i + ": relative error " + err / max);
            }
            Lora.detach(m, ads);
        }
    }

    static float[][] grads(List<LoraAdapter> ads) {
        float[][] g = new float[2 * ads.size()][];
        for (int i = 0; i < ads.size(); i++) {
            g[2 * i] = ads.get(i).gradA.toFloatArray();
            g[2 * i + 1] = ads.get(i).gradB.toFloatArray();
        }
        return g;
    }
}
