package cola.cli;

import java.util.List;
import picocli.CommandLine.Command;

/**
 * {@code cola compare}: `train` with both methods over several seeds (default 1,2,3), reporting mean ± std per method
 * and a paired t-test of COLA against LoRA on the same seeds and budget.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"LoRA vs COLA on the same budget over several seeds (default --seeds 1,2,3): per-seed rows,",
                "mean ± std, and a paired t-test (Commons Math) of the test-accuracy difference. Same options as train;",
                "--method all adds full fine-tuning (and a COLA − Full test).", ""})
final class CompareCommand extends TrainCommand {
    @Override
    public Integer call() throws Exception {
        if (seeds == null || seeds.isEmpty()) seeds = List.of(1L, 2L, 3L);
        if (!method.equals("all")) method = "both";
        return super.call();
    }
}
