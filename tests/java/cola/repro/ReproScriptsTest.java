package cola.repro;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reproduction study's scripts (bench/repro, issue 7) under the project's one test command: report.py's statistics
 * and verdicts (its own unittest suite, bench/repro/test_report.py) and reproduce.sh's matrix for the committed
 * tiny-opt checkpoint (the other models are imported by the study's models stage, which CI does not run).
 */
class ReproScriptsTest {
    @TempDir
    Path tmp;

    record Result(int exit, String output) {}

    static Result run(Path dir, List<String> cmd, String... env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true);
        for (int i = 0; i < env.length; i += 2) pb.environment().put(env[i], env[i + 1]);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + cmd);
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }

    @Test
    void reportStatisticsAndVerdicts() throws Exception {
        Result r = run(Path.of("."), List.of("python3", "-m", "unittest", "-v", "bench/repro/test_report.py"));
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("Ran 7 tests"), r.output());  // every test of test_report.py was found and ran
    }

    @Test
    void studyMatrixForTinyOptOnSpamPassesTheTemplateAsOneArgument() throws Exception {
        Path runs = tmp.resolve("runs");
        Result r = run(Path.of("."), List.of("bash", "bench/repro/reproduce.sh", "--stage", "study", "--models", "tiny-opt",
                "--tasks", "spam", "--dry-run"), "RUNS", runs.toString());
        assertEquals(0, r.exit(), r.output());
        List<String> cmds = r.output().lines().filter(l -> l.startsWith("java -jar")).toList();
        // reduced set: LoRA, COLA M=2, M=3 each 3 grid LRs on seed 1 + seeds 2,3; full FT 2 grid LRs + seeds 2,3;
        // step-down ranks 2, 4, 8 on seeds 1-3; the per-link LR-decay ablation, M = 2 and 3 on seeds 1-3
        assertEquals(3 * 4 + 3 + 3 + 2, cmds.size(), r.output());
        String first = cmds.get(0);
        assertTrue(first.contains("'--template' '{text}\\nIs this email spam? Yes or No?\\n' '--candidates' 'No,Yes'"), first);
        assertTrue(first.contains("'--sample' '500,250,500'") && first.contains("'--max-length' '96'"), first);
        assertTrue(first.contains("'--out' '" + runs.resolve("tiny-opt/spam/lora/lr-1e-3/seed-1") + "'"), first);
        assertTrue(cmds.stream().anyMatch(c -> c.contains("'--ranks' '8,2' '--knot-epochs' '3'")
                && c.contains("'--seeds' '1,2,3'")), r.output());
        assertTrue(cmds.stream().anyMatch(c -> c.contains("'--method' 'full' '--full-lr' '1e-5'")), r.output());
        assertTrue(cmds.stream().anyMatch(c -> c.contains("'--chain-length' '3' '--lr-scope' 'per-link'")
                && c.contains("'--out' '" + runs.resolve("tiny-opt/spam/cola3-pl/lr-1e-3/seeds-1-2-3") + "'")), r.output());
        // a dry run leaves no plan and no log behind
        assertFalse(Files.exists(runs.resolve("plan.tsv")));
        assertFalse(Files.exists(runs.resolve("commands.log")));
    }

    @Test
    void unknownBudgetIsRefusedWithTheChoices() throws Exception {
        Result r = run(Path.of("."), List.of("bash", "bench/repro/reproduce.sh", "--budget", "huge", "--dry-run"));
        assertEquals(2, r.exit(), r.output());
        assertTrue(r.output().contains("--budget must be reduced or paper"), r.output());
    }
}
