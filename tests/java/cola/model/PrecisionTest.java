package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.tensor.DType;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code --dtype auto|bf16|f32}: the rule, its errors, and what it picks for the golden folders on this CPU. */
class PrecisionTest {
    @Test
    void autoPicksBf16OnlyForAHalfPrecisionCheckpointOnBf16Units() {
        assertEquals(DType.BF16, Precision.resolve(Precision.Choice.AUTO, "BF16", "avx512_bf16", "cpu").dtype());
        assertEquals(DType.BF16, Precision.resolve(Precision.Choice.AUTO, "F16", "amx", "cpu").dtype());
        assertEquals(DType.F32, Precision.resolve(Precision.Choice.AUTO, "F32", "amx", "cpu").dtype());
        Precision.Resolved noUnits = Precision.resolve(Precision.Choice.AUTO, "BF16", "", "cpu");
        assertEquals(DType.F32, noUnits.dtype(), "auto falls back without bf16 units");
        assertTrue(noUnits.reason().contains("no bf16 units"), noUnits.reason());
        assertEquals(DType.F32, Precision.resolve(Precision.Choice.F32, "BF16", "amx", "cpu").dtype());
        assertEquals(DType.BF16, Precision.resolve(Precision.Choice.BF16, "F32", "tensor cores", "cuda:0").dtype(),
                "an explicit bf16 rounds an f32 checkpoint once");
    }

    @Test
    void explicitBf16WithoutBf16UnitsIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Precision.resolve(Precision.Choice.BF16, "BF16", "", "cpu"));
        assertTrue(e.getMessage().contains("no bf16 units") && e.getMessage().contains("--dtype f32"), e.getMessage());
    }

    @Test
    void badValuesNameTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.Choice.parse("fp8"));
        assertEquals("--dtype must be auto, bf16 or f32, got 'fp8'", e.getMessage());
        assertEquals(Precision.Choice.BF16, Precision.Choice.parse("BFloat16"));
    }

    @Test
    void theCheckpointDtypeComesFromTheFolder() throws IOException {
        Path golden = Path.of("tests/resources/golden");
        String units = CpuBackend.bf16Units();
        Precision.Resolved bf16 = Precision.resolve(Precision.Choice.AUTO, golden.resolve("llama-tied-bf16/model"),
                CpuBackend.get());
        assertEquals(units.isEmpty() ? DType.F32 : DType.BF16, bf16.dtype(), bf16.reason());
        assertEquals(DType.F32, Precision.resolve(Precision.Choice.AUTO, golden.resolve("llama-gqa/model"),
                CpuBackend.get()).dtype(), "an f32 checkpoint stays f32 under auto");
    }
}
