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

    public record Split(String source, Template template, List<Example> examples, int skipped) {}

    /**
     * The seven templates of REFERENCE.md §1 (MeZO's templates.py). A candidate is appended with a space unless the
     * prompt ends in whitespace (the newline-terminated templates append the word directly, as MeZO's verbalizers do).
     */
    public enum Template {
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

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** Builds one example from a JSONL object (fields missing or mistyped: IllegalArgumentException naming them). */
        public Example example(JsonNode n) {
            String p = prompt(n);
            JsonNode v = n.get("label");
            if (v == null) throw new IllegalArgumentException("missing field 'label'");
            int gold = label(v);
            String sep = p.isEmpty() || Character.isWhitespace(p.charAt(p.length() - 1)) ? "" : " ";
            return new Example(p, words.stream().map(w -> sep + w).toList(), gold);
        }
    }

    private PromptData() {}

    public static Split read(Path file, Template template, boolean skipBadLines) throws IOException {
        Jsonl.Read<Example> r = Jsonl.read(file, skipBadLines, template::example);
        return new Split(r.source(), template, r.records(), r.skipped());
    }

    /** The same data with another example list (sampling). */
    public static Split withExamples(Split s, List<Example> examples) {
        return new Split(s.source(), s.template(), List.copyOf(examples), s.skipped());
    }
}
