package cola.chain;

import static org.junit.jupiter.api.Assertions.*;

import cola.optim.LrSchedule;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Knot placement, links, ranks and learning rates of a chain, with exact expected values. */
class ChainScheduleTest {

    @Test
    void equalSplitKnotsAndLinks() {
        ChainSchedule s = new ChainSchedule(ChainConfig.paper(3, 8), 10);
        assertEquals(List.of(3, 7), s.knots());  // round(10/3), round(20/3)
        assertEquals(0, s.linkAt(2));
        assertEquals(1, s.linkAt(3));
        assertEquals(1, s.linkAt(6));
        assertEquals(2, s.linkAt(9));
        assertTrue(s.isKnot(3) && s.isKnot(7) && !s.isKnot(0) && !s.isKnot(10));
        assertEquals(List.of(3, 4, 3), List.of(s.linkLength(0), s.linkLength(1), s.linkLength(2)));
        assertEquals(List.of(), new ChainSchedule(ChainConfig.paper(1, 8), 5).knots(), "M = 1 is plain LoRA");
    }

    @Test
    void explicitKnotsRankStepDownAndValidation() {
        ChainConfig c = new ChainConfig(2, List.of(8, 4), List.of(6), ChainConfig.Reset.FULL, 0,
                ChainConfig.LrScope.GLOBAL, 0);
        ChainSchedule s = new ChainSchedule(c, 10);
        assertEquals(List.of(6), s.knots());
        assertEquals(8, c.rankOf(0));
        assertEquals(4, c.rankOf(1));
        assertEquals(4, new ChainConfig(3, List.of(8, 4), List.of(), ChainConfig.Reset.FULL, 0,
                ChainConfig.LrScope.GLOBAL, 0).rankOf(2), "a short rank list repeats its last rank");
        assertThrows(IllegalArgumentException.class, () -> new ChainSchedule(new ChainConfig(2, List.of(8), List.of(10),
                ChainConfig.Reset.FULL, 0, ChainConfig.LrScope.GLOBAL, 0), 10));
        assertThrows(IllegalArgumentException.class, () -> new ChainConfig(3, List.of(8), List.of(4),
                ChainConfig.Reset.FULL, 0, ChainConfig.LrScope.GLOBAL, 0));
        assertThrows(IllegalArgumentException.class, () -> new ChainSchedule(ChainConfig.paper(5, 8), 4));
    }

    @Test
    void learningRateSchedulesMatchHuggingFacesFormulas() {
        LrSchedule lin = new LrSchedule(LrSchedule.Kind.LINEAR, 1e-3, 2, 10);
        assertEquals(0.0, lin.lr(0), 1e-15);
        assertEquals(5e-4, lin.lr(1), 1e-15);
        assertEquals(1e-3, lin.lr(2), 1e-15);
        assertEquals(1e-3 * 4 / 8, lin.lr(6), 1e-15);
        assertEquals(0.0, lin.lr(10), 1e-15);
        LrSchedule cos = new LrSchedule(LrSchedule.Kind.COSINE, 1.0, 0, 4);
        assertEquals(1.0, cos.lr(0), 1e-15);
        assertEquals(0.5, cos.lr(2), 1e-12);
        assertEquals(0.5 * (1 + Math.cos(Math.PI * 0.75)), cos.lr(3), 1e-12);
        assertEquals(0.25, new LrSchedule(LrSchedule.Kind.CONSTANT, 0.25, 0, 3).lr(2), 0);
    }

    @Test
    void globalPerLinkAndRewarmupScopes() {
        LrSchedule base = new LrSchedule(LrSchedule.Kind.LINEAR, 1.0, 0, 10);
        ChainSchedule global = new ChainSchedule(ChainConfig.paper(2, 8), 10);
        assertEquals(0.5, global.lr(base, 5), 1e-12, "one decay over the whole run");
        ChainSchedule perLink = new ChainSchedule(new ChainConfig(2, List.of(8), List.of(), ChainConfig.Reset.FULL, 0,
                ChainConfig.LrScope.PER_LINK, 0), 10);
        assertEquals(1.0, perLink.lr(base, 5), 1e-12, "the second link restarts its own decay");
        assertEquals(0.6, perLink.lr(base, 7), 1e-12);
        ChainSchedule rewarm = new ChainSchedule(new ChainConfig(2, List.of(8), List.of(), ChainConfig.Reset.PRUNE, 0.99,
                ChainConfig.LrScope.GLOBAL, 4), 10);
        assertEquals(0.5 * 0.25, rewarm.lr(base, 5), 1e-12, "ReLoRA re-warmup: first step after the knot at 1/4");
        assertEquals(0.3 * 0.75, rewarm.lr(base, 7), 1e-12);
        assertEquals(0.2, rewarm.lr(base, 8), 1e-12, "fully re-warmed after 4 steps");
        assertEquals(0.8, rewarm.lr(base, 2), 1e-12, "the first link is not re-warmed");
    }
}
