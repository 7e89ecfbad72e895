package cola.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * MeZO's data protocol (followed by the COLA paper): from the training pool draw {@code train + dev} examples with the
 * run's seed; dev is the last {@code dev} of that draw, train the rest. Test is up to {@code test} examples of the
 * validation pool drawn with a FIXED seed (0), so every seed and method is evaluated on the same test set.
 */
public final class MezoSampling {
    /** The three samples. */
    public record Samples<T>(List<T> train, List<T> dev, List<T> test) {}

    /** The seed of the test draw: fixed, so runs with different seeds share one test set. */
    public static final long TEST_SEED = 0;

    private MezoSampling() {}

    public static <T> Samples<T> sample(List<T> trainPool, List<T> validationPool, int train, int dev, int test, long seed) {
        if (train < 1 || dev < 0 || test < 1) {
            throw new IllegalArgumentException("sample sizes must be train >= 1, dev >= 0, test >= 1; got " + train + ","
                    + dev + "," + test);
        }
        if (trainPool.size() < train + dev) {
            throw new IllegalArgumentException("the training pool has " + trainPool.size() + " examples; sampling " + train
                    + " train + " + dev + " dev needs that many (lower --sample)");
        }
        List<T> draw = draw(trainPool, train + dev, seed);
        List<T> testDraw = draw(validationPool, Math.min(test, validationPool.size()), TEST_SEED);
        return new Samples<>(List.copyOf(draw.subList(0, train)), List.copyOf(draw.subList(train, train + dev)),
                List.copyOf(testDraw));
    }

    /** The first n of a seeded permutation of the pool (a seeded shuffle of a copy; the pool is untouched). */
    static <T> List<T> draw(List<T> pool, int n, long seed) {
        List<T> copy = new ArrayList<>(pool);
        Collections.shuffle(copy, new Random(seed));
        return copy.subList(0, n);
    }
}
