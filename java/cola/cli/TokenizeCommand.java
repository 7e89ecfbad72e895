package cola.cli;

import cola.tokenizer.Encoding;
import cola.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cola tokenize}: encode texts (one JSON line each) or decode ids with a Hugging Face tokenizer. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Encode each TEXT with a Hugging Face tokenizer and print one JSON line {\"ids\": [...], \"tokens\": [...]}",
                "(pairs add \"type_ids\"). With --decode the arguments are token ids and the decoded text is printed as JSON."})
final class TokenizeCommand implements Callable<Integer> {
    @Option(names = "--tokenizer", required = true, paramLabel = "PATH",
            description = "tokenizer.json, or a folder with tokenizer.json (or vocab.json + merges.txt, or vocab.txt).")
    Path tokenizer;

    @Option(names = "--pair", paramLabel = "TEXT2", description = "Second sequence of a pair (BERT: token type ids 1).")
    String pair;

    @Option(names = "--decode", description = "Treat the arguments as token ids and print the decoded text.")
    boolean decode;

    @Option(names = "--skip-special", description = "With --decode: leave special tokens out.")
    boolean skipSpecial;

    @Parameters(paramLabel = "TEXT", arity = "1..*", description = "Texts to encode (or ids with --decode).")
    List<String> texts;

    @Override
    public Integer call() throws Exception {
        Tokenizer tok = Tokenizer.fromFile(tokenizer);
        ObjectMapper json = new ObjectMapper();
        if (decode) {
            int[] ids = new int[texts.size()];
            for (int i = 0; i < ids.length; i++) {
                try {
                    ids[i] = Integer.parseInt(texts.get(i).replace(",", "").replace("[", "").replace("]", "").strip());
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--decode: '" + texts.get(i) + "' is not a token id");
                }
            }
            System.out.println(json.writeValueAsString(Map.of("text", tok.decode(ids, skipSpecial))));
            return 0;
        }
        for (String t : texts) {
            Encoding e = pair == null ? tok.encode(t) : tok.encode(t, pair);
            ObjectNode o = json.createObjectNode();
            var ids = o.putArray("ids");
            for (int id : e.ids()) ids.add(id);
            var toks = o.putArray("tokens");
            for (String s : e.tokens()) toks.add(s);
            if (pair != null) {
                var types = o.putArray("type_ids");
                for (int ty : e.typeIds()) types.add(ty);
            }
            System.out.println(json.writeValueAsString(o));
        }
        return 0;
    }
}
