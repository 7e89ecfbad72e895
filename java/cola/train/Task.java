package cola.train;

import cola.backend.Backend;
import cola.model.Transformer;
import java.util.List;
import java.util.Random;

/**
 * What a fine-tuning job trains on and how it is scored; {@link FineTuneJob} runs any task with LoRA, COLA or full
 * fine-tuning. Implementations: {@link ClassificationTask} (encoder + classification head), {@link PromptTask} (causal
 * LM, MeZO prompts and candidates), {@link LmTask} (causal LM on text).
 */
public interface Task {
    /** One line for progress output and the summary, e.g. "rte prompts: 1000 train / 500 dev / 277 test". */
    String describe();

    /** Adapts the freshly loaded model to the task (the classification head) or checks it fits (an LM head). */
    void prepare(Transformer model, long seed);

    /** Training micro-batches of one epoch; {@code order} is the run's seeded RNG (one shuffle per epoch). */
    List<Trainer.Example> epoch(Random order);

    List<Trainer.Example> dev();

    List<Trainer.Example> test();

    Eval evaluate(Backend be, Transformer model, List<Trainer.Example> batches);

    /** The dev quantity best-on-dev maximises: accuracy, or −loss for language modelling. */
    default double selectionScore(Eval e) {
        return e.accuracy();
    }

    /** Name of the headline metric in the summary ("accuracy" or "ppl"). */
    default boolean isLanguageModelling() {
        return false;
    }
}
