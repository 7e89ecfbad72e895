package cola.train;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.AdamWConfig;
import cola.backend.cpu.CpuBackend;
import cola.chain.Chain;
import cola.chain.ChainConfig;
import cola.chain.ChainSchedule;
import cola.lora.LoraConfig;
import cola.model.Transformer;
import cola.optim.LrSchedule;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Stop after k steps (past a knot), write a checkpoint, resume in fresh objects: bit-identical to an uninterrupted run. */
class CheckpointTest {
    static final Path CASE = Path.of("tests/resources/golden/opt-pre");
    static final int STEPS = 12;
    final CpuBackend be = CpuBackend.get();

    @TempDir
    Path tmp;

    LoraConfig lora() {
        return new LoraConfig(4, 8, 0, false, List.of("q_proj", "v_proj"), Map.of(), LoraConfig.Init.GAUSSIAN, 9);
    }

    ChainConfig chainConfig() {
        return new ChainConfig(2, List.of(4, 2), List.of(), ChainConfig.Reset.FULL, 0, ChainConfig.LrScope.GLOBAL, 0);
    }

    TrainConfig trainConfig() {
        return new TrainConfig(STEPS, new LrSchedule(LrSchedule.Kind.COSINE, 1e-2, 2, STEPS), 1.0, 1, 3, 5);
    }

    record Outcome(List<Trainer.StepLog> log, float[] q, float[] v) {}

    Outcome run(Integer stopAt, Path checkpoint) throws IOException {
        Probe.Inputs in = Probe.readInputs(CASE.resolve("inputs.json"));
        Trainer.Example ex = new Trainer.Example(in.batch(), in.tokenLabels(), null);
        try (Transformer m = Transformer.load(CASE.resolve("model"), be);
             Chain chain = new Chain(be, m, lora(), chainConfig(), AdamWConfig.defaults(0f))) {
            ChainSchedule schedule = new ChainSchedule(chainConfig(), STEPS);
            Trainer t = new Trainer(be, m, chain, schedule, trainConfig());
            int from = 0;
            List<Trainer.StepLog> log = new java.util.ArrayList<>();
            if (stopAt == null && checkpoint != null) {
                from = Checkpoint.restore(checkpoint, m, chain).nextStep();
            }
            int to = stopAt != null ? stopAt : STEPS;
            log.addAll(t.run(i -> ex, null, from, to));
            if (stopAt != null) {
                Checkpoint.write(checkpoint, m, chain, stopAt);
                return new Outcome(log, null, null);
            }
            chain.finish();
            return new Outcome(log, m.linear("model.decoder.layers.0.self_attn.q_proj").weight.toFloatArray(),
                    m.linear("model.decoder.layers.1.self_attn.v_proj").weight.toFloatArray());
        }
    }

    @Test
    void resumeIsBitIdenticalToAnUninterruptedRun() throws IOException {
        Outcome straight = run(null, null);
        Path ck = tmp.resolve("step8.safetensors");
        Outcome first = run(8, ck);  // past the knot at step 6: link 1, rank 2, with history
        assertEquals(8, first.log().size());
        assertTrue(Files.exists(ck));
        assertEquals(1, Files.list(tmp).count(), "atomic write: no temp file left");
        Outcome resumed = run(null, ck);
        assertEquals(STEPS - 8, resumed.log().size());
        for (int i = 0; i < resumed.log().size(); i++) {
            assertEquals(straight.log().get(8 + i).loss(), resumed.log().get(i).loss(), 0.0, "loss at step " + (8 + i));
        }
        assertArrayEquals(straight.q(), resumed.q(), "merged q_proj weights bit-identical");
        assertArrayEquals(straight.v(), resumed.v(), "merged v_proj weights bit-identical");
    }

    @Test
    void aCheckpointOfAnotherConfigurationIsRefusedByName() throws IOException {
        Path ck = tmp.resolve("ck.safetensors");
        run(3, ck);
        try (Transformer m = Transformer.load(CASE.resolve("model"), be);
             Chain other = new Chain(be, m, new LoraConfig(8, 8, 0, false, List.of("q_proj", "v_proj"), Map.of(),
                     LoraConfig.Init.GAUSSIAN, 9), ChainConfig.paper(2, 8), AdamWConfig.defaults(0f))) {
            IOException e = assertThrows(IOException.class, () -> Checkpoint.restore(ck, m, other));
            assertTrue(e.getMessage().contains("but the model expects") && e.getMessage().contains("lora."), e.getMessage());
        }
    }
}
