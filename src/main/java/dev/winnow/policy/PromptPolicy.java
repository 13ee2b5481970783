package dev.winnow.policy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.winnow.tokenizer.ClipTextCleaner;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A prompt policy: rules of words and phrases a prompt may not contain. The policy reads what the
 * model reads: the prompt is first cleaned exactly as the tokenizer cleans it
 * ({@link ClipTextCleaner}: HTML entities undone twice, control characters, escape sequences and
 * U+FFFC deleted, widths and ligatures unified), so a prompt whose cleaned text contains a refused
 * term is refused whatever the encoding of the request; characters the cleaning deletes are gone,
 * not word breaks ({@code "zor\u0007blax"} is {@code "zorblax"}). Then a term matches a whole
 * word or phrase of the cleaned prompt after {@link PromptNormalizer} (so disguised spellings
 * match too), with a plain English plural ending (s, es) on its last word; a term inside a longer
 * word does not match ("Scunthorpe" is not refused for what it contains). Immutable.
 */
public final class PromptPolicy {

    /** One rule: its id (for logs and metrics, never the matched text), an operator's grouping, its terms. */
    public record Rule(String id, String category, List<String> terms) {
    }

    /** Why a prompt was refused. */
    public record Match(String ruleId, String category) {
    }

    private record Term(Rule rule, List<String> words) {
    }

    private final List<Rule> rules;
    private final List<Term> terms = new ArrayList<>();

    public PromptPolicy(List<Rule> rules) {
        this.rules = List.copyOf(rules);
        for (Rule r : rules) {
            for (String t : r.terms()) {
                List<String> words = words(t);
                if (!words.isEmpty()) {
                    terms.add(new Term(r, words));
                }
                if (words.size() > 1) {
                    // spelled out letter by letter, a phrase's letters join into one word: "q u i m p l e f r o b"
                    terms.add(new Term(r, List.of(String.join("", words))));
                }
            }
        }
    }

    /** A policy that refuses nothing. */
    public static PromptPolicy empty() {
        return new PromptPolicy(List.of());
    }

    public List<Rule> rules() {
        return rules;
    }

    /** The first rule the prompt breaks, if any. */
    public Optional<Match> check(String prompt) {
        if (terms.isEmpty()) {
            return Optional.empty();
        }
        List<String> words = words(prompt);
        for (Term t : terms) {
            if (contains(words, t.words())) {
                return Optional.of(new Match(t.rule().id(), t.rule().category()));
            }
        }
        return Optional.empty();
    }

    /** A text as the policy reads it: cleaned as the tokenizer cleans it, then normalised. Terms read the same way. */
    static List<String> words(String text) {
        return PromptNormalizer.words(ClipTextCleaner.clean(text));
    }

    private static boolean contains(List<String> words, List<String> term) {
        int n = term.size();
        for (int i = 0; i + n <= words.size(); i++) {
            boolean all = true;
            for (int k = 0; k < n && all; k++) {
                String w = words.get(i + k);
                String t = term.get(k);
                all = w.equals(t) || (k == n - 1 && (w.equals(t + "s") || w.equals(t + "es")));
            }
            if (all) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reads a policy file: {@code rules:} a list of {@code {id, category, terms}}.
     *
     * @throws IOException              when it cannot be read
     * @throws IllegalArgumentException naming what is wrong in it (the caller keeps the last good policy)
     */
    public static PromptPolicy read(Path file) throws IOException {
        return parse(Files.readString(file), file.toString());
    }

    /**
     * A policy from the text of a policy file ({@code source} names it in messages).
     *
     * @throws IllegalArgumentException naming what is wrong in it
     */
    public static PromptPolicy parse(String yaml, String source) {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(yaml);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(source + " is not valid YAML: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.path("rules").isArray()) {
            throw new IllegalArgumentException(source + " must hold a list under 'rules'");
        }
        List<Rule> rules = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        int i = 0;
        for (JsonNode r : root.get("rules")) {
            String where = source + ": rules[" + i++ + "]";
            String id = r.path("id").asText("");
            if (id.isBlank() || !ids.add(id)) {
                throw new IllegalArgumentException(where + " needs an id of its own");
            }
            if (!r.path("terms").isArray() || r.get("terms").isEmpty()) {
                throw new IllegalArgumentException(where + " (" + id + ") needs a non-empty list of terms");
            }
            List<String> terms = new ArrayList<>();
            for (JsonNode t : r.get("terms")) {
                if (!t.isTextual() || words(t.asText()).isEmpty()) {
                    throw new IllegalArgumentException(where + " (" + id + ") has a term that is not a word: " + t);
                }
                terms.add(t.asText());
            }
            rules.add(new Rule(id, r.path("category").asText(""), terms));
        }
        return new PromptPolicy(rules);
    }
}
