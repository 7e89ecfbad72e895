package cola.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** GPT-2's {@code vocab.json} + {@code merges.txt} and BERT's {@code vocab.txt}, with their usual pipelines. */
final class LegacyLoaders {
    private LegacyLoaders() {}

    static Tokenizer gpt2(Path vocabJson, Path mergesTxt) throws IOException {
        JsonNode root;
        try {
            root = cola.json.StrictJson.MAPPER.readTree(Files.readAllBytes(vocabJson));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new TokenizerFormatException(vocabJson + ": malformed JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) throw new TokenizerFormatException(vocabJson + ": expected an object of token -> id");
        Map<String, Integer> vocab = new HashMap<>(root.size() * 2);
        var it = root.fields();
        while (it.hasNext()) {
            var e = it.next();
            if (!e.getValue().canConvertToInt()) {
                throw new TokenizerFormatException(vocabJson + ": ['" + e.getKey() + "']: not an integer id");
            }
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        List<String[]> merges = new ArrayList<>();
        List<String> lines = Files.readAllLines(mergesTxt, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if ((i == 0 && line.startsWith("#version")) || line.isBlank()) continue;
            String[] p = line.split(" ");
            if (p.length != 2) {
                throw new TokenizerFormatException(mergesTxt + ": line " + (i + 1) + ": '" + line + "' is not two tokens");
            }
            merges.add(p);
        }
        Bpe bpe = new Bpe(vocab, merges, null, false, false, false, null, null, vocabJson + " + " + mergesTxt);
        List<HfTokenizer.AddedToken> added = new ArrayList<>();
        Integer eot = vocab.get("<|endoftext|>");
        if (eot != null) added.add(new HfTokenizer.AddedToken("<|endoftext|>", eot, true, false, false, false, false));
        return new HfTokenizer(null, new PreTokenizers.ByteLevel(false, true), bpe, null, new Decoders.ByteLevel(),
                added, eot == null ? "" : "<|endoftext|>", eot == null ? 0 : eot);
    }

    static Tokenizer bert(Path vocabTxt, boolean lowercase) throws IOException {
        List<String> lines = Files.readAllLines(vocabTxt, StandardCharsets.UTF_8);
        Map<String, Integer> vocab = new HashMap<>(lines.size() * 2);
        for (int i = 0; i < lines.size(); i++) {
            String t = lines.get(i).strip();
            if (!t.isEmpty()) vocab.putIfAbsent(t, i);
        }
        String where = vocabTxt.toString();
        for (String need : new String[] {"[UNK]", "[CLS]", "[SEP]"}) {
            if (!vocab.containsKey(need)) throw new TokenizerFormatException(where + ": vocabulary lacks " + need);
        }
        WordPiece wp = new WordPiece(vocab, "[UNK]", "##", 100, where);
        List<HfTokenizer.AddedToken> added = new ArrayList<>();
        for (String s : new String[] {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
            Integer id = vocab.get(s);
            if (id != null) added.add(new HfTokenizer.AddedToken(s, id, true, false, false, false, false));
        }
        PostProcessor post = PostProcessor.bert("[CLS]", vocab.get("[CLS]"), "[SEP]", vocab.get("[SEP]"));
        Integer pad = vocab.get("[PAD]");
        return new HfTokenizer(new Normalizers.Bert(true, true, lowercase, lowercase), new PreTokenizers.Bert(), wp,
                post, new Decoders.WordPiece("##", true), added, pad == null ? "" : "[PAD]", pad == null ? 0 : pad);
    }
}
