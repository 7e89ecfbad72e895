package cola.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code cola tokenize} through ColaTrainer's command line. */
class TokenizerCliTest {

    private static String[] run(String... args) throws Exception {
        Class<?> c = Class.forName("cola.cli.ColaTrainer");
        Method m = c.getDeclaredMethod("commandLine");
        m.setAccessible(true);
        CommandLine cl = (CommandLine) m.invoke(null);
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        int rc;
        try {
            rc = cl.execute(args);
        } finally {
            System.setOut(old);
        }
        return new String[] {String.valueOf(rc), out.toString(StandardCharsets.UTF_8), err.toString()};
    }

    @Test
    void encodesDecodesAndPairs() throws Exception {
        String tok = TokenizerFixtures.miniLm().toString();
        String[] r = run("tokenize", "--tokenizer", tok, "hello world", "hello");
        assertEquals("0", r[0], r[2]);
        assertEquals("{\"ids\":[101,7592,2088,102],\"tokens\":[\"[CLS]\",\"hello\",\"world\",\"[SEP]\"]}\n"
                + "{\"ids\":[101,7592,102],\"tokens\":[\"[CLS]\",\"hello\",\"[SEP]\"]}\n", r[1]);
        r = run("tokenize", "--tokenizer", tok, "--pair", "world", "hello");
        assertTrue(r[1].contains("\"type_ids\":[0,0,0,1,1]"), r[1]);
        r = run("tokenize", "--tokenizer", tok, "--decode", "--skip-special", "101", "7592", "2088", "102");
        assertEquals("{\"text\":\"hello world\"}\n", r[1]);
        r = run("tokenize", "--tokenizer", TokenizerFixtures.dir().resolve("missing.json").toString(), "x");
        assertEquals("2", r[0]);
        assertTrue(r[2].contains("missing.json"), r[2]);
    }
}
