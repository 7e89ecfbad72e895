package cola.data;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Prompted classification for causal LMs, MeZO's protocol (which the COLA paper follows): each example becomes a
 * prompt from its task's template, every candidate answer is appended in turn, and the model's score of a candidate is
 * the mean log-probability of the candidate's tokens (see {@link cola.train.CandidateLoss}). No demonstrations.
 *
 * <p>Input is JSONL with each dataset's usual field names (Hugging Face {@code glue}/{@code super_glue}; SuperGLUE's
 * original JSONL also works: string labels such as "entailment", boolean labels, and WSC's nested "target" spans).
 */
public final class PromptData {
    /** One prompted example: the prompt, the continuation of each candidate (leading space included), the gold index. */
    public record Example(String prompt, List<String> candidates, int gold) {}

    public record Split(String source, Format template, List<Example> examples, int skipped) {}

    /** A prompt format: one of the paper's {@link Template}s or a user's {@link Custom} template. */
    public interface Format {
        /** The task's name for messages ("rte", or "custom"). */
        String cliName();

        /** The verbalizer: candidate word of label i. */
        List<String> words();

        /** Builds one example from a JSONL object (fields missing or mistyped: IllegalArgumentException naming them). */
        Example example(JsonNode n);
    }

    /**
     * A user's template: {@code {field}} placeholders filled from each JSONL object (any string or number field), the
     * candidates given as words, {@code "label"} an index into them (or a boolean for two candidates). E.g. for
     * SpamAssassin with a causal LM: {@code "{text}\nIs this message spam? Yes or No?\n"} with candidates No, Yes.
     */
    public record Custom(String template, List<String> words) implements Format {
        private static final java.util.regex.Pattern FIELD = java.util.regex.Pattern.compile("\\{([A-Za-z0-9_]+)\\}");

        public Custom {
            if (template == null || template.isEmpty()) throw new IllegalArgumentException("--template is empty");
            if (!FIELD.matcher(template).find()) {
                throw new IllegalArgumentException("--template '" + template + "' names no {field} of the data");
            }
            if (words == null || words.size() < 2) throw new IllegalArgumentException("--candidates needs at least two words, got " + words);
            words = List.copyOf(words);
        }

        @Override
        public String cliName() {
            return "custom";
        }

        @Override
        public Example example(JsonNode n) {
            java.util.regex.Matcher m = FIELD.matcher(template);
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                JsonNode v = n.get(m.group(1));
                if (v == null || !(v.isTextual() || v.isNumber())) {
                    throw new IllegalArgumentException("missing string field '" + m.group(1) + "' (named by --template)");
                }
                m.appendReplacement(sb, java.util.regex.Matcher.quoteReplacement(v.asText()));
            }
            m.appendTail(sb);
            JsonNode v = n.get("label");
            if (v == null) throw new IllegalArgumentException("missing field 'label'");
            int gold;
            if (v.isBoolean() && words.size() == 2) gold = v.asBoolean() ? 1 : 0;
            else if (v.isIntegralNumber() && v.asInt() >= 0 && v.asInt() < words.size()) gold = v.asInt();
            else throw new IllegalArgumentException("'label' must be an integer in [0, " + words.size() + "), got " + v);
            return withCandidates(sb.toString(), words, gold);
        }
    }

    /** Appends each word with a space unless the prompt ends in whitespace (MeZO's verbalizers). */
    static Example withCandidates(String prompt, List<String> words, int gold) {
        String sep = prompt.isEmpty() || Character.isWhitespace(prompt.charAt(prompt.length() - 1)) ? "" : " ";
        return new Example(prompt, words.stream().map(w -> sep + w).toList(), gold);
    }

    /**
     * The seven templates of REFERENCE.md §1 (MeZO's templates.py). A candidate is appended with a space unless the
     * prompt ends in whitespace (the newline-terminated templates append the word directly, as MeZO's verbalizers do).
     */
    public enum Template implements Format {
        SST2("sentence", "terrible", "great") {
            @Override
            String prompt(JsonNode n) {
                return Jsonl.string(n, "sentence").strip() + " It was";
            }
        },
        RTE("premise, hypothesis", "Yes", "No") {
            @Override
            String prompt(JsonNode n) {
                return Jsonl.string(n, "premise") + "\nDoes this mean that \"" + Jsonl.string(n, "hypothesis")
                        + "\" is true? Yes or No?\n";
            }

            @Override
            int label(JsonNode v) {
                if (v.isTextual() && v.asText().equals("entailment")) return 0;
                if (v.isTextual() && v.asText().equals("not_entailment")) return 1;
                return super.label(v);
            }
        },
        CB("premise, hypothesis", "Yes", "No", "Maybe") {
            @Override
            String prompt(JsonNode n) {
                return "Suppose " + Jsonl.string(n, "premise") + " Can we infer that \"" + Jsonl.string(n, "hypothesis")
                        + "\"? Yes, No, or Maybe?\n";
            }

            @Override
            int label(JsonNode v) {
                if (v.isTextual()) {
                    switch (v.asText()) {
                        case "entailment": return 0;
                        case "contradiction": return 1;
                        case "neutral": return 2;
                        default: break;
                    }
                }
                return super.label(v);
            }
        },
        BOOLQ("passage, question", "No", "Yes") {
            @Override
            String prompt(JsonNode n) {
                String q = Jsonl.string(n, "question").strip();
                if (!q.endsWith("?")) q = q + "?";
                q = q.isEmpty() ? q : Character.toUpperCase(q.charAt(0)) + q.substring(1);
                return Jsonl.string(n, "passage") + " " + q + "\n";
            }
        },
        WIC("word, sentence1, sentence2", "No", "Yes") {
            @Override
            String prompt(JsonNode n) {
                return "Does the word \"" + Jsonl.string(n, "word") + "\" have the same meaning in these two sentences?"
                        + " Yes, No?\n" + Jsonl.string(n, "sentence1") + "\n" + Jsonl.string(n, "sentence2") + "\n";
            }
        },
        WSC("text, span1_text, span2_text", "No", "Yes") {
            @Override
            String prompt(JsonNode n) {
                return Jsonl.string(n, "text") + "\nIn the previous sentence, does the pronoun \""
                        + Jsonl.string(n, "span2_text", "target").toLowerCase(Locale.ROOT) + "\" refer to "
                        + Jsonl.string(n, "span1_text", "target") + "? Yes or No?\n";
            }
        },
        MULTIRC("paragraph, question, answer", "No", "Yes") {
            @Override
            String prompt(JsonNode n) {
                return Jsonl.string(n, "paragraph") + "\nQuestion: " + Jsonl.string(n, "question") + "\nI found this answer \""
                        + Jsonl.string(n, "answer") + "\". Is that correct? Yes or No?\n";
            }
        };

        /** The fields the template reads (for error messages and --help). */
        public final String fields;
        /** The verbalizer: candidate word of label i. */
        public final List<String> words;

        Template(String fields, String... words) {
            this.fields = fields;
            this.words = List.of(words);
        }

        abstract String prompt(JsonNode n);

        /** Label index: an integer 0..C-1 or a boolean (true = 1); tasks with string labels override. */
        int label(JsonNode v) {
            if (v.isBoolean()) return v.asBoolean() ? 1 : 0;
            if (v.isIntegralNumber() && v.asInt() >= 0 && v.asInt() < words.size()) return v.asInt();
            throw new IllegalArgumentException("'label' must be an integer in [0, " + words.size() + ")"
                    + (words.size() == 2 ? " or a boolean" : "") + ", got " + v);
        }

        /** The task of a CLI name: sst2, rte, cb, boolq, wic, wsc, multirc (case-insensitive, '-' ignored). */
        public static Template of(String name) {
            String k = name.toLowerCase(Locale.ROOT).replace("-", "");
            for (Template t : values()) if (t.name().toLowerCase(Locale.ROOT).equals(k)) return t;
            throw new IllegalArgumentException("unknown prompted task '" + name + "'; expected one of sst2, rte, cb, boolq,"
                    + " wic, wsc, multirc");
        }

        @Override
        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        @Override
        public List<String> words() {
            return words;
        }

        @Override
        public Example example(JsonNode n) {
            String p = prompt(n);
            JsonNode v = n.get("label");
            if (v == null) throw new IllegalArgumentException("missing field 'label'");
            return withCandidates(p, words, label(v));
        }
    }

    private PromptData() {}

    public static Split read(Path file, Format template, boolean skipBadLines) throws IOException {
        Jsonl.Read<Example> r = Jsonl.read(file, skipBadLines, template::example);
        return new Split(r.source(), template, r.records(), r.skipped());
    }

    /** The same data with another example list (sampling). */
    public static Split withExamples(Split s, List<Example> examples) {
        return new Split(s.source(), s.template(), List.copyOf(examples), s.skipped());
    }
}
