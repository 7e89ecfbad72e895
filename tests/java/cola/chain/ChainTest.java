package cola.chain;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.AdamWConfig;
import cola.backend.NonFiniteException;
import cola.backend.cpu.CpuBackend;
import cola.lora.LoraConfig;
import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.optim.AdamW;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The chain mechanics on a real (tiny) OPT: knots preserve the function, reset state, step ranks down, refuse NaN. */
class ChainTest {
    static final Path CASE = Path.of("tests/resources/golden/opt-pre");
    final CpuBackend be = CpuBackend.get();

    static LoraConfig lora() {
        return new LoraConfig(4, 8, 0, false, List.of("q_proj", "v_proj"), Map.of(), LoraConfig.Init.KAIMING_UNIFORM, 11);
    }

    /** Stands in for training: gives every B non-zero values so the adapters change the model. */
    static void train(List<LoraAdapter> ads) {
        train(ads, 0);
    }

    /** {@code salt} makes each link's B different, as real training would. */
    static void train(List<LoraAdapter> ads, int salt) {
        for (LoraAdapter a : ads) {
            float[] b = new float[(int) a.b.numel()];
            for (int i = 0; i < b.length; i++) b[i] = 0.05f * (float) Math.sin(1 + i * (1 + salt) + a.modulePath.length());
            a.b.copyFrom(b);
        }
    }

    float[] logits(Transformer m, Probe.Inputs in) {
        try (Arena arena = new Arena(1 << 16)) {
            return m.forward(arena, in.batch(), 0).toFloatArray();
        }
    }

    static void assertClose(float[] exp, float[] got, double rel) {
        double max = 1e-6, err = 0;
        for (int i = 0; i < exp.length; i++) {
            max = Math.max(max, Math.abs(exp[i]));
            err = Math.max(err, Math.abs(exp[i] - got[i]));
        }
        assertTrue(err / max < rel, "relative error " + err / max);
    }

    @Test
    void aKnotPreservesTheFunctionAndStartsAFreshLink() throws IOException {
        Probe.Inputs in = Probe.readInputs(CASE.resolve("inputs.json"));
        try (Transformer m = Transformer.load(CASE.resolve("model"), be);
             Chain chain = new Chain(be, m, lora(), ChainConfig.paper(3, 4), AdamWConfig.defaults(1e-3f))) {
            float[] base = logits(m, in);
            train(chain.adapters());
            // a real optimiser step so there is state to reset
            for (LoraAdapter a : chain.adapters()) {
                a.gradA.copyFrom(new float[(int) a.gradA.numel()]);
                float[] g = new float[(int) a.gradB.numel()];
                java.util.Arrays.fill(g, 0.1f);
                a.gradB.copyFrom(g);
            }
            chain.optimizer().step(1e-3, 1f);
            float[] tuned = logits(m, in);
            assertFalse(java.util.Arrays.equals(base, tuned), "the adapters change the model");
            float[] aBefore = chain.adapters().get(0).a.toFloatArray();

            Chain.KnotReport r = chain.tieKnot();
            assertEquals(0, r.link());
            assertEquals(4, r.adaptersMerged());
            assertEquals(4, r.nextRank());
            long elements = 0;
            for (LoraAdapter a : chain.adapters()) elements += m.linear(a.modulePath).weight.numel();
            assertEquals(elements, r.elements(), "every element of every adapted W is updated");
            assertTrue(r.bf16Lost() >= 0 && r.bf16Lost() <= r.elements(), "bf16 probe count " + r.bf16Lost());
            assertEquals(List.of(r), chain.merges());
            assertEquals(1, chain.link());
            assertClose(tuned, logits(m, in), 1e-5);  // merged into W, B = 0: same function
            for (LoraAdapter a : chain.adapters()) {
                for (float b : a.b.toFloatArray()) assertEquals(0f, b);
            }
            assertFalse(java.util.Arrays.equals(aBefore, chain.adapters().get(0).a.toFloatArray()), "fresh A per link");
            AdamW opt = chain.optimizer();
            assertEquals(0, opt.steps(), "optimiser reset (the paper)");
            for (Tensor t : opt.firstMoments()) for (float x : t.toFloatArray()) assertEquals(0f, x);

            train(chain.adapters());
            float[] tuned2 = logits(m, in);
            chain.tieKnot();
            assertClose(tuned2, logits(m, in), 1e-5);
            assertThrows(IllegalStateException.class, chain::tieKnot, "3 links: 2 knots");
            train(chain.adapters());
            float[] last = logits(m, in);
            chain.finish();
            assertTrue(m.adapters().isEmpty(), "after the last link everything is merged: no adapters remain");
            assertClose(last, logits(m, in), 1e-5);
        }
    }

    @Test
    void rankStepDownReplacesTheAdapters() throws IOException {
        ChainConfig c = new ChainConfig(2, List.of(4, 2), List.of(), ChainConfig.Reset.NONE, 0,
                ChainConfig.LrScope.GLOBAL, 0);
        try (Transformer m = Transformer.load(CASE.resolve("model"), be);
             Chain chain = new Chain(be, m, lora(), c, AdamWConfig.defaults(1e-3f))) {
            assertEquals(4, chain.adapters().get(0).rank);
            train(chain.adapters());
            chain.tieKnot();
            assertEquals(2, chain.adapters().get(0).rank);
            assertEquals(2, m.linear("model.decoder.layers.1.self_attn.v_proj").lora().rank);
            assertEquals(2, chain.adapters().get(0).a.dim(0));
        }
    }

    @Test
    void aNonFiniteAdapterIsNeverMerged() throws IOException {
        try (Transformer m = Transformer.load(CASE.resolve("model"), be);
             Chain chain = new Chain(be, m, lora(), ChainConfig.paper(2, 4), AdamWConfig.defaults(1e-3f))) {
            train(chain.adapters());
            List<LoraAdapter> ads = chain.adapters();
            float[] b = ads.get(3).b.toFloatArray();
            b[5] = Float.NaN;
            ads.get(3).b.copyFrom(b);
            Linear q0 = m.linear("model.decoder.layers.0.self_attn.q_proj");
            float[] w0 = q0.weight.toFloatArray();
            NonFiniteException e = assertThrows(NonFiniteException.class, chain::tieKnot);
            assertTrue(e.getMessage().contains(ads.get(3).modulePath), e.getMessage());
            assertArrayEquals(w0, q0.weight.toFloatArray(), "no weight modified, not even the finite adapters'");
            assertEquals(0, chain.link());
        }
    }

    @Test
    void optimiserPruneKeepsTheLargestMoments() {
        try (Tensor p = Tensor.of(new float[] {1, 1, 1, 1}, 4); Tensor g = Tensor.of(new float[] {4, -1, 3, 2}, 4);
             AdamW opt = new AdamW(be, List.of(p), List.of(g), AdamWConfig.defaults(0.1f))) {
            opt.step(0.1, 1f);  // m = 0.1·g = {0.4, -0.1, 0.3, 0.2}
            opt.prune(0.5);
            float[] m = opt.firstMoments().get(0).toFloatArray();
            assertArrayEquals(new float[] {0.4f, 0f, 0.3f, 0f}, m, 1e-7f);
            assertEquals(1, opt.steps(), "pruning keeps the bias-correction step");
            opt.reset();
            assertArrayEquals(new float[4], opt.secondMoments().get(0).toFloatArray());
            assertEquals(0, opt.steps());
            assertEquals(DType.F32, opt.firstMoments().get(0).dtype());
        }
    }

    @Test
    void theWholeChainExportsAsOnePeftAdapterOfRankSumR(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Probe.Inputs in = Probe.readInputs(CASE.resolve("inputs.json"));
        ChainConfig c = new ChainConfig(3, List.of(4, 2, 2), List.of(), ChainConfig.Reset.FULL, 0,
                ChainConfig.LrScope.GLOBAL, 0);
        float[] merged;
        Path out = tmp.resolve("chain-adapter");
        try (Transformer m = Transformer.load(CASE.resolve("model"), be);
             Chain chain = new Chain(be, m, lora(), c, AdamWConfig.defaults(1e-3f))) {
            for (int link = 0; link < 3; link++) {
                train(chain.adapters());
                if (link < 2) chain.tieKnot();
            }
            chain.finish();
            merged = logits(m, in);
            List<LoraAdapter> one = chain.chainAsOneAdapter();
            try {
                assertEquals(8, one.get(0).rank, "Σr = 4 + 2 + 2");
                // write it as PEFT: attach to a base model to reuse the writer, then detach
                try (Transformer carrier = Transformer.load(CASE.resolve("model"), be)) {
                    for (LoraAdapter a : one) carrier.linear(a.modulePath).setLora(a);
                    cola.lora.PeftAdapter.write(out, carrier, new cola.lora.PeftAdapter.Config(8, 8, List.of("q_proj",
                            "v_proj"), 0, false, false, List.of(), "CAUSAL_LM", "cola-golden/opt-pre"));
                    for (LoraAdapter a : one) carrier.linear(a.modulePath).setLora(null);
                }
            } finally {
                one.forEach(LoraAdapter::close);
            }
        }
        // the BASE model + the exported adapter = the merged chain
        try (Transformer base = Transformer.load(CASE.resolve("model"), be)) {
            List<LoraAdapter> back = cola.lora.PeftAdapter.attach(out, base);
            try {
                assertEquals(8, back.get(0).rank);
                assertEquals(1f, back.get(0).scale, "lora_alpha = r = Σr: scale 1");
                assertClose(merged, logits(base, in), 1e-5);
            } finally {
                back.forEach(LoraAdapter::close);
            }
        }
    }

    @Test
    void aChainOfRankTwoLinksReachesRankSixWhereOneLinkStaysAtTwo() throws IOException {
        for (int links : new int[] {1, 3}) {
            try (Transformer m = Transformer.load(CASE.resolve("model"), be);
                 Chain chain = new Chain(be, m, new LoraConfig(2, 2, 0, false, List.of("q_proj"), Map.of(),
                         LoraConfig.Init.KAIMING_UNIFORM, 5), ChainConfig.paper(links, 2), AdamWConfig.defaults(1e-3f))) {
                Linear q = m.linear("model.decoder.layers.0.self_attn.q_proj");
                float[] w0 = q.weight.toFloatArray();
                for (int link = 0; link < links; link++) {
                    train(chain.adapters(), link);
                    if (link + 1 < links) chain.tieKnot();
                }
                chain.finish();
                double[] sv = RankDiagnostics.singularValuesOfDelta(w0, q.weight.toFloatArray(), q.out, q.in);
                assertEquals(2 * links, RankDiagnostics.effectiveRank(sv, 1e-3), "rank of ΔW after " + links
                        + " link(s) of rank 2: " + java.util.Arrays.toString(java.util.Arrays.copyOf(sv, 8)));
            }
        }
    }

    /**
     * The bf16 survival probe counts exactly: W = 1 everywhere (bf16 ulp 2^-7 there, half-ulp 2^-9 ≈ 0.00195); a
     * merge of 1e-4 per element is lost in every element, one of 0.01 survives in every element.
     */
    @Test
    void bf16SurvivalOfAMergeIsCountedExactly() throws Exception {
        for (double delta : new double[] {1e-4, 1e-2}) {
            try (Transformer m = Transformer.load(CASE.resolve("model"),
                    CpuBackend.get());
                 Chain chain = new Chain(CpuBackend.get(), m, new LoraConfig(1, 1, 0, false, List.of("q_proj"), Map.of(),
                         LoraConfig.Init.KAIMING_UNIFORM, 1), cola.chain.ChainConfig.paper(2, 1), AdamWConfig.defaults(0f))) {
                long elements = 0;
                for (LoraAdapter a : chain.adapters()) {
                    Linear l = m.linear(a.modulePath);
                    float[] ones = new float[(int) l.weight.numel()];
                    java.util.Arrays.fill(ones, 1f);
                    l.weight.copyFrom(ones);
                    float[] av = new float[(int) a.a.numel()], bv = new float[(int) a.b.numel()];
                    java.util.Arrays.fill(av, 1f);
                    java.util.Arrays.fill(bv, (float) delta);  // s = alpha/r = 1: ΔW = delta everywhere
                    a.a.copyFrom(av);
                    a.b.copyFrom(bv);
                    elements += ones.length;
                }
                Chain.KnotReport r = chain.tieKnot();
                assertEquals(elements, r.elements());
                assertEquals(delta < 1e-3 ? elements : 0, r.bf16Lost(), "delta " + delta);
                assertEquals(delta < 1e-3 ? 0.0 : 1.0, r.bf16Survival());
                for (LoraAdapter a : chain.adapters()) {  // fp32 masters: the small update is kept in training
                    for (float w : m.linear(a.modulePath).weight.toFloatArray()) assertEquals(1f + (float) delta, w, 1e-7f);
                }
            }
        }
    }

    /** ΔW's singular values from its factors (R×R SVD after two thin QRs) equal the dense SVD's. */
    @Test
    void lowRankSingularValuesMatchTheDenseSvd() {
        java.util.Random rnd = new java.util.Random(5);
        int r = 6, in = 40, out = 30;
        float[] a = new float[r * in], sb = new float[out * r], dense = new float[out * in];
        for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < sb.length; i++) sb[i] = (float) rnd.nextGaussian();
        for (int i = 0; i < out; i++) for (int k = 0; k < r; k++) for (int j = 0; j < in; j++) dense[i * in + j] += sb[i * r + k] * a[k * in + j];
        double[] lr = RankDiagnostics.singularValuesOfLowRank(a, sb, r, in, out);
        double[] full = RankDiagnostics.singularValuesOfDelta(new float[out * in], dense, out, in);
        assertEquals(r, lr.length);
        for (int i = 0; i < r; i++) assertEquals(full[i], lr[i], 1e-4 * full[0], "singular value " + i);
        assertEquals(r, RankDiagnostics.effectiveRank(full, 1e-3));
        assertEquals(r, RankDiagnostics.effectiveRank(lr, 1e-3));
    }
}
