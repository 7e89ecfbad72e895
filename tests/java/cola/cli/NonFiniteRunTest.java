package cola.cli;

import static org.junit.jupiter.api.Assertions.*;

import cola.io.SafetensorsFile;
import cola.io.SafetensorsWriter;
import cola.tensor.Tensor;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run whose every step is non-finite fails instead of printing a loss and exporting (issue: reliability, NaN is
 * hidden); and a NaN weight is refused at load unless --allow-nonfinite, which is how this run gets its NaN.
 */
class NonFiniteRunTest {
    @TempDir
    Path tmp;

    @Test
    void aRunWithNoFiniteStepFailsAndExportsNothing() throws Exception {
        Path model = tmp.resolve("tiny");
        assertEquals(0, ColaTrainer.commandLine().execute("init", "--family", "llama", "--tokenizer",
                FamiliesTrainTest.gpt2Tokenizer().toString(), "--hidden", "32", "--layers", "1", "--heads", "4", "--ffn",
                "64", "--max-positions", "64", "--out", model.toString()));
        Map<String, Tensor> ts = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(model.resolve("model.safetensors"))) {
            for (String n : f.entries().keySet()) ts.put(n, f.load(n));
        }
        try {
            Tensor w = ts.get("model.layers.0.self_attn.q_proj.weight");
            float[] v = w.toFloatArray();
            v[5] = Float.NaN;
            w.copyFrom(v);
            SafetensorsWriter.write(model.resolve("model.safetensors"), ts, Map.of("format", "pt"));
        } finally {
            ts.values().forEach(Tensor::close);
        }
        Path data = tmp.resolve("text.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 8; i++) sb.append("{\"text\": \"the cat sat on the mat number ").append(i).append("\"}\n");
        Files.writeString(data, sb);
        List<String> args = List.of("train", "--model", model.toString(), "--task", "lm", "--train", data.toString(),
                "--dev", data.toString(), "--test", data.toString(), "--method", "lora", "--epochs", "1",
                "--batch-size", "4", "--max-length", "16", "--export", "--out", tmp.resolve("run").toString());
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = ColaTrainer.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute(args.toArray(String[]::new)));
        assertTrue(err.toString().contains("holds a non-finite value") && err.toString().contains("--allow-nonfinite"),
                err.toString());

        List<String> allowed = new java.util.ArrayList<>(args);
        allowed.add("--allow-nonfinite");
        err.getBuffer().setLength(0);
        assertEquals(2, cl.execute(allowed.toArray(String[]::new)));
        assertTrue(err.toString().contains("steps had a non-finite loss or gradient") && err.toString().contains(
                "nothing is exported"), err.toString());
        assertFalse(Files.exists(tmp.resolve("run/export/LoRA/merged")), "no export from a run that learned nothing");
    }
}
