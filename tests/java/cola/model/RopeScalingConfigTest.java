package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** rope_scaling in config.json: what is read, and the errors for what is not supported or malformed. */
class RopeScalingConfigTest {
    @TempDir
    Path tmp;

    ModelConfig read(String ropeScaling) throws IOException {
        String cfg = Files.readString(GoldenModelTest.ROOT.resolve("llama3-rope/model/config.json"));
        cfg = cfg.replaceAll("\"rope_scaling\": \\{[^}]*\\}", "\"rope_scaling\": " + ropeScaling);
        Path dir = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        Files.writeString(dir.resolve("config.json"), cfg);
        return ModelConfig.read(dir);
    }

    @Test
    void theTypesAreRead() throws IOException {
        LlamaConfig c = (LlamaConfig) read("{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
                + " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}");
        assertEquals(RopeScaling.Type.LLAMA3, c.ropeScaling().type());
        assertEquals(8192, c.ropeScaling().originalMaxPositions());
        LlamaConfig y = (LlamaConfig) read("{\"type\": \"yarn\", \"factor\": 4.0}");
        assertEquals(RopeScaling.Type.YARN, y.ropeScaling().type());
        assertEquals(0.1 * Math.log(4) + 1, y.ropeScaling().attentionFactor(), 1e-12, "YaRN's default attention factor");
        assertEquals(RopeScaling.Type.DEFAULT, ((LlamaConfig) read("null")).ropeScaling().type());
        assertEquals(RopeScaling.Type.DEFAULT, ((LlamaConfig) read("{\"rope_type\": \"default\"}")).ropeScaling().type());
    }

    @Test
    void unsupportedOrMalformedScalingIsAClearError() {
        IOException e = assertThrows(IOException.class, () -> read("{\"rope_type\": \"longrope\", \"factor\": 4.0}"));
        assertTrue(e.getMessage().contains("rope_scaling type 'longrope' is not supported (default, linear, dynamic, yarn,"
                + " llama3)"), e.getMessage());
        e = assertThrows(IOException.class, () -> read("{\"rope_type\": \"linear\"}"));
        assertTrue(e.getMessage().contains("rope_scaling.factor must be a positive number"), e.getMessage());
        e = assertThrows(IOException.class, () -> read("{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 4.0,"
                + " \"high_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192}"));
        assertTrue(e.getMessage().contains("high_freq_factor 1.0 must exceed low_freq_factor 4.0"), e.getMessage());
        e = assertThrows(IOException.class, () -> read("[1, 2]"));
        assertTrue(e.getMessage().contains("rope_scaling must be an object or null"), e.getMessage());
    }
}
