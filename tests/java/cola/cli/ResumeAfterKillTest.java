package cola.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training JVM is killed hard (SIGKILL) after its first per-epoch checkpoint; `train --resume` in a fresh JVM state
 * finishes the run, and its last epoch and test results equal an uninterrupted run's bit for bit.
 */
class ResumeAfterKillTest {
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

    List<String> args(Path run, Path train, Path dev, Path test) {
        return List.of("train", "--train", train.toString(), "--dev", dev.toString(), "--test", test.toString(),
                "--epochs", "4", "--batch-size", "8", "--method", "cola", "--chain-length", "3", "--ranks", "4",
                "--out", run.toString());
    }

    /**
     * metrics.jsonl whole — every epoch (the resumed run carries the epochs before the kill in its checkpoint), test
     * accuracy, F1, rank, steps, knots, FLOPs and merge survival per link — everything but wall time and peak RSS.
     */
    static String result(Path run) throws Exception {
        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(5, lines.size(), "4 epoch rows and the test row: " + lines);
        return String.join("\n", lines).replaceAll("\"seconds\":[^,]*,", "").replaceAll("\"tokens_per_second\":[^,]*,", "")
                .replaceAll("\"peak_rss_mb\":[^,]*,", "");  // a measurement of the process, like wall time
    }

    @Test
    void killedRunResumesBitIdentically() throws Exception {
        Path train = slice("train", 96), dev = slice("dev", 16), test = slice("test", 16);
        Path straight = tmp.resolve("straight"), killed = tmp.resolve("killed");
        assertEquals(0, ColaTrainer.commandLine().execute(args(straight, train, dev, test).toArray(String[]::new)));

        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "cola.cli.ColaTrainer"));
        cmd.addAll(args(killed, train, dev, test));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
        Path ck = killed.resolve("checkpoint-COLA.safetensors");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(ck) && p.isAlive() && System.nanoTime() < deadline) Thread.sleep(20);
        assertTrue(Files.exists(ck), "the child wrote no checkpoint: " + Files.readString(tmp.resolve("child.log")));
        p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);  // SIGKILL: no shutdown hooks, no cleanup
        assertFalse(Files.exists(killed.resolve("summary.txt")), "killed before finishing (else the test proves little)");
        try (var files = Files.list(killed)) {
            assertTrue(files.noneMatch(f -> f.getFileName().toString().endsWith(".tmp")
                    && !f.getFileName().toString().startsWith(".checkpoint")), "no half-written outputs under real names");
        }

        List<String> resume = new ArrayList<>(args(killed, train, dev, test));
        resume.add("--resume");
        assertEquals(0, ColaTrainer.commandLine().execute(resume.toArray(String[]::new)));
        assertEquals(result(straight), result(killed));
    }
}
