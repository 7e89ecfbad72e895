package cola.train;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.model.Transformer;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code --recompute auto|on|off}: parsing, and auto's decision against the memory available. */
class RecomputeOptionTest {
    @Test
    void autoTurnsOnOnlyWhenTheEstimateWouldNotFit() throws IOException {
        try (Transformer m = Transformer.load(Path.of("tests/resources/golden/llama-gqa/model"), CpuBackend.get())) {
            long need = m.activationBytesEstimate(4096);
            assertTrue(need > 0, "an estimate");
            assertFalse(Recompute.AUTO.decide(m, 4096, 100 * need).on(), "plenty of memory: no recompute");
            Recompute.Decision tight = Recompute.AUTO.decide(m, 4096, need);
            assertTrue(tight.on(), "the estimate exceeds 80% of what is available");
            assertTrue(tight.reason().contains("auto: on"), tight.reason());
            assertFalse(Recompute.AUTO.decide(m, 4096, -1).on(), "memory unknown: off");
            assertTrue(Recompute.ON.decide(m, 1, 1L << 40).on());
            assertFalse(Recompute.OFF.decide(m, 1 << 20, 1).on());
        }
    }

    @Test
    void badValuesNameTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Recompute.parse("sometimes"));
        assertEquals("--recompute must be auto, on or off, got 'sometimes'", e.getMessage());
        assertEquals(Recompute.ON, Recompute.parse("ON"));
    }
}
