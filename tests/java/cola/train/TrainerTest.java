package cola.train;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.AdamWConfig;
import cola.backend.cpu.CpuBackend;
import cola.chain.Chain;
import cola.chain.ChainConfig;
import cola.chain.ChainSchedule;
import cola.lora.LoraConfig;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.optim.LrSchedule;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The training loop on a tiny OPT: LoRA and COLA learn, runs reproduce bit for bit, bad steps are guarded. */
class TrainerTest {
    static final Path CASE = Path.of("tests/resources/golden/opt-pre");
    final CpuBackend be = CpuBackend.get();

    record Result(List<Trainer.StepLog> log, float[] weights) {}

    Result train(int links, int steps, int accum, boolean poison) throws IOException {
        Probe.Inputs in = Probe.readInputs(CASE.resolve("inputs.json"));
        Trainer.Example ex = new Trainer.Example(in.batch(), in.tokenLabels(), null);
        LoraConfig lora = new LoraConfig(4, 8, 0, false, List.of("q_proj", "v_proj", "fc1"), Map.of(),
                LoraConfig.Init.KAIMING_UNIFORM, 3);
        try (Transformer m = Transformer.load(CASE.resolve("model"), be);
             Chain chain = new Chain(be, m, lora, ChainConfig.paper(links, 4), AdamWConfig.defaults(0f))) {
            if (poison) {
                LoraAdapter a = chain.adapters().get(0);
                float[] v = a.a.toFloatArray();
                v[0] = Float.NaN;
                a.a.copyFrom(v);
            }
            TrainConfig cfg = new TrainConfig(steps, new LrSchedule(LrSchedule.Kind.LINEAR, 2e-2, 2, steps), 1.0, accum,
                    3, 7);
            List<Trainer.StepLog> log = new Trainer(be, m, chain, new ChainSchedule(ChainConfig.paper(links, 4), steps),
                    cfg).run(i -> ex, null);
            chain.finish();
            return new Result(log, m.linear("model.decoder.layers.1.self_attn.v_proj").weight.toFloatArray());
        }
    }

    @Test
    void loraAndColaBothLearnAndTheChainTiesItsKnots() throws IOException {
        for (int links : new int[] {1, 3}) {
            List<Trainer.StepLog> log = train(links, 30, 1, false).log();
            double first = log.get(0).loss(), last = log.get(log.size() - 1).loss();
            assertTrue(last < 0.7 * first, "M=" + links + ": loss " + first + " → " + last);
            long knots = log.stream().filter(Trainer.StepLog::knot).count();
            assertEquals(links - 1, knots);
            assertEquals(links - 1, log.get(log.size() - 1).link());
            assertTrue(log.stream().noneMatch(Trainer.StepLog::skipped));
        }
    }

    @Test
    void runsAreBitReproducible() throws IOException {
        Result a = train(2, 8, 1, false), b = train(2, 8, 1, false);
        for (int i = 0; i < a.log().size(); i++) assertEquals(a.log().get(i).loss(), b.log().get(i).loss(), 0.0);
        assertArrayEquals(a.weights(), b.weights(), "merged weights identical");
    }

    @Test
    void gradientAccumulationOfTheSameBatchEqualsOneStep() throws IOException {
        Result one = train(1, 3, 1, false), two = train(1, 3, 2, false);
        for (int i = 0; i < 3; i++) assertEquals(one.log().get(i).loss(), two.log().get(i).loss(), 1e-5);
        float[] w1 = one.weights(), w2 = two.weights();
        for (int i = 0; i < w1.length; i++) assertEquals(w1[i], w2[i], 1e-6f);
    }

    @Test
    void nonFiniteStepsAreSkippedThenAbortTheRun() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> train(2, 10, 1, true));
        assertTrue(e.getMessage().contains("3 non-finite steps in a row"), e.getMessage());
    }
}
