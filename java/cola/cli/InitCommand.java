package cola.cli;

import cola.model.ModelInit;
import cola.tensor.DType;
import cola.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cola init}: a randomly initialised Hugging Face model folder of any family (to pretrain with cola). */
@Command(name = "init", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a freshly initialised Hugging Face model folder (config.json + model.safetensors, HF's",
                "N(0, 0.02) init) for OPT, Llama, GPT-2 or BERT, with the tokenizer files copied in. Pretrain it with",
                "'cola train --task lm --method full'. No causal-LM weights are reachable offline; this is how to get one.", ""})
final class InitCommand implements Callable<Integer> {
    @Option(names = "--family", required = true, description = "opt, llama, gpt2 or bert.")
    String family;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer (tokenizer.json, or a folder with GPT-2 encoder.json + vocab.bpe, vocab.json + merges.txt, or vocab.txt); copied into the folder and sets --vocab.")
    Path tokenizer;

    @Option(names = "--vocab", description = "Vocabulary size (default: the tokenizer's).")
    Integer vocab;

    @Option(names = "--hidden", defaultValue = "128", description = "Hidden size (default: ${DEFAULT-VALUE}).")
    int hidden;

    @Option(names = "--layers", defaultValue = "4", description = "Transformer blocks (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--heads", defaultValue = "4", description = "Attention heads (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--kv-heads", description = "Llama key/value heads for GQA (default: --heads).")
    Integer kvHeads;

    @Option(names = "--ffn", description = "MLP width (default: 4 × hidden).")
    Integer ffn;

    @Option(names = "--max-positions", defaultValue = "512", description = "Position table size (default: ${DEFAULT-VALUE}).")
    int maxPositions;

    @Option(names = "--dtype", defaultValue = "f32", description = "Stored dtype: f32 or bf16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Option(names = "--seed", defaultValue = "0", description = "Initialisation seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "The folder to write.")
    Path out;

    @Override
    public Integer call() throws Exception {
        int v;
        if (vocab != null) v = vocab;
        else if (tokenizer != null) v = Tokenizer.fromFile(tokenizer).vocabSize();
        else throw new IllegalArgumentException("pass --tokenizer (sets the vocabulary) or --vocab");
        DType dt = switch (dtype) {
            case "f32" -> DType.F32;
            case "bf16" -> DType.BF16;
            default -> throw new IllegalArgumentException("--dtype must be f32 or bf16, got '" + dtype + "'");
        };
        ModelInit.Spec spec = new ModelInit.Spec(family, v, hidden, layers, heads, kvHeads != null ? kvHeads : heads,
                ffn != null ? ffn : 4 * hidden, maxPositions);
        ModelInit.write(spec, dt, seed, out);
        if (tokenizer != null) {
            if (Files.isDirectory(tokenizer)) {
                cola.train.Exports.copyTokenizerFiles(tokenizer, out);
            } else {
                String name = tokenizer.getFileName().toString();
                cola.io.AtomicFiles.copy(tokenizer, out.resolve(name.endsWith(".txt") ? "vocab.txt" : "tokenizer.json"));
            }
        }
        System.out.printf("cola init: %s, %d layers, hidden %d, vocab %d, %s -> %s%n", family, layers, hidden, v, dtype, out);
        return 0;
    }
}
