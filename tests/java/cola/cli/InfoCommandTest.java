package cola.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** `cola info` and `cola info --model DIR` (family, parameters, stored dtype, what --dtype picks, memory estimates). */
class InfoCommandTest {
    static String run(String... args) {
        return FamiliesTrainTest.captured(args);
    }

    @Test
    void infoDescribesAModelFolderWithoutLoadingIt() {
        String out = run("info", "--model", "tests/resources/golden/llama-tied-bf16/model", "--batch-size", "2",
                "--max-length", "16");
        assertTrue(out.contains("bf16 "), out);
        assertTrue(out.contains("LlamaForCausalLM, 2 layers, hidden 32, vocab 128"), out);
        assertTrue(out.contains("stored BF16"), out);
        assertTrue(out.contains("--dtype auto: "), out);
        assertTrue(out.contains("LoRA training at B2×T16"), out);
        assertTrue(out.contains("KV cache"), out);
        String f32 = run("info", "--model", "tests/resources/golden/qwen3/model", "--dtype", "f32");
        assertTrue(f32.contains("Qwen3ForCausalLM") && f32.contains("--dtype f32"), f32);
    }

    @Test
    void aMissingFolderIsOneClearLine() {
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = ColaTrainer.commandLine();
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute("info", "--model", "tests/resources/golden/nope"));
        assertTrue(err.toString().startsWith("cola info: no such file: "), err.toString());
    }
}
