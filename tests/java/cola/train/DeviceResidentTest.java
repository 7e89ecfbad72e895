package cola.train;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.FakeDeviceBackend;
import cola.backend.Rounding;
import cola.backend.cpu.CpuBackend;
import cola.chain.Chain;
import cola.chain.ChainConfig;
import cola.chain.ChainSchedule;
import cola.data.TextData;
import cola.lora.LoraConfig;
import cola.lora.PeftAdapter;
import cola.model.HfFolderWriter;
import cola.model.LoraAdapter;
import cola.model.ModelInit;
import cola.model.Transformer;
import cola.optim.AdamW;
import cola.optim.LrSchedule;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Device;
import cola.tensor.Tensor;
import cola.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The model path is device-resident: with a backend whose device is not the CPU, every tensor an op sees is on that
 * device. Proven without a GPU by {@link FakeDeviceBackend} (device cuda:7, host memory underneath, every op checks
 * that each tensor argument is on cuda:7, then runs the CPU kernel on the same memory): each family trains (forward,
 * loss, backward, AdamW, knots with the bf16 probe, rank step-down, finish), checkpoints and restores, exports (last
 * link, merged HF folder, the chain as one PEFT adapter), re-attaches the adapter and fully fine-tunes on the fake
 * device, and every number and every written byte equals the plain CPU run's. Then FineTuneJob end to end the same way.
 * Everything the fake device allocated is freed at the end.
 */
class DeviceResidentTest {
    static final Path GOLDEN = Path.of("tests/resources/golden");

    @TempDir
    Path tmp;

    /** Everything a run produced that must not depend on where the tensors lived. */
    static final class Outcome {
        final Map<String, Object> values = new LinkedHashMap<>();

        void put(String key, Object v) {
            assertNull(values.put(key, v), "duplicate key " + key);
        }

        void file(String key, Path p) throws IOException {
            put(key, Files.readAllBytes(p));
        }
    }

    static void assertSameOutcome(Outcome cpu, Outcome dev) {
        assertEquals(cpu.values.keySet(), dev.values.keySet());
        for (String k : cpu.values.keySet()) {
            Object a = cpu.values.get(k), b = dev.values.get(k);
            if (a instanceof float[] f) assertArrayEquals(f, (float[]) b, 0f, k);
            else if (a instanceof double[] d) assertArrayEquals(d, (double[]) b, 0.0, k);
            else if (a instanceof byte[] y) assertArrayEquals(y, (byte[]) b, k + " (file bytes)");
            else assertEquals(a, b, k);
        }
    }

    static float[] logits(Backend be, Transformer m, Probe.Inputs in) {
        try (Arena arena = be.newArena(1 << 16)) {
            Tensor t = m.forward(arena, in.batch(), 0);
            assertEquals(be.device(), t.device(), "logits live on the backend's device");
            return t.toFloatArray();
        }
    }

    static Trainer.Example example(Transformer m, Probe.Inputs in) {
        if (m.head == Transformer.Head.SEQUENCE_CLASSIFICATION) return new Trainer.Example(in.batch(), null, in.classLabels());
        int[][] labels = in.tokenLabels() != null ? in.tokenLabels() : Probe.defaultLabels(in.batch());
        return new Trainer.Example(in.batch(), labels, null);
    }

    static double[] losses(List<Trainer.StepLog> log) {
        return log.stream().mapToDouble(Trainer.StepLog::loss).toArray();
    }

    static double[] norms(List<Trainer.StepLog> log) {
        return log.stream().mapToDouble(Trainer.StepLog::gradNorm).toArray();
    }

    /** Every device tensor is on the backend's device: weights, adapters, gradients, moments. */
    static void assertResident(Backend be, Transformer m, Chain chain) {
        for (Transformer.Param p : m.params()) assertEquals(be.device(), p.value().device(), p.key());
        for (Transformer.Trainable t : m.trainable()) {
            assertEquals(be.device(), t.value().device(), t.name());
            assertEquals(be.device(), t.grad().device(), t.name() + " grad");
        }
        if (chain != null) {
            for (Tensor t : chain.optimizer().firstMoments()) assertEquals(be.device(), t.device(), "adam m");
            for (Tensor t : chain.optimizer().secondMoments()) assertEquals(be.device(), t.device(), "adam v");
        }
    }

    /** Train a 3-link chain (knot with a pruned optimiser, then a rank step-down), checkpoint, export, fine-tune fully. */
    Outcome family(Backend be, String name, Path out) throws IOException {
        Path dir = GOLDEN.resolve(name), model = dir.resolve("model");
        Probe.Inputs in = Probe.readInputs(dir.resolve("inputs.json"));
        Outcome o = new Outcome();
        LoraConfig lora = new LoraConfig(4, 8, 0.1, false, List.of("all-linear"), Map.of(), LoraConfig.Init.KAIMING_UNIFORM, 3);
        ChainConfig cc = new ChainConfig(3, List.of(4, 4, 2), List.of(), ChainConfig.Reset.PRUNE, 0.5,
                ChainConfig.LrScope.GLOBAL, 0);
        int steps = 6;
        TrainConfig tc = new TrainConfig(steps, new LrSchedule(LrSchedule.Kind.LINEAR, 2e-2, 2, steps), 1.0, 2, 3, 7);
        try (Transformer m = Transformer.load(model, be);
             Chain chain = new Chain(be, m, lora, cc, AdamWConfig.defaults(0.01f))) {
            chain.setMergeRounding(Rounding.STOCHASTIC, 5);
            assertResident(be, m, chain);
            Trainer.Example ex = example(m, in);
            o.put("logits.base", logits(be, m, in));
            List<Trainer.StepLog> log = new Trainer(be, m, chain, new ChainSchedule(cc, steps), tc).run(i -> ex, null);
            assertEquals(2, chain.link());
            assertTrue(log.stream().noneMatch(Trainer.StepLog::skipped));
            o.put("train.loss", losses(log));
            o.put("train.norm", norms(log));
            assertResident(be, m, chain);
            for (Chain.KnotReport k : chain.merges()) o.put("knot." + k.link(), k.toString());
            o.put("logits.trained", logits(be, m, in));

            Path ck = out.resolve("ckpt.safetensors");
            Checkpoint.write(ck, m, chain, steps);
            o.file("checkpoint", ck);
            try (Transformer m2 = Transformer.load(model, be);
                 Chain c2 = new Chain(be, m2, lora, cc, AdamWConfig.defaults(0.01f))) {
                Checkpoint.Position pos = Checkpoint.restore(ck, m2, c2);
                assertEquals(2, pos.link());
                assertResident(be, m2, c2);
                Path again = out.resolve("ckpt-again.safetensors");
                Checkpoint.write(again, m2, c2, steps);
                assertArrayEquals(Files.readAllBytes(ck), Files.readAllBytes(again), "restore + write reproduces the file");
                assertArrayEquals((float[]) o.values.get("logits.trained"), logits(be, m2, in), 0f, "restored model");
            }

            Exports.lastLink(out.resolve("last-link"), m, lora, model);
            o.file("last-link", out.resolve("last-link/adapter_model.safetensors"));
            chain.finish();
            assertTrue(m.adapters().isEmpty());
            o.put("logits.merged", logits(be, m, in));
            for (Chain.KnotReport k : chain.merges()) o.put("merge." + k.link(), k.toString());
            Exports.mergedAndChain(be, out.resolve("export"), m, chain, lora, model);
            o.file("export.merged", out.resolve("export/merged/model.safetensors"));
            o.file("export.adapter", out.resolve("export/adapter/adapter_model.safetensors"));
            double[][] ranks = FineTuneJob.rankDiagnostics(chain);
            o.put("rank", ranks[0]);
            o.put("spectrum", ranks[1]);
        }
        // the base model + the whole chain as one adapter, attached on the device
        try (Transformer base = Transformer.load(model, be)) {
            List<LoraAdapter> ads = PeftAdapter.attach(out.resolve("export/adapter"), base);
            try {
                assertResident(be, base, null);
                for (LoraAdapter a : ads) assertEquals(be.device(), a.a.device());
                o.put("logits.base+adapter", logits(be, base, in));
                Map<String, Tensor> probe = Probe.run(be, base, in);
                try {
                    for (var e : probe.entrySet()) {
                        assertTrue(e.getValue().isHost(), "Probe returns host copies");
                        o.put("probe." + e.getKey(), e.getValue().toFloatArray());
                    }
                } finally {
                    probe.values().forEach(Tensor::close);
                }
            } finally {
                ads.forEach(LoraAdapter::close);
            }
        }
        // full fine-tuning: every weight, embedding and norm gets a gradient on the device
        try (Transformer m = Transformer.load(model, be)) {
            m.enableFullFineTuning();
            assertResident(be, m, null);
            List<Tensor> params = new ArrayList<>(), grads = new ArrayList<>();
            for (Transformer.Trainable t : m.trainable()) {
                params.add(t.value());
                grads.add(t.grad());
            }
            Trainer.Example ex = example(m, in);
            TrainConfig full = new TrainConfig(2, new LrSchedule(LrSchedule.Kind.CONSTANT, 1e-3, 0, 2), 1.0, 1, 3, 7);
            try (AdamW opt = new AdamW(be, params, grads, AdamWConfig.defaults(0.01f))) {
                List<Trainer.StepLog> log = new Trainer(be, m, opt, full).run(i -> ex, null);
                o.put("full.loss", losses(log));
                o.put("full.norm", norms(log));
            }
            HfFolderWriter.write(m, be, model.resolve("config.json"), out.resolve("full"), null);
            o.file("full.folder", out.resolve("full/model.safetensors"));
            HfFolderWriter.write(m, be, model.resolve("config.json"), out.resolve("full-bf16"), DType.BF16);
            o.file("full.folder.bf16", out.resolve("full-bf16/model.safetensors"));
        }
        return o;
    }

    @ParameterizedTest
    @ValueSource(strings = {"opt-pre", "opt-post-proj", "llama-gqa", "llama-tied-bf16", "gpt2", "bert-cls", "bert-mlm"})
    void everyFamilyTrainsOnADeviceBitForBitAsOnTheCpu(String name) throws IOException {
        Outcome cpu = family(CpuBackend.get(), name, Files.createDirectories(tmp.resolve("cpu")));
        FakeDeviceBackend fake = new FakeDeviceBackend();
        Outcome dev = family(fake, name, Files.createDirectories(tmp.resolve("dev")));
        assertSameOutcome(cpu, dev);
        Map<String, Integer> calls = fake.calls();
        List<String> ops = new java.util.ArrayList<>(List.of("lora_linear_forward", "lora_linear_backward",
                "softmax_xent_forward", "softmax_xent_backward", "adamw_step", "sum_squares", "merge", "convert",
                "embedding_forward", "attention_forward", "attention_backward"));
        // grad-accum scales d(logits) with `scale`; a causal LM folds 1/accum into its chunked loss head instead
        if (name.startsWith("bert")) ops.add("scale");
        for (String op : ops) assertTrue(calls.getOrDefault(op, 0) > 0, op + " ran on the fake device: " + calls);
        assertEquals(0, fake.memory().liveBlocks(), "every device allocation was freed (" + fake.memory().liveBytes()
                + " bytes live)");
    }

    /**
     * On a real GPU (skipped without one): the same runs on CudaBackend. Not bit-identical (cuBLAS and the CUDA
     * kernels sum in other orders), so numbers are compared within float tolerance: the untrained forward tightly,
     * everything after training steps loosely; written files must exist and round-trip (checked inside the run).
     */
    @ParameterizedTest
    @ValueSource(strings = {"opt-pre", "opt-post-proj", "llama-gqa", "llama-tied-bf16", "gpt2", "bert-cls", "bert-mlm"})
    void everyFamilyTrainsOnARealGpuCloseToTheCpu(String name) throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(cola.backend.cuda.CudaRuntime.usable(),
                "no GPU: CUDA is " + cola.backend.cuda.CudaRuntime.describe());
        Outcome cpu = family(CpuBackend.get(), name, Files.createDirectories(tmp.resolve("cpu")));
        Outcome gpu = family(cola.backend.cuda.CudaBackend.get(0), name, Files.createDirectories(tmp.resolve("gpu")));
        assertEquals(cpu.values.keySet(), gpu.values.keySet());
        for (String k : cpu.values.keySet()) {
            Object a = cpu.values.get(k), b = gpu.values.get(k);
            double tol = k.equals("logits.base") ? 1e-4 : 2e-2;
            if (a instanceof float[] f) assertRelClose(toDouble(f), toDouble((float[]) b), tol, k);
            else if (a instanceof double[] d) assertRelClose(d, (double[]) b, tol, k);
        }
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    static void assertRelClose(double[] exp, double[] got, double tol, String what) {
        assertEquals(exp.length, got.length, what);
        double max = 1e-6, err = 0;
        for (int i = 0; i < exp.length; i++) {
            max = Math.max(max, Math.abs(exp[i]));
            err = Math.max(err, Math.abs(exp[i] - got[i]));
        }
        assertTrue(err / max <= tol, what + ": relative error " + err / max + " > " + tol);
    }

    /** FineTuneJob end to end (COLA, causal LM on text; per-epoch checkpoints, best-on-dev, exports) on either backend. */
    Outcome job(Backend be, Path model, Path out) throws IOException {
        Tokenizer tok = Tokenizer.fromFile(model);
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 24; i++) docs.add("the quick brown fox " + i + " jumps over the lazy dog number " + (i * 7 % 11));
        TextData.Split train = new TextData.Split("train", docs, 0);
        TextData.Split dev = new TextData.Split("dev", docs.subList(0, 8), 0);
        LmTask task = new LmTask(tok, train, dev, dev, 2, 16);
        LoraConfig lora = new LoraConfig(4, 8, 0.05, false, List.of("q_proj", "v_proj", "o_proj", "down_proj"), Map.of(),
                LoraConfig.Init.KAIMING_UNIFORM, 9);
        FineTuneJob.Config cfg = new FineTuneJob.Config(model, 1, 2, LrSchedule.Kind.LINEAR, 5e-3, 2, 1.0,
                AdamWConfig.defaults(0f), lora, ChainConfig.paper(2, 4), List.of(1), Rounding.NEAREST_EVEN, true, 4,
                out.resolve("ckpt.safetensors"), out.resolve("export"), 3);
        FineTuneJob.Result r = FineTuneJob.run(be, cfg, task, null);
        Outcome o = new Outcome();
        o.put("steps", losses(r.stepLog()));
        o.put("dev", r.epochs().stream().mapToDouble(e -> e.dev().loss()).toArray());
        o.put("test", new double[] {r.test().loss(), r.test().examples()});
        o.put("best", r.bestEpoch());
        o.put("knots", r.knots());
        o.put("spectrum", r.spectrum());
        o.put("links", r.links().stream().map(l -> List.of(l.rank(), l.firstStep(), l.steps(), l.bf16Survival(),
                l.effectiveRank())).toList());
        for (String f : List.of("merged/model.safetensors", "adapter/adapter_model.safetensors",
                "last-link/adapter_model.safetensors")) {
            o.file(f, out.resolve("export").resolve(f));
        }
        return o;
    }

    @Test
    void aFineTuneJobRunsEndToEndOnADeviceBitForBitAsOnTheCpu() throws Exception {
        Path model = tmp.resolve("llama");
        ModelInit.write(new ModelInit.Spec("llama", Tokenizer.fromFile(gpt2()).vocabSize(), 32, 2, 4, 2, 64, 64),
                DType.F32, 3, model);
        for (String f : List.of("encoder.json", "vocab.bpe")) Files.copy(gpt2().resolve(f), model.resolve(f));
        Outcome cpu = job(CpuBackend.get(), model, Files.createDirectories(tmp.resolve("cpu")));
        FakeDeviceBackend fake = new FakeDeviceBackend();
        Outcome dev = job(fake, model, Files.createDirectories(tmp.resolve("dev")));
        assertSameOutcome(cpu, dev);
        assertTrue(fake.calls().getOrDefault("merge", 0) > 0 && fake.calls().getOrDefault("rope_forward", 0) > 0,
                fake.calls().toString());
        assertEquals(0, fake.memory().liveBlocks(), "every device allocation was freed");
    }

    static Path gpt2() throws Exception {
        return Path.of(DeviceResidentTest.class.getClassLoader().getResource("tokenizer/gpt2").toURI());
    }

    /** The fake device really is strict: a host tensor handed to an op, or to an adapter of the device, is refused. */
    @Test
    void aHostTensorOnTheDevicePathIsRefusedByName() {
        FakeDeviceBackend fake = new FakeDeviceBackend();
        try (Tensor dev = fake.zeros(DType.F32, 2, 3); Tensor host = Tensor.zeros(DType.F32, 2, 3)) {
            assertEquals(Device.cuda(7), dev.device());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> fake.reluForward(dev, host));
            assertTrue(e.getMessage().startsWith("relu_forward: 'inp' is on cpu, not cuda:7"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> fake.sumSquares(List.of(dev, host)));
            assertTrue(e.getMessage().startsWith("sum_squares: 'tensors[1]' is on cpu, not cuda:7"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> new LoraAdapter(fake, "x.q_proj", Tensor.zeros(DType.F32, 1, 3), Tensor.zeros(DType.F32, 2, 1), 1f, 0f));
            assertTrue(e.getMessage().contains("is on cpu"), e.getMessage());
        }
    }

    /** adopt: no copy on the CPU (same tensor), one upload elsewhere (the host tensor is then closed). */
    @Test
    void adoptIsZeroCopyOnTheCpuAndAnUploadOnADevice() {
        Tensor h = Tensor.of(new float[] {1, 2, 3}, 3);
        assertSame(h, CpuBackend.get().adopt(h));
        FakeDeviceBackend fake = new FakeDeviceBackend();
        try (Tensor d = fake.adopt(h)) {
            assertTrue(h.isClosed(), "the host tensor is released after the upload");
            assertEquals(Device.cuda(7), d.device());
            assertArrayEquals(new float[] {1, 2, 3}, d.toFloatArray());
            assertSame(d, fake.adopt(d), "already on the device");
        }
        assertEquals(0, fake.memory().liveBlocks());
    }
}
