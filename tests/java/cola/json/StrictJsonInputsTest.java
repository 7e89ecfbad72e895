package cola.json;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.data.TextData;
import cola.model.ModelConfig;
import cola.model.Transformer;
import cola.train.Probe;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Inputs are read strictly (issue: reliability, lenient JSON): a duplicate key or anything after the JSON value is an
 * error naming the file (and, for JSONL, the line) — config.json, adapter_config.json, inputs.json, JSONL lines.
 */
class StrictJsonInputsTest {
    static final Path GOLDEN = Path.of("tests/resources/golden/llama-gqa");

    @TempDir
    Path tmp;

    Path modelWithConfig(String edit) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        String cfg = Files.readString(GOLDEN.resolve("model/config.json"));
        Files.writeString(dir.resolve("config.json"), edit.equals("trailing") ? cfg + "\n{\"x\": 1}"
                : cfg.replaceFirst("\\{", "{\"vocab_size\": 7, "));
        return dir;
    }

    @Test
    void configJsonWithADuplicateKeyOrTrailingContentIsRefused() throws IOException {
        IOException e = assertThrows(IOException.class, () -> ModelConfig.read(modelWithConfig("duplicate")));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("Duplicate field 'vocab_size'"),
                e.getMessage());
        e = assertThrows(IOException.class, () -> ModelConfig.read(modelWithConfig("trailing")));
        assertTrue(e.getMessage().contains("config.json") && e.getMessage().contains("Trailing token"), e.getMessage());
    }

    @Test
    void adapterConfigAndInputsAreStrictToo() throws IOException {
        Path adapter = Files.createDirectories(tmp.resolve("adapter"));
        for (String f : new String[] {"adapter_model.safetensors"}) Files.copy(GOLDEN.resolve("adapter").resolve(f), adapter.resolve(f));
        Files.writeString(adapter.resolve("adapter_config.json"),
                Files.readString(GOLDEN.resolve("adapter/adapter_config.json")).replaceFirst("\\{", "{\"r\": 99, "));
        try (Transformer m = Transformer.load(GOLDEN.resolve("model"), CpuBackend.get())) {
            IOException e = assertThrows(IOException.class, () -> cola.lora.PeftAdapter.attach(adapter, m));
            assertTrue(e.getMessage().contains("adapter_config.json") && e.getMessage().contains("Duplicate field 'r'"),
                    e.getMessage());
        }
        Path inputs = tmp.resolve("inputs.json");
        Files.writeString(inputs, Files.readString(GOLDEN.resolve("inputs.json")) + " garbage");
        IOException e = assertThrows(IOException.class, () -> Probe.readInputs(inputs));
        assertTrue(e.getMessage().contains("inputs.json"), e.getMessage());
    }

    @Test
    void aJsonlLineWithTrailingContentNamesFileAndLine() throws IOException {
        Path f = tmp.resolve("corpus.jsonl");
        Files.writeString(f, "{\"text\": \"fine\"}\n{\"text\": \"a\"} {\"text\": \"b\"}\n");
        IOException e = assertThrows(IOException.class, () -> TextData.read(f, false));
        assertTrue(e.getMessage().contains("corpus.jsonl:2"), e.getMessage());
        Files.writeString(f, "{\"text\": \"a\", \"text\": \"b\"}\n");
        e = assertThrows(IOException.class, () -> TextData.read(f, false));
        assertTrue(e.getMessage().contains("corpus.jsonl:1") && e.getMessage().contains("Duplicate field 'text'"),
                e.getMessage());
    }
}
