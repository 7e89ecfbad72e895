package cola.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer.Form;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** Reads Hugging Face's {@code tokenizer.json}; every problem is a {@link TokenizerFormatException} naming file and field. */
final class TokenizerJson {
    private static final ObjectMapper MAPPER = cola.json.StrictJson.MAPPER;

    private final String where;

    private TokenizerJson(String where) {
        this.where = where;
    }

    static Tokenizer load(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        return parse(bytes, file.toString());
    }

    static Tokenizer parse(byte[] json, String where) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new TokenizerFormatException(where + ": malformed JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new TokenizerFormatException(where + ": unreadable: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) throw new TokenizerFormatException(where + ": not a JSON object");
        return new TokenizerJson(where).build(root);
    }

    private TokenizerFormatException bad(String field, String what) {
        return new TokenizerFormatException(where + ": " + field + ": " + what);
    }

    private JsonNode req(JsonNode n, String name, String field) {
        JsonNode v = n.get(name);
        if (v == null || v.isNull()) throw bad(field, "missing");
        return v;
    }

    private String str(JsonNode n, String name, String field) {
        JsonNode v = req(n, name, field);
        if (!v.isTextual()) throw bad(field, "expected a string, got " + v.getNodeType());
        return v.asText();
    }

    private static String optStr(JsonNode n, String name) {
        JsonNode v = n.get(name);
        return v == null || v.isNull() ? null : v.asText();
    }

    private static boolean optBool(JsonNode n, String name, boolean dflt) {
        JsonNode v = n.get(name);
        return v == null || v.isNull() ? dflt : v.asBoolean(dflt);
    }

    private Tokenizer build(JsonNode root) {
        JsonNode modelNode = req(root, "model", "model");
        Model model = model(modelNode);
        List<HfTokenizer.AddedToken> added = new ArrayList<>();
        JsonNode at = root.get("added_tokens");
        if (at != null && !at.isNull()) {
            if (!at.isArray()) throw bad("added_tokens", "expected an array");
            for (int i = 0; i < at.size(); i++) {
                JsonNode t = at.get(i);
                String f = "added_tokens[" + i + "]";
                JsonNode id = req(t, "id", f + ".id");
                if (!id.canConvertToInt() || id.asInt() < 0) throw bad(f + ".id", "not a non-negative integer");
                added.add(new HfTokenizer.AddedToken(str(t, "content", f + ".content"), id.asInt(),
                        optBool(t, "special", false), optBool(t, "single_word", false), optBool(t, "lstrip", false),
                        optBool(t, "rstrip", false), optBool(t, "normalized", !optBool(t, "special", false))));
            }
        }
        Normalizers.Normalizer normalizer = normalizer(root.get("normalizer"), "normalizer");
        PreTokenizers.PreTokenizer pre = preTokenizer(root.get("pre_tokenizer"), "pre_tokenizer");
        Map<String, Integer> ids = new HashMap<>(model.vocab());
        for (HfTokenizer.AddedToken t : added) ids.put(t.content(), t.id());
        PostProcessor post = postProcessor(root.get("post_processor"), "post_processor", ids);
        Decoders.Decoder decoder = decoder(root.get("decoder"), "decoder");
        String padToken = null;
        int padId = 0;
        JsonNode padding = root.get("padding");
        if (padding != null && padding.isObject()) {
            padToken = optStr(padding, "pad_token");
            padId = padding.path("pad_id").asInt(0);
        }
        if (padToken == null) {
            for (String cand : new String[] {"[PAD]", "<pad>", "<|endoftext|>", "</s>"}) {
                if (ids.containsKey(cand)) {
                    padToken = cand;
                    padId = ids.get(cand);
                    break;
                }
            }
        }
        if (padToken == null) padToken = "";
        return new HfTokenizer(normalizer, pre, model, post, decoder, added, padToken, padId);
    }

    private Map<String, Integer> vocabMap(JsonNode m) {
        JsonNode v = req(m, "vocab", "model.vocab");
        if (!v.isObject()) throw bad("model.vocab", "expected an object of token -> id");
        Map<String, Integer> vocab = new HashMap<>(v.size() * 2);
        var it = v.fields();
        while (it.hasNext()) {
            var e = it.next();
            if (!e.getValue().canConvertToInt()) throw bad("model.vocab['" + e.getKey() + "']", "not an integer id");
            vocab.put(e.getKey(), e.getValue().asInt());
        }
        if (vocab.isEmpty()) throw bad("model.vocab", "empty");
        return vocab;
    }

    private Model model(JsonNode m) {
        String type = optStr(m, "type");
        if (type == null) {
            // Older files omit the type: guess from the fields.
            type = m.has("merges") ? "BPE" : m.has("continuing_subword_prefix") || m.has("max_input_chars_per_word")
                    ? "WordPiece" : null;
            if (type == null) throw bad("model.type", "missing");
        }
        switch (type) {
            case "WordPiece": {
                Map<String, Integer> vocab = vocabMap(m);
                String unk = optStr(m, "unk_token");
                return new WordPiece(vocab, unk == null ? "[UNK]" : unk,
                        optStr(m, "continuing_subword_prefix") == null ? "##" : optStr(m, "continuing_subword_prefix"),
                        m.path("max_input_chars_per_word").asInt(100), where);
            }
            case "BPE": {
                Map<String, Integer> vocab = vocabMap(m);
                JsonNode mg = req(m, "merges", "model.merges");
                if (!mg.isArray()) throw bad("model.merges", "expected an array");
                List<String[]> merges = new ArrayList<>(mg.size());
                for (int i = 0; i < mg.size(); i++) {
                    JsonNode e = mg.get(i);
                    if (e.isTextual()) {
                        String s = e.asText();
                        int sp = s.indexOf(' ');
                        if (sp <= 0 || sp == s.length() - 1 || s.indexOf(' ', sp + 1) >= 0) {
                            throw bad("model.merges[" + i + "]", "'" + s + "' is not two tokens separated by one space");
                        }
                        merges.add(new String[] {s.substring(0, sp), s.substring(sp + 1)});
                    } else if (e.isArray() && e.size() == 2 && e.get(0).isTextual() && e.get(1).isTextual()) {
                        merges.add(new String[] {e.get(0).asText(), e.get(1).asText()});
                    } else {
                        throw bad("model.merges[" + i + "]", "expected \"a b\" or [\"a\", \"b\"]");
                    }
                }
                if (m.has("dropout") && !m.get("dropout").isNull() && m.get("dropout").asDouble() > 0) {
                    throw bad("model.dropout", "BPE dropout is not supported");
                }
                return new Bpe(vocab, merges, optStr(m, "unk_token"), optBool(m, "byte_fallback", false),
                        optBool(m, "fuse_unk", false), optBool(m, "ignore_merges", false),
                        optStr(m, "continuing_subword_prefix"), optStr(m, "end_of_word_suffix"), where);
            }
            default:
                throw bad("model.type", "unsupported model type '" + type + "' (cola reads WordPiece and BPE)");
        }
    }

    private Pattern pattern(JsonNode p, String field) {
        if (p == null || !p.isObject()) throw bad(field, "expected {\"String\": ...} or {\"Regex\": ...}");
        if (p.has("String")) return Pattern.compile(Pattern.quote(p.get("String").asText()));
        if (p.has("Regex")) {
            try {
                return Pattern.compile(p.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
            } catch (java.util.regex.PatternSyntaxException e) {
                throw bad(field + ".Regex", "not a valid regex: " + e.getDescription());
            }
        }
        throw bad(field, "expected {\"String\": ...} or {\"Regex\": ...}");
    }

    private Normalizers.Normalizer normalizer(JsonNode n, String field) {
        if (n == null || n.isNull()) return null;
        String type = str(n, "type", field + ".type");
        switch (type) {
            case "BertNormalizer": {
                boolean lower = optBool(n, "lowercase", true);
                JsonNode sa = n.get("strip_accents");
                boolean strip = sa == null || sa.isNull() ? lower : sa.asBoolean();
                return new Normalizers.Bert(optBool(n, "clean_text", true), optBool(n, "handle_chinese_chars", true),
                        strip, lower);
            }
            case "Sequence": {
                JsonNode arr = req(n, "normalizers", field + ".normalizers");
                List<Normalizers.Normalizer> parts = new ArrayList<>();
                for (int i = 0; i < arr.size(); i++) {
                    Normalizers.Normalizer p = normalizer(arr.get(i), field + ".normalizers[" + i + "]");
                    if (p != null) parts.add(p);
                }
                return new Normalizers.Sequence(parts);
            }
            case "Prepend":
                return new Normalizers.Prepend(str(n, "prepend", field + ".prepend"));
            case "Replace":
                return new Normalizers.Replace(pattern(n.get("pattern"), field + ".pattern"),
                        str(n, "content", field + ".content"));
            case "NFD":
                return new Normalizers.Unicode(Form.NFD);
            case "NFC":
                return new Normalizers.Unicode(Form.NFC);
            case "NFKD":
                return new Normalizers.Unicode(Form.NFKD);
            case "NFKC":
                return new Normalizers.Unicode(Form.NFKC);
            case "Lowercase":
                return new Normalizers.Lowercase();
            case "StripAccents":
                return new Normalizers.StripAccents();
            case "Strip":
                return new Normalizers.Strip(optBool(n, "strip_left", true), optBool(n, "strip_right", true));
            default:
                throw bad(field + ".type", "unsupported normalizer '" + type + "'");
        }
    }

    private PreTokenizers.PreTokenizer preTokenizer(JsonNode n, String field) {
        if (n == null || n.isNull()) return null;
        String type = str(n, "type", field + ".type");
        switch (type) {
            case "BertPreTokenizer":
                return new PreTokenizers.Bert();
            case "Whitespace":
                return new PreTokenizers.Whitespace();
            case "WhitespaceSplit":
                return new PreTokenizers.WhitespaceSplit();
            case "ByteLevel":
                return new PreTokenizers.ByteLevel(optBool(n, "add_prefix_space", true), optBool(n, "use_regex", true));
            case "Metaspace": {
                String rep = str(n, "replacement", field + ".replacement");
                if (rep.length() != 1) throw bad(field + ".replacement", "expected one character");
                String scheme = optStr(n, "prepend_scheme");
                if (scheme == null) scheme = optBool(n, "add_prefix_space", true) ? "always" : "never";
                return new PreTokenizers.Metaspace(rep.charAt(0), scheme, optBool(n, "split", true));
            }
            case "Split": {
                String behavior = str(n, "behavior", field + ".behavior").toLowerCase(java.util.Locale.ROOT);
                behavior = switch (behavior) {
                    case "mergedwithprevious" -> "merged_with_previous";
                    case "mergedwithnext" -> "merged_with_next";
                    default -> behavior;
                };
                return new PreTokenizers.Split(pattern(n.get("pattern"), field + ".pattern"), behavior,
                        optBool(n, "invert", false));
            }
            case "Sequence": {
                JsonNode arr = req(n, "pretokenizers", field + ".pretokenizers");
                List<PreTokenizers.PreTokenizer> parts = new ArrayList<>();
                for (int i = 0; i < arr.size(); i++) {
                    PreTokenizers.PreTokenizer p = preTokenizer(arr.get(i), field + ".pretokenizers[" + i + "]");
                    if (p != null) parts.add(p);
                }
                return new PreTokenizers.Sequence(parts);
            }
            default:
                throw bad(field + ".type", "unsupported pre-tokenizer '" + type + "'");
        }
    }

    private int tokenId(Map<String, Integer> ids, String token, String field) {
        Integer id = ids.get(token);
        if (id == null) throw bad(field, "token '" + token + "' is not in the vocabulary");
        return id;
    }

    private PostProcessor postProcessor(JsonNode n, String field, Map<String, Integer> ids) {
        if (n == null || n.isNull()) return null;
        String type = str(n, "type", field + ".type");
        switch (type) {
            case "ByteLevel":
                return null;
            case "BertProcessing":
            case "RobertaProcessing": {
                JsonNode sep = req(n, "sep", field + ".sep");
                JsonNode cls = req(n, "cls", field + ".cls");
                if (!sep.isArray() || sep.size() != 2 || !cls.isArray() || cls.size() != 2) {
                    throw bad(field, "sep and cls must be [token, id]");
                }
                return type.equals("BertProcessing")
                        ? PostProcessor.bert(cls.get(0).asText(), cls.get(1).asInt(), sep.get(0).asText(), sep.get(1).asInt())
                        : PostProcessor.roberta(cls.get(0).asText(), cls.get(1).asInt(), sep.get(0).asText(), sep.get(1).asInt());
            }
            case "TemplateProcessing": {
                Map<String, PostProcessor.Item> specials = new LinkedHashMap<>();
                JsonNode st = n.get("special_tokens");
                if (st != null && st.isObject()) {
                    var it = st.fields();
                    while (it.hasNext()) {
                        var e = it.next();
                        String f = field + ".special_tokens['" + e.getKey() + "']";
                        JsonNode idsNode = req(e.getValue(), "ids", f + ".ids");
                        JsonNode toks = req(e.getValue(), "tokens", f + ".tokens");
                        if (idsNode.size() != toks.size()) throw bad(f, "ids and tokens differ in length");
                        int[] a = new int[idsNode.size()];
                        String[] t = new String[toks.size()];
                        for (int i = 0; i < a.length; i++) {
                            a[i] = idsNode.get(i).asInt();
                            t[i] = toks.get(i).asText();
                        }
                        specials.put(e.getKey(), new PostProcessor.Item(-1, a, t, 0));
                    }
                }
                return new PostProcessor(template(req(n, "single", field + ".single"), field + ".single", specials, ids),
                        template(req(n, "pair", field + ".pair"), field + ".pair", specials, ids));
            }
            case "Sequence": {
                JsonNode arr = req(n, "processors", field + ".processors");
                PostProcessor result = null;
                for (int i = 0; i < arr.size(); i++) {
                    PostProcessor p = postProcessor(arr.get(i), field + ".processors[" + i + "]", ids);
                    if (p != null) {
                        if (result != null) throw bad(field, "more than one template-adding processor");
                        result = p;
                    }
                }
                return result;
            }
            default:
                throw bad(field + ".type", "unsupported post-processor '" + type + "'");
        }
    }

    private List<PostProcessor.Item> template(JsonNode arr, String field, Map<String, PostProcessor.Item> specials,
            Map<String, Integer> ids) {
        if (!arr.isArray()) throw bad(field, "expected an array");
        List<PostProcessor.Item> items = new ArrayList<>();
        for (int i = 0; i < arr.size(); i++) {
            JsonNode it = arr.get(i);
            String f = field + "[" + i + "]";
            if (it.has("SpecialToken")) {
                JsonNode s = it.get("SpecialToken");
                String id = str(s, "id", f + ".SpecialToken.id");
                int type = s.path("type_id").asInt(0);
                PostProcessor.Item sp = specials.get(id);
                if (sp == null) sp = PostProcessor.special(id, tokenId(ids, id, f + ".SpecialToken.id"), 0);
                items.add(new PostProcessor.Item(-1, sp.ids(), sp.tokens(), type));
            } else if (it.has("Sequence")) {
                JsonNode s = it.get("Sequence");
                String id = str(s, "id", f + ".Sequence.id");
                if (!id.equals("A") && !id.equals("B")) throw bad(f + ".Sequence.id", "expected A or B, got " + id);
                items.add(new PostProcessor.Item(id.equals("A") ? 0 : 1, null, null, s.path("type_id").asInt(0)));
            } else {
                throw bad(f, "expected SpecialToken or Sequence");
            }
        }
        return items;
    }

    private Decoders.Decoder decoder(JsonNode n, String field) {
        if (n == null || n.isNull()) return null;
        String type = str(n, "type", field + ".type");
        switch (type) {
            case "ByteLevel":
                return new Decoders.ByteLevel();
            case "WordPiece":
                return new Decoders.WordPiece(optStr(n, "prefix") == null ? "##" : optStr(n, "prefix"),
                        optBool(n, "cleanup", true));
            case "Replace": {
                JsonNode p = n.get("pattern");
                if (p == null || !p.has("String")) throw bad(field + ".pattern", "only {\"String\": ...} is supported");
                return new Decoders.Replace(p.get("String").asText(), str(n, "content", field + ".content"));
            }
            case "ByteFallback":
                return new Decoders.ByteFallback();
            case "Fuse":
                return new Decoders.Fuse();
            case "Strip": {
                String c = str(n, "content", field + ".content");
                if (c.length() != 1) throw bad(field + ".content", "expected one character");
                return new Decoders.Strip(c.charAt(0), n.path("start").asInt(0), n.path("stop").asInt(0));
            }
            case "Metaspace": {
                String rep = str(n, "replacement", field + ".replacement");
                String scheme = optStr(n, "prepend_scheme");
                if (scheme == null) scheme = optBool(n, "add_prefix_space", true) ? "always" : "never";
                return new Decoders.Metaspace(rep.charAt(0), scheme);
            }
            case "Sequence": {
                JsonNode arr = req(n, "decoders", field + ".decoders");
                List<Decoders.Decoder> parts = new ArrayList<>();
                for (int i = 0; i < arr.size(); i++) {
                    Decoders.Decoder d = decoder(arr.get(i), field + ".decoders[" + i + "]");
                    if (d != null) parts.add(d);
                }
                return new Decoders.Sequence(parts);
            }
            default:
                throw bad(field + ".type", "unsupported decoder '" + type + "'");
        }
    }
}
