package cola.cli;

import cola.io.OnnxBertImporter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cola import}: pretrained weights from other formats into a Hugging Face folder. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = {"Convert pretrained weights into a Hugging Face folder (config.json + model.safetensors).",
                "--from onnx: a BERT-family encoder exported to ONNX (e.g. all-MiniLM-L6-v2) -> BertModel."})
final class ImportCommand implements Callable<Integer> {
    enum Format { onnx }

    @Option(names = "--from", required = true, description = "Source format: ${COMPLETION-CANDIDATES}.")
    Format from;

    @Parameters(index = "0", paramLabel = "PATH", description = "The source file (model.onnx).")
    Path source;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output Hugging Face folder.")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "tokenizer.json to copy into the folder.")
    Path tokenizer;

    @Option(names = "--num-heads", paramLabel = "N", description = "Attention heads, when the graph does not show them.")
    Integer numHeads;

    @Override
    public Integer call() throws Exception {
        OnnxBertImporter.importModel(source, out, tokenizer, numHeads);
        System.out.println("imported " + source + " -> " + out);
        return 0;
    }
}
