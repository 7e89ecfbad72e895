package cola.data;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The seven prompt templates of REFERENCE.md §1, exactly; label forms; MeZO sampling. */
class PromptDataTest {
    @TempDir
    Path tmp;

    static PromptData.Example ex(PromptData.Template t, String json) throws Exception {
        return t.example(new ObjectMapper().readTree(json));
    }

    @Test
    void everyTemplateMatchesMezo() throws Exception {
        var sst2 = ex(PromptData.Template.SST2, "{\"sentence\": \" a gripping film \", \"label\": 1}");
        assertEquals("a gripping film It was", sst2.prompt());
        assertEquals(List.of(" terrible", " great"), sst2.candidates(), "a space before the word: the prompt ends in a word");
        assertEquals(1, sst2.gold());

        var rte = ex(PromptData.Template.RTE, "{\"premise\": \"P.\", \"hypothesis\": \"H\", \"label\": \"not_entailment\"}");
        assertEquals("P.\nDoes this mean that \"H\" is true? Yes or No?\n", rte.prompt());
        assertEquals(List.of("Yes", "No"), rte.candidates(), "newline-terminated prompts take the word directly");
        assertEquals(1, rte.gold());

        var cb = ex(PromptData.Template.CB, "{\"premise\": \"P.\", \"hypothesis\": \"H\", \"label\": \"neutral\"}");
        assertEquals("Suppose P. Can we infer that \"H\"? Yes, No, or Maybe?\n", cb.prompt());
        assertEquals(List.of("Yes", "No", "Maybe"), cb.candidates());
        assertEquals(2, cb.gold());

        var boolq = ex(PromptData.Template.BOOLQ, "{\"passage\": \"Text.\", \"question\": \"is it true\", \"label\": true}");
        assertEquals("Text. Is it true?\n", boolq.prompt(), "question capitalised, '?' added");
        assertEquals(List.of("No", "Yes"), boolq.candidates());
        assertEquals(1, boolq.gold());

        var wic = ex(PromptData.Template.WIC, "{\"word\": \"bank\", \"sentence1\": \"S1\", \"sentence2\": \"S2\", \"label\": false}");
        assertEquals("Does the word \"bank\" have the same meaning in these two sentences? Yes, No?\nS1\nS2\n", wic.prompt());
        assertEquals(0, wic.gold());

        // SuperGLUE's original WSC keeps the spans under "target"; span2 (the pronoun) is lower-cased
        var wsc = ex(PromptData.Template.WSC, "{\"text\": \"T\", \"target\": {\"span1_text\": \"Mark\", \"span2_text\": \"He\"}, \"label\": 1}");
        assertEquals("T\nIn the previous sentence, does the pronoun \"he\" refer to Mark? Yes or No?\n", wsc.prompt());
        assertEquals(1, wsc.gold());

        var mrc = ex(PromptData.Template.MULTIRC, "{\"paragraph\": \"P\", \"question\": \"Q?\", \"answer\": \"A\", \"label\": 0}");
        assertEquals("P\nQuestion: Q?\nI found this answer \"A\". Is that correct? Yes or No?\n", mrc.prompt());
        assertEquals(List.of("No", "Yes"), mrc.candidates());
    }

    @Test
    void badLinesNameFileLineAndField() throws Exception {
        Path f = tmp.resolve("rte.jsonl");
        Files.writeString(f, "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 0}\n{\"premise\": \"p\", \"label\": 0}\n"
                + "{\"premise\": \"p\", \"hypothesis\": \"h\", \"label\": 7}\n");
        var e = assertThrows(java.io.IOException.class, () -> PromptData.read(f, PromptData.Template.RTE, false));
        assertTrue(e.getMessage().contains("rte.jsonl:2: missing string field 'hypothesis'"), e.getMessage());
        var s = PromptData.read(f, PromptData.Template.RTE, true);
        assertEquals(1, s.examples().size());
        assertEquals(2, s.skipped(), "a missing field and an out-of-range label");
        assertThrows(IllegalArgumentException.class, () -> PromptData.Template.of("squad"));
        assertEquals(PromptData.Template.MULTIRC, PromptData.Template.of("MultiRC"));
    }

    @Test
    void mezoSamplingIsSeededAndTestIsShared() {
        List<Integer> pool = new ArrayList<>(), val = new ArrayList<>();
        for (int i = 0; i < 100; i++) pool.add(i);
        for (int i = 0; i < 30; i++) val.add(1000 + i);
        var a = MezoSampling.sample(pool, val, 20, 10, 50, 1);
        var b = MezoSampling.sample(pool, val, 20, 10, 50, 1);
        var c = MezoSampling.sample(pool, val, 20, 10, 50, 2);
        assertEquals(a, b, "same seed, same draw");
        assertNotEquals(a.train(), c.train(), "another seed, another draw");
        assertEquals(a.test(), c.test(), "test is drawn with a fixed seed: every seed scores the same examples");
        assertEquals(20, a.train().size());
        assertEquals(10, a.dev().size());
        assertEquals(30, a.test().size(), "up to 50 of a pool of 30");
        List<Integer> all = new ArrayList<>(a.train());
        all.addAll(a.dev());
        assertEquals(30, all.stream().distinct().count(), "train and dev are disjoint");
        // dev is the LAST 10 of the 30-element seeded draw (MeZO)
        List<Integer> perm = new ArrayList<>(pool);
        java.util.Collections.shuffle(perm, new java.util.Random(1));
        assertEquals(perm.subList(20, 30), a.dev());
        var e = assertThrows(IllegalArgumentException.class, () -> MezoSampling.sample(pool, val, 95, 10, 5, 1));
        assertTrue(e.getMessage().contains("100 examples"), e.getMessage());
    }

    @Test
    void customTemplatesFillFieldsAndCheckLabels() throws Exception {
        var spam = new PromptData.Custom("{text}\nIs this message spam? Yes or No?\n", List.of("No", "Yes"));
        var e = spam.example(new ObjectMapper().readTree("{\"text\": \"WIN $$$ now\", \"label\": 1}"));
        assertEquals("WIN $$$ now\nIs this message spam? Yes or No?\n", e.prompt(), "'$' in the data is literal");
        assertEquals(List.of("No", "Yes"), e.candidates());
        assertEquals(1, e.gold());
        var mid = new PromptData.Custom("Review: {sentence} Rating {stars}/5. Verdict:", List.of("bad", "good"));
        var f = mid.example(new ObjectMapper().readTree("{\"sentence\": \"fine\", \"stars\": 4, \"label\": true}"));
        assertEquals("Review: fine Rating 4/5. Verdict:", f.prompt());
        assertEquals(List.of(" bad", " good"), f.candidates());
        var bad = assertThrows(IllegalArgumentException.class,
                () -> spam.example(new ObjectMapper().readTree("{\"body\": \"x\", \"label\": 0}")));
        assertTrue(bad.getMessage().contains("'text'"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> spam.example(new ObjectMapper().readTree("{\"text\": \"x\", \"label\": 2}")));
        assertThrows(IllegalArgumentException.class, () -> new PromptData.Custom("no fields", List.of("a", "b")));
        assertThrows(IllegalArgumentException.class, () -> new PromptData.Custom("{text}", List.of("only")));
    }
}
