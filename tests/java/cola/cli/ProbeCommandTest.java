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
