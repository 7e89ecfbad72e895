package cola.cli;

import cola.backend.Backend;
import cola.data.ClassificationData;
import cola.data.PromptData;
import cola.data.TextData;
import cola.lora.PeftAdapter;
import cola.model.LoraAdapter;
import cola.model.Precision;
import cola.model.Transformer;
import cola.tokenizer.Tokenizer;
import cola.train.ClassificationTask;
import cola.train.Eval;
import cola.train.LmTask;
import cola.train.PromptTask;
import cola.train.Task;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cola eval}: scores a model (a merged export, or a base model plus a PEFT adapter) on a task's JSONL. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluate a model on JSONL data: accuracy and macro-F1 (classify and the prompted tasks) or loss",
                "and perplexity (lm). The model is an HF folder, e.g. a run's export/<method>/merged, or a base model",
                "with --adapter (a PEFT LoRA folder such as export/<method>/adapter).", ""})
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "DIR", description = "Hugging Face model folder.")
    Path model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "A PEFT LoRA adapter folder applied on top of --model.")
    Path adapter;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer (default: the model folder).")
    Path tokenizer;

    @Option(names = "--task", defaultValue = "classify", description = "classify, sst2, rte, cb, boolq, wic, wsc, multirc, prompt or lm (default: ${DEFAULT-VALUE}).")
    String task;

    @Option(names = "--template", paramLabel = "TEXT", description = "--task prompt: the prompt with {field} placeholders.")
    String template;

    @Option(names = "--candidates", split = ",", paramLabel = "W1,W2,...", description = "--task prompt: the candidate of each label.")
    List<String> candidates;

    @Option(names = "--data", required = true, paramLabel = "JSONL", description = "The examples to score.")
    Path data;

    @Option(names = "--batch-size", defaultValue = "16", description = "Examples per batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--max-length", defaultValue = "64", description = "Tokens per row (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--skip-bad-lines", description = "Skip (and count) malformed JSONL lines.")
    boolean skipBadLines;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda, cuda:N or auto (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--allow-nonfinite", description = "Load weights that hold NaN or Inf (refused by default, naming the tensor and element).")
    boolean allowNonFinite;

    @Option(names = "--dtype", defaultValue = "auto", description = "Frozen weights: auto (bf16 for a bf16/f16 checkpoint on a device with bf16 units, else f32), bf16 or f32 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Override
    public Integer call() throws Exception {
        Tokenizer tok = Tokenizer.fromFile(tokenizer != null ? tokenizer : model);
        Backend be = cola.backend.select.Backends.select(device);
        Task t;
        int labels = 0;
        if (task.equals("classify")) {
            ClassificationData.Split s = ClassificationData.read(data, skipBadLines);
            labels = s.numLabels();
            t = new ClassificationTask(tok, s, s, s, batchSize, maxLength);
        } else if (task.equals("lm")) {
            TextData.Split s = TextData.read(data, skipBadLines);
            t = new LmTask(tok, s, s, s, batchSize, maxLength);
        } else {
            PromptData.Split s = PromptData.read(data, TrainCommand.promptFormat(task, template, candidates), skipBadLines);
            t = new PromptTask(tok, s, s, s, batchSize, maxLength);
        }
        Precision.Resolved precision = Precision.resolve(Precision.Choice.parse(dtype), model, be);
        System.out.println(precision.reason());
        try (Transformer m = Transformer.load(model, be, precision.dtype(), allowNonFinite)) {
            List<LoraAdapter> attached = List.of();
            if (adapter != null) {
                PeftAdapter.Config pc = PeftAdapter.readConfig(adapter);
                if (pc.modulesToSave().contains("classifier") && m.classifier() == null) {
                    // a classification adapter on the base encoder: the head it saves needs a head to replace
                    m.addClassificationHead(Math.max(2, labels), 0);
                }
                attached = PeftAdapter.attach(adapter, m);
            }
            try {
                if (task.equals("classify") && m.classifier() == null) {
                    throw new IllegalArgumentException(model + " has no classification head: evaluate a cola export"
                            + " (export/<method>/merged) or pass the run's --adapter");
                }
                Eval e = t.evaluate(be, m, t.test());
                System.out.println(task.equals("lm")
                        ? String.format("%s: %d tokens, loss %.4f, perplexity %.3f", data, e.examples(), e.loss(), e.perplexity())
                        : String.format("%s: %d examples, accuracy %.4f, macro-F1 %.4f, loss %.4f", data, e.examples(),
                                e.accuracy(), e.macroF1(), e.loss()));
            } finally {
                cola.lora.Lora.detach(m, attached);
            }
        }
        return 0;
    }
}
