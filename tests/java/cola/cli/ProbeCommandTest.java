package cola.cli;

import static org.junit.jupiter.api.Assertions.*;

import cola.io.SafetensorsFile;
import cola.tensor.Tensor;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `cola probe` end to end through the command line, and its error path. */
class ProbeCommandTest {
    static final Path CASE = Path.of("tests/resources/golden/gpt2");

    @TempDir
    Path tmp;

    @Test
    void probeWritesLogitsLossAndGradientsThatMatchPyTorch() throws Exception {
        Path out = tmp.resolve("probe.safetensors");
        int rc = ColaTrainer.commandLine().execute("probe", "--model", CASE.resolve("model").toString(), "--input",
                CASE.resolve("inputs.json").toString(), "--adapter", CASE.resolve("adapter").toString(), "--out",
                out.toString());
        assertEquals(0, rc);
        try (SafetensorsFile got = SafetensorsFile.open(out);
             SafetensorsFile exp = SafetensorsFile.open(CASE.resolve("expected.safetensors"))) {
            assertEquals(exp.entries().keySet(), got.entries().keySet());
            try (Tensor l = got.load("loss"); Tensor e = exp.load("loss")) {
                assertEquals(e.item(), l.item(), 1e-4 * Math.abs(e.item()));
            }
        }
    }

    @Test
    void probeDtypeBf16WritesTheSameOutputsWithinBf16Tolerance() throws Exception {
        Path f32 = tmp.resolve("f32.safetensors"), b16 = tmp.resolve("bf16.safetensors");
        for (Path[] run : new Path[][] {{f32, Path.of("f32")}, {b16, Path.of("bf16")}}) {
            assertEquals(0, ColaTrainer.commandLine().execute("probe", "--model", CASE.resolve("model").toString(),
                    "--input", CASE.resolve("inputs.json").toString(), "--adapter", CASE.resolve("adapter").toString(),
                    "--dtype", run[1].toString(), "--out", run[0].toString()));
        }
        try (SafetensorsFile a = SafetensorsFile.open(f32); SafetensorsFile b = SafetensorsFile.open(b16)) {
            assertEquals(a.entries().keySet(), b.entries().keySet(), "the same tensors");
            for (String k : a.entries().keySet()) {
                try (Tensor x = a.load(k); Tensor y = b.load(k)) {
                    assertEquals(cola.tensor.DType.F32, y.dtype(), k + " is written in f32 either way");
                    assertArrayEquals(x.shape(), y.shape(), k);
                    float[] xv = x.toFloatArray(), yv = y.toFloatArray();
                    double max = 1e-6, err = 0;
                    for (int i = 0; i < xv.length; i++) {
                        max = Math.max(max, Math.abs(xv[i]));
                        err = Math.max(err, Math.abs(xv[i] - yv[i]));
                    }
                    double r = err / max;
                    assertTrue(r < (k.startsWith("grad.") ? 0.2 : 0.1), k + ": bf16 vs f32 rel " + r);
                }
            }
        }
    }

    @Test
    void probeWithoutAdapterWritesLogitsAndLossOnly() throws Exception {
        Path out = tmp.resolve("base.safetensors");
        assertEquals(0, ColaTrainer.commandLine().execute("probe", "--model", CASE.resolve("model").toString(),
                "--input", CASE.resolve("inputs.json").toString(), "--out", out.toString()));
        try (SafetensorsFile got = SafetensorsFile.open(out)) {
            assertEquals(java.util.Set.of("logits", "loss"), got.entries().keySet());
        }
    }

    @Test
    void missingFileIsOneClearLineAndExitCode2() {
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = ColaTrainer.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("probe", "--model", tmp.resolve("nope").toString(), "--input",
                tmp.resolve("inputs.json").toString(), "--out", tmp.resolve("o").toString());
        assertEquals(2, rc);
        assertTrue(err.toString().startsWith("cola probe: no such file: "), err.toString());
        assertTrue(err.toString().contains("inputs.json"), err.toString());
    }
}
