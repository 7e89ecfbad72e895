package cola.cli;

import cola.io.OnnxBertImporter;
import cola.io.TfCheckpointImporter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cola import}: pretrained weights from other formats into a Hugging Face folder. */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = {"Convert pretrained weights into a Hugging Face folder (config.json + model.safetensors).",
                "--from onnx: a BERT-family encoder exported to ONNX (e.g. all-MiniLM-L6-v2) -> BertModel.",
                "--from tf-checkpoint: a TensorFlow BERT checkpoint (SavedModel folder or variables/ TensorBundle) -> BertForMaskedLM."})
final class ImportCommand implements Callable<Integer> {
    enum Format {
        onnx("onnx"), tfCheckpoint("tf-checkpoint");

        final String flag;

        Format(String flag) {
            this.flag = flag;
        }

        @Override
        public String toString() {
            return flag;
        }

        static Format parse(String s) {
            for (Format f : values()) if (f.flag.equals(s)) return f;
            throw new IllegalArgumentException("--from must be onnx or tf-checkpoint, got '" + s + "'");
        }
    }

    @Option(names = "--from", required = true, converter = FormatConverter.class,
            description = "Source format: onnx or tf-checkpoint.")
    Format from;

    static final class FormatConverter implements picocli.CommandLine.ITypeConverter<Format> {
        @Override
        public Format convert(String value) {
            return Format.parse(value);
        }
    }

    @Parameters(index = "0", paramLabel = "PATH", description = "The source: model.onnx, or a TF SavedModel / variables folder.")
    Path source;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output Hugging Face folder.")
    Path out;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "tokenizer.json (onnx) or vocab.txt (tf-checkpoint) to copy into the folder.")
    Path tokenizer;

    @Option(names = "--num-heads", paramLabel = "N", description = "Attention heads, when the graph does not show them.")
    Integer numHeads;

    @Override
    public Integer call() throws Exception {
        if (from == Format.onnx) OnnxBertImporter.importModel(source, out, tokenizer, numHeads);
        else TfCheckpointImporter.importModel(source, out, tokenizer, numHeads);
        System.out.println("imported " + source + " -> " + out);
        return 0;
    }
}
