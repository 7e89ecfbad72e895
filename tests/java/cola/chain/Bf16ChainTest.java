package cola.chain;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.AdamWConfig;
import cola.backend.Rounding;
import cola.backend.cpu.CpuBackend;
import cola.io.SafetensorsFile;
import cola.lora.LoraConfig;
import cola.model.HfFolderWriter;
import cola.model.Linear;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.tensor.DType;
import cola.tensor.Half;
import cola.tensor.Tensor;
import cola.train.Checkpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * COLA knots into bf16 weights (the bf16 engine: frozen matrices kept as the checkpoint stores them): the compensated
 * merge keeps each knot's whole update (weights + fp32 residual = the exact merged weight, as an f32 run computes it),
 * nearest-even loses the small ones, the residual survives a checkpoint, and merged/ exports come from W + R.
 */
class Bf16ChainTest {
    static final Path CASE = Path.of("tests/resources/golden/llama-tied-bf16");
    final CpuBackend be = CpuBackend.get();

    static LoraConfig lora() {
        return new LoraConfig(2, 4, 0, false, List.of("q_proj", "v_proj"), Map.of(), LoraConfig.Init.KAIMING_UNIFORM, 5);
    }

    /** Small B (|ΔW| ~ 1e-4, below half a bf16 ulp of most weights ~ 0.02): the regime where bf16 merges lose. */
    static void train(List<LoraAdapter> ads, int salt) {
        for (LoraAdapter a : ads) {
            float[] b = new float[(int) a.b.numel()];
            for (int i = 0; i < b.length; i++) b[i] = 2e-4f * (float) Math.sin(1 + i * (1 + salt) + a.modulePath.length());
            a.b.copyFrom(b);
        }
    }

    /** Runs the same 3-link chain on a model loaded in {@code weights}; returns the reports. */
    static List<Chain.KnotReport> chain(Transformer m, Rounding rounding) {
        try (Chain c = new Chain(CpuBackend.get(), m, lora(), ChainConfig.paper(3, 2), AdamWConfig.defaults(1e-3f))) {
            c.setMergeRounding(rounding, 3);
            for (int link = 0; link < 3; link++) {
                train(c.adapters(), link);
                if (link < 2) c.tieKnot();
            }
            c.finish();
            return List.copyOf(c.merges());
        }
    }

    @Test
    void compensatedKnotsKeepTheUpdateAndWPlusREqualsTheF32Merge() throws IOException {
        try (Transformer f32 = Transformer.load(CASE.resolve("model"), be, DType.F32);
             Transformer b16 = Transformer.load(CASE.resolve("model"), be, DType.BF16)) {
            assertEquals(DType.BF16, b16.weightDType());
            chain(f32, Rounding.COMPENSATED);
            List<Chain.KnotReport> reports = chain(b16, Rounding.COMPENSATED);
            assertEquals(3, reports.size(), "two knots and the final merge");
            for (Chain.KnotReport r : reports) {
                assertTrue(r.kept() >= 0.999, "link " + r.link() + " kept " + r.kept());
                assertTrue(r.keptInWeights() < r.kept(), "the bf16 weights alone hold less than W + R");
            }
            for (Linear l : b16.linears()) {
                if (!l.path.endsWith("q_proj") && !l.path.endsWith("v_proj")) {
                    assertNull(l.mergeResidual(), l.path + ": no knot, no residual");
                    continue;
                }
                float[] w = l.weight.toFloatArray(), r = l.mergeResidual().toFloatArray();
                float[] want = f32.linear(l.path).weight.toFloatArray();
                for (int i = 0; i < w.length; i++) {
                    assertEquals(want[i], w[i] + r[i], 1e-6 * Math.max(1e-3, Math.abs(want[i])), l.path + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void nearestEvenLosesUpdatesBelowHalfAnUlpAndSaysSo() throws IOException {
        try (Transformer b16 = Transformer.load(CASE.resolve("model"), be, DType.BF16)) {
            for (Chain.KnotReport r : chain(b16, Rounding.NEAREST_EVEN)) {
                assertTrue(r.kept() < 0.99, "nearest-even merge of tiny updates kept " + r.kept());
                assertEquals(r.kept(), r.keptInWeights(), 0.0, "no residual: what W misses is lost");
            }
            for (Linear l : b16.linears()) assertNull(l.mergeResidual());
        }
    }

    @Test
    void theResidualSurvivesACheckpointAndTheExportIsWritten(@TempDir Path tmp) throws IOException {
        Path ck = tmp.resolve("ck.safetensors");
        float[] wBefore, rBefore;
        String probe = "model.layers.0.self_attn.q_proj";
        try (Transformer m = Transformer.load(CASE.resolve("model"), be, DType.BF16);
             Chain c = new Chain(be, m, lora(), ChainConfig.paper(3, 2), AdamWConfig.defaults(1e-3f))) {
            c.setMergeRounding(Rounding.COMPENSATED, 3);
            train(c.adapters(), 0);
            c.tieKnot();
            train(c.adapters(), 1);
            Checkpoint.write(ck, m, c, 7);
            wBefore = m.linear(probe).weight.toFloatArray();
            rBefore = m.linear(probe).mergeResidual().toFloatArray();
            c.tieKnot();
            c.finish();
            HfFolderWriter.write(m, be, CASE.resolve("model/config.json"), tmp.resolve("merged"), null);
            // merged/ keeps the checkpoint's bf16 and is round_bf16(W + R)
            Linear l = m.linear(probe);
            float[] w = l.weight.toFloatArray(), r = l.mergeResidual().toFloatArray();
            try (SafetensorsFile f = SafetensorsFile.open(tmp.resolve("merged/model.safetensors"));
                 Tensor t = f.load(probe + ".weight")) {
                assertEquals(DType.BF16, t.dtype());
                float[] got = t.toFloatArray();
                for (int i = 0; i < w.length; i++) {
                    assertEquals(Half.bf16ToFloat(Half.floatToBf16(w[i] + r[i])), got[i], 0f, "merged[" + i + "]");
                }
            }
        }
        try (Transformer m = Transformer.load(CASE.resolve("model"), be, DType.BF16);
             Chain c = new Chain(be, m, lora(), ChainConfig.paper(3, 2), AdamWConfig.defaults(1e-3f))) {
            Checkpoint.Position pos = Checkpoint.restore(ck, m, c);
            assertEquals(7, pos.nextStep());
            assertArrayEquals(wBefore, m.linear(probe).weight.toFloatArray(), "bf16 weight restored bit for bit");
            assertArrayEquals(rBefore, m.linear(probe).mergeResidual().toFloatArray(), "residual restored bit for bit");
        }
        try (Transformer m = Transformer.load(CASE.resolve("model"), be, DType.F32);
             Chain c = new Chain(be, m, lora(), ChainConfig.paper(3, 2), AdamWConfig.defaults(1e-3f))) {
            IOException e = assertThrows(IOException.class, () -> Checkpoint.restore(ck, m, c));
            assertTrue(e.getMessage().contains("another --dtype"), e.getMessage());
        }
    }

    @Test
    void aBf16CheckpointsResidentWeightsTakeAboutTheFilesSize() throws IOException {
        Path file = CASE.resolve("model/model.safetensors");
        try (Transformer b16 = Transformer.load(CASE.resolve("model"), be, DType.BF16);
             Transformer f32 = Transformer.load(CASE.resolve("model"), be, DType.F32)) {
            long fileBytes = Files.size(file), bytes16 = residentBytes(b16), bytes32 = residentBytes(f32);
            // the norms (f32 in both) are 2·C per layer: a few percent here, ~0.01 % of a real model
            assertTrue(bytes16 <= 1.05 * fileBytes, "bf16 engine holds " + bytes16 + " B for a " + fileBytes + " B file");
            assertTrue(bytes32 >= 1.8 * fileBytes, "the f32 engine widens: " + bytes32 + " B");  // the file has a JSON header
        }
    }

    static long residentBytes(Transformer m) {
        java.util.Set<Tensor> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        long sum = 0;
        for (Transformer.Param p : m.params()) if (seen.add(p.value())) sum += p.value().byteSize();
        return sum;
    }
}
