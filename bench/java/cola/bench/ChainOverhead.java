package cola.bench;

import cola.backend.AdamWConfig;
import cola.backend.cpu.CpuBackend;
import cola.chain.Chain;
import cola.chain.ChainConfig;
import cola.chain.ChainSchedule;
import cola.lora.LoraConfig;
import cola.model.Batch;
import cola.model.Transformer;
import cola.optim.LrSchedule;
import cola.train.TrainConfig;
import cola.train.Trainer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * COLA's wall-time overhead over LoRA at equal steps: the same Trainer loop with a chain of M = 1 (LoRA) and M links,
 * on the same model folder and batch. The difference is the knots (merge + re-init + optimiser reset).
 *
 * <pre>java -cp target/cola.jar:target/test-classes cola.bench.ChainOverhead /tmp/cola-models/opt-125m-random 12 3</pre>
 */
public final class ChainOverhead {
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 12;
        int links = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        CpuBackend be = CpuBackend.get();
        for (int m : new int[] {1, links, 1, links}) {  // twice each, interleaved, to see the noise
            try (Transformer model = Transformer.load(dir, be)) {
                List<String> targets = model.head == Transformer.Head.CAUSAL_LM ? List.of("q_proj", "v_proj") : List.of("query", "value");
                LoraConfig lora = new LoraConfig(8, 16, 0, false, targets, Map.of(), LoraConfig.Init.KAIMING_UNIFORM, 1);
                ChainConfig cc = ChainConfig.paper(m, 8);
                try (Chain chain = new Chain(be, model, lora, cc, AdamWConfig.defaults(0f))) {
                    Random rng = new Random(1);
                    int[][] ids = new int[8][128];
                    for (int[] row : ids) for (int j = 0; j < row.length; j++) row[j] = 3 + rng.nextInt(model.config.vocabSize() - 3);
                    int[] cls = new int[8];
                    Trainer.Example ex = new Trainer.Example(new Batch(ids, null, null), ids, cls);
                    TrainConfig tc = new TrainConfig(steps, new LrSchedule(LrSchedule.Kind.LINEAR, 1e-4, 0, steps), 1.0, 1, 3, 1);
                    long t0 = System.nanoTime();
                    new Trainer(be, model, chain, new ChainSchedule(cc, steps), tc).run(i -> ex, null);
                    long t1 = System.nanoTime();
                    chain.finish();
                    long t2 = System.nanoTime();
                    System.out.printf("M=%d: %d steps %.2f s (%.1f ms/step), final merge %.1f ms%n", m, steps, (t1 - t0) / 1e9,
                            (t1 - t0) / 1e6 / steps, (t2 - t1) / 1e6);
                }
            }
        }
    }
}
