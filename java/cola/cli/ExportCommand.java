package cola.cli;

import cola.backend.AdamWConfig;
import cola.backend.Backend;
import cola.chain.Chain;
import cola.chain.ChainConfig;
import cola.io.SafetensorsFile;
import cola.lora.LoraConfig;
import cola.model.Transformer;
import cola.train.Checkpoint;
import cola.train.Exports;
import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code cola export}: the exports of a LoRA/COLA run, rebuilt from its latest checkpoint and config.json — merged
 * HF folder, the whole chain as one PEFT adapter (rank Σr), and the last link's adapter.
 */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Export a LoRA/COLA run from its latest per-epoch checkpoint: merged/ (HF folder in the base",
                "dtype, every link merged in fp32), adapter/ (the whole chain as ONE PEFT adapter of rank Σr, lora_alpha",
                "= Σr) and last-link/ (the current link's adapter). 'train --export' writes the same at the end of a run.", ""})
final class ExportCommand implements Callable<Integer> {
    @Option(names = "--run", required = true, paramLabel = "DIR", description = "A run folder of 'cola train' (config.json + checkpoint-<method>.safetensors).")
    Path run;

    @Option(names = "--method", defaultValue = "COLA", description = "Which checkpoint: LoRA or COLA, with -seed<S> for multi-seed runs (default: ${DEFAULT-VALUE}).")
    String method;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where merged/, adapter/ and last-link/ go.")
    Path out;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda, cuda:N or auto (default: ${DEFAULT-VALUE}).")
    String device;

    @Override
    public Integer call() throws Exception {
        Path cfgFile = run.resolve("config.json");
        if (!Files.exists(cfgFile)) throw new NoSuchFileException(cfgFile + " (not a cola train run folder)");
        Path ckpt = run.resolve("checkpoint-" + method + ".safetensors");
        if (!Files.exists(ckpt)) {
            throw new NoSuchFileException(ckpt + " (checkpoints in " + run + ": " + checkpoints() + "; full fine-tuning"
                    + " writes none: use train --export)");
        }
        JsonNode c = cola.json.StrictJson.MAPPER.readTree(cfgFile.toFile());
        Path base = Path.of(field(c, "model").asText());
        List<Integer> ranks = new ArrayList<>();
        field(c, "ranks").forEach(r -> ranks.add(r.asInt()));
        List<String> targets = new ArrayList<>();
        field(c, "targets").forEach(t -> targets.add(t.asText()));
        boolean lora = method.startsWith("LoRA");
        int links = lora ? 1 : field(c, "chain_length").asInt();
        LoraConfig lc = new LoraConfig(ranks.get(0), field(c, "alpha").asDouble(), c.path("lora_dropout").asDouble(0),
                c.path("rslora").asBoolean(false), targets, Map.of(), LoraConfig.Init.KAIMING_UNIFORM, 0);
        ChainConfig cc = new ChainConfig(links, lora ? List.of(ranks.get(0)) : ranks, List.of(), ChainConfig.Reset.FULL, 0,
                ChainConfig.LrScope.GLOBAL, 0);
        Backend be = cola.backend.select.Backends.select(device);
        int labels = 0;
        try (SafetensorsFile f = SafetensorsFile.open(ckpt)) {
            var e = f.entries().get("weight.classifier");
            if (e != null) labels = (int) e.shape()[0];
        }
        // the frozen matrices in the dtype the run trained with (its checkpoint holds them so); runs before --dtype: f32
        cola.tensor.DType weights = c.path("dtype").asText("f32").equals("bf16") ? cola.tensor.DType.BF16 : cola.tensor.DType.F32;
        try (Transformer m = Transformer.load(base, be, weights)) {
            if (labels > 0) m.addClassificationHead(labels, 0);
            try (Chain chain = new Chain(be, m, lc, cc, AdamWConfig.defaults(0f))) {
                Checkpoint.Position pos = Checkpoint.restore(ckpt, m, chain);
                Exports.lastLink(out.resolve("last-link"), m, lc, base);
                chain.finish();
                System.out.println("cola export: " + ckpt + " (next step " + pos.nextStep() + ", link " + (pos.link() + 1) + ")");
                System.out.println(Exports.mergedAndChain(be, out, m, chain, lc, base));
            }
        }
        return 0;
    }

    private static JsonNode field(JsonNode c, String name) {
        JsonNode v = c.get(name);
        if (v == null || v.isNull()) throw new IllegalArgumentException("run config.json lacks '" + name + "'");
        return v;
    }

    private String checkpoints() throws java.io.IOException {
        try (var s = Files.list(run)) {
            List<String> names = s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("checkpoint-")).toList();
            return names.isEmpty() ? "none" : String.join(", ", names);
        }
    }
}
