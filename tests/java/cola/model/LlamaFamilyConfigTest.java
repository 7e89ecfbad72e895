package cola.model;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Llama-family configs: Qwen2's biases, Llama's attention_bias, and the clear errors for what is not supported. */
class LlamaFamilyConfigTest {
    @TempDir
    Path tmp;

    ModelConfig read(String caseName, String from, String to) throws IOException {
        String cfg = Files.readString(GoldenModelTest.ROOT.resolve(caseName).resolve("model/config.json")).replace(from, to);
        Path dir = Files.createDirectories(tmp.resolve("m" + System.nanoTime()));
        Files.writeString(dir.resolve("config.json"), cfg);
        return ModelConfig.read(dir);
    }

    @Test
    void phi3IsFusedWithAWindowAndMistralHasItsWindow() throws IOException {
        LlamaConfig p = (LlamaConfig) read("phi3", "", "");
        assertTrue(p.fused());
        assertEquals(6, p.slidingWindow());
        assertEquals(5, ((LlamaConfig) read("mistral", "", "")).slidingWindow());
        assertEquals(0, ((LlamaConfig) read("mistral", "\"sliding_window\": 5", "\"sliding_window\": null")).slidingWindow());
    }

    @Test
    void qwen2HasQkvBiasesAndLlamaAttentionBiasHasAllFour() throws IOException {
        LlamaConfig q = (LlamaConfig) read("qwen2", "", "");
        assertEquals("Qwen2ForCausalLM", q.architecture());
        assertTrue(q.qkvBias() && !q.oBias());
        assertEquals(8, q.headDim(), "no head_dim field: hidden / heads");
        LlamaConfig l = (LlamaConfig) read("llama-attn-bias", "", "");
        assertTrue(l.qkvBias() && l.oBias());
        LlamaConfig plain = (LlamaConfig) read("llama-gqa", "", "");
        assertFalse(plain.qkvBias() || plain.oBias());
    }

    @Test
    void slidingWindowAndMlpBiasAreClearErrors() {
        IOException e = assertThrows(IOException.class,
                () -> read("qwen2", "\"use_sliding_window\": false", "\"use_sliding_window\": true"));
        assertTrue(e.getMessage().contains("use_sliding_window = true is not supported yet"), e.getMessage());
        e = assertThrows(IOException.class, () -> read("llama-gqa", "\"mlp_bias\": false", "\"mlp_bias\": true"));
        assertTrue(e.getMessage().contains("mlp_bias = true is not supported"), e.getMessage());
        e = assertThrows(IOException.class,
                () -> read("phi3", "\"partial_rotary_factor\": 1.0", "\"partial_rotary_factor\": 0.75"));
        assertTrue(e.getMessage().contains("partial_rotary_factor 0.75 is not supported yet"), e.getMessage());
        e = assertThrows(IOException.class, () -> read("mistral", "\"sliding_window\": 5", "\"sliding_window\": 0"));
        assertTrue(e.getMessage().contains("sliding_window must be a positive integer or null"), e.getMessage());
    }

    @Test
    void mixtureOfExpertsVisionModelsAndPicklesAreNamed() throws IOException {
        IOException e = assertThrows(IOException.class,
                () -> read("mistral", "\"MistralForCausalLM\"", "\"MixtralForCausalLM\""));
        assertTrue(e.getMessage().contains("'MixtralForCausalLM' is not supported (a mixture-of-experts model")
                && e.getMessage().contains("cola supports"), e.getMessage());
        e = assertThrows(IOException.class,
                () -> read("llama-gqa", "\"LlamaForCausalLM\"", "\"Gemma3ForConditionalGeneration\""));
        assertTrue(e.getMessage().contains("(a vision/multimodal model"), e.getMessage());
        Path dir = Files.createDirectories(tmp.resolve("bin"));
        Files.copy(GoldenModelTest.ROOT.resolve("llama-gqa/model/config.json"), dir.resolve("config.json"));
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 2});
        e = assertThrows(IOException.class, () -> Transformer.load(dir, cola.backend.cpu.CpuBackend.get()).close());
        assertTrue(e.getMessage().contains("pytorch_model.bin (a PyTorch pickle)") && e.getMessage().contains("safetensors"),
                e.getMessage());
    }
}
