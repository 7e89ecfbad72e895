package cola.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * `cola train` end to end on the real default model (all-MiniLM-L6-v2, unpacked by the build into target/minilm) with a
 * small slice of the embedded task; and its data errors.
 */
class TrainCommandTest {
    @TempDir
    Path tmp;

    Path slice(String split, int lines) throws Exception {
        try (InputStream in = getClass().getClassLoader().getResourceAsStream("cola/data/tasks/spam-assassin/" + split + ".jsonl")) {
            List<String> all = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
            Path p = tmp.resolve(split + ".jsonl");
            Files.write(p, all.subList(0, lines));
            return p;
        }
    }

    @Test
    void trainsLoraAndColaAndWritesTheRunFolder() throws Exception {
        Path run = tmp.resolve("run");
        int rc = ColaTrainer.commandLine().execute("train", "--train", slice("train", 48).toString(), "--dev",
                slice("dev", 16).toString(), "--test", slice("test", 16).toString(), "--epochs", "1", "--batch-size", "8",
                "--chain-length", "2", "--ranks", "4,2", "--out", run.toString());
        assertEquals(0, rc);
        String summary = Files.readString(run.resolve("summary.txt"));
        assertTrue(summary.contains("LoRA") && summary.contains("COLA") && summary.contains("[4,2]"), summary);
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(4, metrics.size(), "one epoch row and one test row per method");
        assertTrue(metrics.get(3).contains("\"knots\":[3]"), metrics.get(3));  // 6 steps, 2 links
        assertTrue(Files.readString(run.resolve("config.json")).contains("\"chain_length\" : 2"));
        String svg = Files.readString(run.resolve("loss.svg"));
        assertTrue(svg.startsWith("<svg") && svg.contains("stroke-dasharray"), "loss plot with the knot marked");
        assertTrue(metrics.get(1).contains("\"effective_rank_delta_w\":4.0"), "one rank-4 LoRA: rank(ΔW) = 4: " + metrics.get(1));
        assertTrue(metrics.get(3).contains("\"effective_rank_delta_w\":6.0"), "links of rank 4 then 2: 6: " + metrics.get(3));
    }

    @Test
    void aBadJsonlLineIsNamedByFileAndLine() throws Exception {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"ok\", \"label\": 1}\n{\"text\": \"no label\"}\n");
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = ColaTrainer.commandLine();
        cl.setErr(new PrintWriter(err));
        int rc = cl.execute("train", "--train", bad.toString(), "--dev", bad.toString(), "--test", bad.toString(),
                "--out", tmp.resolve("r").toString());
        assertEquals(2, rc);
        assertTrue(err.toString().contains("bad.jsonl:2: 'label' must be an integer"), err.toString());
    }

    @Test
    void sentencePairsTrainWithTokenTypes() throws Exception {
        StringBuilder sb = new StringBuilder();
        String[] w = {"cat", "dog", "car", "tree", "house", "river"};
        for (int i = 0; i < 24; i++) {
            String a = w[i % 6], b = i % 2 == 0 ? w[i % 6] : w[(i + 1) % 6];
            sb.append("{\"text\": \"the ").append(a).append("\", \"text_pair\": \"a ").append(b)
                    .append("\", \"label\": ").append(i % 2 == 0 ? 1 : 0).append("}\n");
        }
        Path data = tmp.resolve("pairs.jsonl");
        Files.writeString(data, sb);
        Path run = tmp.resolve("pairs-run");
        assertEquals(0, ColaTrainer.commandLine().execute("train", "--train", data.toString(), "--dev", data.toString(),
                "--test", data.toString(), "--epochs", "1", "--batch-size", "8", "--method", "cola", "--chain-length", "2",
                "--out", run.toString()));
        assertTrue(Files.readString(run.resolve("summary.txt")).contains("COLA"));
    }

    @Test
    void compareRunsBothMethodsOverSeedsWithAPairedTTest() throws Exception {
        Path run = tmp.resolve("cmp");
        assertEquals(0, ColaTrainer.commandLine().execute("compare", "--train", slice("train", 24).toString(), "--dev",
                slice("dev", 8).toString(), "--test", slice("test", 16).toString(), "--epochs", "1", "--batch-size", "8",
                "--seeds", "1,2", "--chain-length", "2", "--out", run.toString()));
        String summary = Files.readString(run.resolve("summary.txt"));
        assertTrue(summary.contains("LoRA   test accuracy over 2 seeds") && summary.contains("COLA − LoRA")
                && summary.contains("paired t-test"), summary);
        assertEquals(8, Files.readAllLines(run.resolve("metrics.jsonl")).size(), "2 seeds × 2 methods × (epoch + test)");
    }

    @Test
    void fullFineTuningIsTheThirdBaseline() throws Exception {
        Path run = tmp.resolve("full");
        assertEquals(0, ColaTrainer.commandLine().execute("train", "--method", "full", "--train", slice("train", 32).toString(),
                "--dev", slice("dev", 8).toString(), "--test", slice("test", 8).toString(), "--epochs", "1", "--batch-size",
                "8", "--out", run.toString()));
        String summary = Files.readString(run.resolve("summary.txt"));
        assertTrue(summary.contains("Full") && summary.contains("all"), summary);
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertTrue(metrics.get(0).contains("\"train_loss\""), metrics.get(0));
    }

    @Test
    void knotEpochsGradAccumBestOnDevAndClassifierExportsRoundTrip() throws Exception {
        Path run = tmp.resolve("knobs");
        Path test = slice("test", 16);
        assertEquals(0, ColaTrainer.commandLine().execute("train", "--train", slice("train", 32).toString(), "--dev",
                slice("dev", 16).toString(), "--test", test.toString(), "--epochs", "3", "--batch-size", "4", "--grad-accum", "2",
                "--method", "cola", "--chain-length", "2", "--ranks", "4,2", "--knot-epochs", "2", "--best-on-dev",
                "--weight-decay", "0.01", "--schedule", "cosine", "--warmup", "2", "--export", "--out", run.toString()));
        List<String> metrics = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(4, metrics.size(), "3 epochs + test");
        String fin = metrics.get(3);
        assertTrue(fin.contains("\"steps\":12"), "8 micro-batches per epoch / 2 = 4 steps × 3 epochs: " + fin);
        assertTrue(fin.contains("\"knots\":[8]"), "--knot-epochs 2: the knot opens epoch 3 (step 8): " + fin);
        double best = -1;
        int bestEpoch = 0;
        for (int e = 0; e < 3; e++) {
            var n = new com.fasterxml.jackson.databind.ObjectMapper().readTree(metrics.get(e));
            if (n.get("dev_accuracy").asDouble() > best) {
                best = n.get("dev_accuracy").asDouble();
                bestEpoch = e + 1;
            }
        }
        assertTrue(fin.contains("\"best_epoch\":" + bestEpoch), "best-on-dev picks the first best dev epoch: " + fin);
        var finNode = new com.fasterxml.jackson.databind.ObjectMapper().readTree(fin);
        Path exp = run.resolve("export").resolve("COLA");
        assertTrue(Files.readString(exp.resolve("merged/config.json")).contains("\"cola_pooling\" : \"mean\""));
        for (String[] how : new String[][] {{"--model", exp.resolve("merged").toString()},
                {"--model", TrainCommand.defaultModel().toString(), "--adapter", exp.resolve("adapter").toString()}}) {
            List<String> a = new java.util.ArrayList<>(List.of("eval"));
            a.addAll(List.of(how));
            a.addAll(List.of("--data", test.toString(), "--batch-size", "4"));
            java.io.PrintStream old = System.out;
            java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
            System.setOut(new java.io.PrintStream(buf, true, StandardCharsets.UTF_8));
            try {
                assertEquals(0, ColaTrainer.commandLine().execute(a.toArray(String[]::new)));
            } finally {
                System.setOut(old);
            }
            String out = buf.toString(StandardCharsets.UTF_8);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("accuracy ([0-9.]+), macro-F1 [0-9.]+, loss ([0-9.]+)").matcher(out);
            assertTrue(m.find(), out);
            assertEquals(finNode.get("test_accuracy").asDouble(), Double.parseDouble(m.group(1)), 1e-4, out);
            assertEquals(finNode.get("test_loss").asDouble(), Double.parseDouble(m.group(2)), 2e-4,
                    "the export reproduces the trained (best-epoch) model: " + out);
        }
    }

    @Test
    void helpDocumentsEveryOptionWithItsDefault() {
        StringWriter out = new StringWriter();
        picocli.CommandLine cl = ColaTrainer.commandLine();
        cl.setOut(new PrintWriter(out));
        assertEquals(0, cl.execute("train", "--help"));
        String help = out.toString();
        for (String o : List.of("--task", "--sample", "--knots", "--knot-epochs", "--rewarmup", "--beta1", "--beta2", "--eps",
                "--weight-decay", "--grad-accum", "--best-on-dev", "--export", "--device", "--merge-rounding", "--schedule")) {
            assertTrue(help.contains(o), o + " missing from --help");
        }
        assertTrue(help.contains("(default: 0.999)") && help.contains("(default: linear)"), help);
    }
}
