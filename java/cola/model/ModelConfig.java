package cola.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * A model's architecture as read from a Hugging Face {@code config.json}: one record per family, holding exactly the
 * fields that build the model (REFERENCE.md §2). An unknown architecture or a missing field is an error naming the
 * file and the field.
 */
public sealed interface ModelConfig permits OptConfig, LlamaConfig, Gpt2Config, BertConfig {
    /** The HF architecture string, e.g. "OPTForCausalLM". */
    String architecture();

    int vocabSize();

    int hiddenSize();

    int numLayers();

    int numHeads();

    /** Causal LMs predict the next token; BERT does not. */
    boolean causal();

    List<String> SUPPORTED = List.of("OPTForCausalLM", "LlamaForCausalLM", "MistralForCausalLM", "Phi3ForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
            "GPT2LMHeadModel",
            "BertModel",
            "BertForMaskedLM", "BertForSequenceClassification");

    /** Why an architecture is out of reach, when its name says (mixture-of-experts, vision/multimodal), else "". */
    static String kindOf(String arch) {
        String a = arch.toLowerCase(java.util.Locale.ROOT);
        if (a.contains("moe") || a.startsWith("mixtral") || a.contains("deepseekv") || a.contains("dbrx")) {
            return " (a mixture-of-experts model: cola has no expert routing yet)";
        }
        if (a.contains("vision") || a.contains("vl") || a.contains("llava") || a.contains("conditionalgeneration")
                || a.contains("imagetext")) {
            return " (a vision/multimodal model: cola trains text decoders and encoders only)";
        }
        return "";
    }

    /** Reads {@code folder/config.json} (or a config.json path). */
    static ModelConfig read(Path folderOrFile) throws IOException {
        Path file = Files.isDirectory(folderOrFile) ? folderOrFile.resolve("config.json") : folderOrFile;
        if (!Files.exists(file)) throw new NoSuchFileException(file + " (a Hugging Face model folder needs config.json)");
        JsonNode root;
        try {
            root = cola.json.StrictJson.MAPPER.readTree(file.toFile());
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) throw new IOException(file + ": not a JSON object");
        Fields f = new Fields(file, root);
        String arch = f.architecture();
        return switch (arch) {
            case "OPTForCausalLM" -> OptConfig.from(f);
            case "LlamaForCausalLM", "MistralForCausalLM", "Phi3ForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM" ->
                    LlamaConfig.from(f, arch);
            case "GPT2LMHeadModel" -> Gpt2Config.from(f);
            case "BertModel", "BertForMaskedLM", "BertForSequenceClassification" -> BertConfig.from(f, arch);
            default -> throw new IOException(file + ": architecture '" + arch + "' is not supported" + kindOf(arch)
                    + "; cola supports " + String.join(", ", SUPPORTED));
        };
    }

    /** Typed access to config.json fields with errors that name the file and field. */
    final class Fields {
        final Path file;
        final JsonNode root;

        Fields(Path file, JsonNode root) {
            this.file = file;
            this.root = root;
        }

        String architecture() throws IOException {
            JsonNode a = root.get("architectures");
            if (a != null && a.isArray() && a.size() > 0 && a.get(0).isTextual()) return a.get(0).asText();
            JsonNode mt = root.get("model_type");
            if (mt != null && mt.isTextual()) {
                switch (mt.asText()) {
                    case "opt": return "OPTForCausalLM";
                    case "llama": return "LlamaForCausalLM";
                    case "qwen2": return "Qwen2ForCausalLM";
                    case "mistral": return "MistralForCausalLM";
                    case "phi3": return "Phi3ForCausalLM";
                    case "qwen3": return "Qwen3ForCausalLM";
                    case "gpt2": return "GPT2LMHeadModel";
                    case "bert": return "BertModel";
                    default: throw new IOException(file + ": model_type '" + mt.asText() + "' is not supported; cola"
                            + " supports " + String.join(", ", SUPPORTED));
                }
            }
            throw new IOException(file + ": neither 'architectures' nor 'model_type' is set");
        }

        int integer(String name) throws IOException {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) throw new IOException(file + ": missing field '" + name + "'");
            if (!n.isIntegralNumber() || n.asLong() < 0 || n.asLong() > Integer.MAX_VALUE) {
                throw new IOException(file + ": field '" + name + "' must be a non-negative integer, got " + n);
            }
            return n.asInt();
        }

        int integer(String name, int dflt) throws IOException {
            return has(name) ? integer(name) : dflt;
        }

        double number(String name, double dflt) throws IOException {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isNumber()) throw new IOException(file + ": field '" + name + "' must be a number, got " + n);
            return n.asDouble();
        }

        boolean bool(String name, boolean dflt) throws IOException {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isBoolean()) throw new IOException(file + ": field '" + name + "' must be true or false, got " + n);
            return n.asBoolean();
        }

        String text(String name, String dflt) throws IOException {
            JsonNode n = root.get(name);
            if (n == null || n.isNull()) return dflt;
            if (!n.isTextual()) throw new IOException(file + ": field '" + name + "' must be a string, got " + n);
            return n.asText();
        }

        boolean has(String name) {
            JsonNode n = root.get(name);
            return n != null && !n.isNull();
        }

        IOException bad(String message) {
            return new IOException(file + ": " + message);
        }
    }
}
