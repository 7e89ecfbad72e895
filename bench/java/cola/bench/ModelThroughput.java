package cola.bench;

import cola.backend.AdamWConfig;
import cola.backend.cpu.CpuBackend;
import cola.lora.Lora;
import cola.lora.LoraConfig;
import cola.model.Batch;
import cola.model.LoraAdapter;
import cola.model.Transformer;
import cola.tensor.Arena;
import cola.tensor.DType;
import cola.tensor.Tensor;
import cola.train.Loss;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * End-to-end LoRA training-step throughput: forward, loss, backward and AdamW on the adapters (r = 8, α = 16 on the
 * query/value projections), B = 8, T = 128, fp32 — the same step as bench/peer/torch_model.py, on the same random
 * HF folder it creates. Prints the median step time, tokens/s and the peak RSS (VmHWM). {@code --dtype bf16} holds
 * the frozen matrices in bf16 (the bf16 engine: bf16 GEMMs with fp32 accumulation), {@code f32} widens every weight
 * (default); OPT, Llama-architecture and BERT folders.
 *
 * <pre>
 * OMP_NUM_THREADS=2 /usr/bin/python3 bench/peer/torch_model.py --family opt --make-only
 * java -cp target/cola.jar:target/test-classes cola.bench.ModelThroughput /tmp/cola-models/opt-125m-random 8 128 8 --dtype bf16
 * </pre>
 */
public final class ModelThroughput {
    public static void main(String[] args) throws Exception {
        List<String> pos = new ArrayList<>();
        DType weights = DType.F32;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--dtype") && i + 1 < args.length) {
                weights = switch (args[++i]) {
                    case "bf16" -> DType.BF16;
                    case "f32" -> DType.F32;
                    default -> throw new IllegalArgumentException("--dtype must be bf16 or f32, got " + args[i]);
                };
            } else {
                pos.add(args[i]);
            }
        }
        if (pos.isEmpty()) {
            System.err.println("usage: ModelThroughput <hf folder> [batch 8] [seq 128] [steps 8] [--dtype f32|bf16]");
            System.exit(2);
        }
        Path dir = Path.of(pos.get(0));
        int b = pos.size() > 1 ? Integer.parseInt(pos.get(1)) : 8;
        int t = pos.size() > 2 ? Integer.parseInt(pos.get(2)) : 128;
        int steps = pos.size() > 3 ? Integer.parseInt(pos.get(3)) : 8;
        CpuBackend be = CpuBackend.get();
        long loadStart = System.nanoTime();
        try (Transformer m = Transformer.load(dir, be, weights); Arena arena = new Arena(64L << 20)) {
            System.out.printf("loaded %s (%s weights) in %.1f s, RSS now %d MB%n", dir, weights,
                    (System.nanoTime() - loadStart) / 1e9, rssMb());
            List<String> targets = m.head == Transformer.Head.CAUSAL_LM ? List.of("q_proj", "v_proj") : List.of("query", "value");
            List<LoraAdapter> ads = Lora.attach(m, new LoraConfig(8, 16, 0, false, targets, null,
                    LoraConfig.Init.KAIMING_UNIFORM, 1));
            List<Tensor> params = new ArrayList<>(), grads = new ArrayList<>(), ms = new ArrayList<>(), vs = new ArrayList<>();
            for (LoraAdapter a : ads) {
                params.add(a.a);
                params.add(a.b);
                grads.add(a.gradA);
                grads.add(a.gradB);
            }
            if (m.classifier() != null) {
                params.add(m.classifier().weight);
                grads.add(m.classifier().gradWeight());
                params.add(m.classifier().bias);
                grads.add(m.classifier().gradBias());
            }
            for (Tensor p : params) {
                ms.add(Tensor.zeros(DType.F32, p.shape()));
                vs.add(Tensor.zeros(DType.F32, p.shape()));
            }
            Random rng = new Random(1);
            int[][] ids = new int[b][t];
            int[][] labels = new int[b][];
            for (int i = 0; i < b; i++) {
                for (int j = 0; j < t; j++) ids[i][j] = 3 + rng.nextInt(m.config.vocabSize() - 3);
                labels[i] = ids[i];
            }
            int[] cls = new int[b];
            for (int i = 0; i < b; i++) cls[i] = rng.nextInt(2);
            Batch batch = new Batch(ids, null, null);
            double[] times = new double[steps];
            double[][] parts = new double[steps][4];
            for (int s = -1; s < steps; s++) {
                long t0 = System.nanoTime();
                arena.reset();
                for (Tensor g : grads) g.zero();
                Tensor logits = m.forward(arena, batch, s);
                long t1 = System.nanoTime();
                int[] targets2 = m.head == Transformer.Head.CAUSAL_LM ? Loss.shiftLabels(labels) : cls;
                Loss.Result r = Loss.crossEntropy(be, arena, logits, targets2);
                long t2 = System.nanoTime();
                m.backward(r.dlogits());
                long t3 = System.nanoTime();
                be.adamwStep(params, grads, ms, vs, AdamWConfig.defaults(1e-4f), s + 2, 1f);
                long t4 = System.nanoTime();
                if (s >= 0) {  // step -1 warms up and sizes the arena
                    times[s] = (t4 - t0) / 1e6;
                    parts[s] = new double[] {(t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6, (t4 - t3) / 1e6};
                }
            }
            double[] sorted = times.clone();
            Arrays.sort(sorted);
            double med = sorted[steps / 2];
            int mi = 0;
            for (int i = 0; i < steps; i++) if (times[i] == med) mi = i;
            System.out.printf("median step: forward %.0f ms, loss %.0f ms, backward %.0f ms, adamw %.1f ms%n",
                    parts[mi][0], parts[mi][1], parts[mi][2], parts[mi][3]);
            System.out.printf("cola %s B%dxT%d LoRA r8 %s %s: median step %.1f ms, %.0f tokens/s, peak RSS %d MB, "
                    + "arena %d MB, threads %d%n", m.config.architecture(), b, t, targets,
                    weights == DType.BF16 ? "bf16" : "fp32", med, b * t / (med / 1e3),
                    peakRssMb(), arena.highWater() >> 20, CpuBackend.maxThreads());
            Lora.detach(m, ads);
            for (Tensor x : ms) x.close();
            for (Tensor x : vs) x.close();
        }
    }

    static long rssMb() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
        }
        return -1;
    }

    static long peakRssMb() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
        }
        return -1;
    }
}
