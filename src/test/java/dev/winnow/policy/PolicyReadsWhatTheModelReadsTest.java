package dev.winnow.policy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.tokenizer.ClipTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Properties of the policy, checked over generated cases: a refused term written in any encoding
 * that the tokenizer's cleaning undoes (HTML entities named, decimal, hex or double-encoded;
 * control characters and terminal escape sequences, which the cleaning deletes; full-width forms
 * and ligatures) or that the policy's own normalisation undoes (invisible characters, NFKC letter
 * forms) is refused, in every carrier sentence; benign prompts disguised the same way pass.
 *
 * <p>Every evasion class meets every term and carrier ({@link #SEEDS} random disguises each, from
 * a fixed seed so a failure is reproducible; {@code -Dwinnow.test.policy-seed=N} explores others).
 */
class PolicyReadsWhatTheModelReadsTest {

    static final PromptPolicy POLICY = new PromptPolicy(List.of(
            new PromptPolicy.Rule("example-rule", "sexual", List.of("zorblax", "quimple frob", "snaffle"))));
    static final List<String> TERMS = List.of("zorblax", "quimple frob", "snaffle");
    static final List<String> CARRIERS = List.of("{}", "a {}", "a photo of {} on a table", "{} next to a red circle",
            "draw {}, detailed", "two {}s", "<b>{}</b>", "line one\n{}", "\"{}\"");
    static final List<String> BENIGN = List.of(
            "a red circle to the left of a blue square", "three triangles on a gray background",
            "a green square and a yellow circle", "a large purple triangle above an orange circle",
            "zorblaxian architecture", "antizorblax", "zorblaxed", "a quimple", "frob quimple", "quimple and frob",
            "snafflebit", "Scunthorpe", "a class of assassins", "Sussex cottage", "a cocktail of grapes");
    static final int SEEDS = 3;

    static ClipTokenizer tokenizer;

    @BeforeAll
    static void loadTheEmbeddedPacksTokenizer() {
        tokenizer = ClipTokenizer.load(Path.of("models/shapes-scenes/tokenizer"), 77, ClipTokenizer.END_TOKEN);
    }

    static Random random(Object... parts) {
        long base = Long.getLong("winnow.test.policy-seed", 17L);
        return new Random(base * 31 + List.of(parts).hashCode());
    }

    /** (evasion, disguised prompt): every class × term × carrier, {@link #SEEDS} disguises each. */
    static Stream<Arguments> disguisedTerms() {
        List<Arguments> cases = new ArrayList<>();
        for (Disguise.Evasion evasion : Disguise.Evasion.values()) {
            for (String term : TERMS) {
                for (String carrier : CARRIERS) {
                    for (int s = 0; s < SEEDS; s++) {
                        String disguised = Disguise.of(term, evasion, random(evasion, term, carrier, s));
                        cases.add(Arguments.of(evasion, carrier.replace("{}", disguised)));
                    }
                }
            }
        }
        return cases.stream();
    }

    /** (evasion, plain prompt, disguised prompt) for the classes the tokenizer undoes. */
    static Stream<Arguments> undoneByTheTokenizer() {
        List<Arguments> cases = new ArrayList<>();
        for (Disguise.Evasion evasion : Disguise.Evasion.values()) {
            if (!evasion.undoneByTheTokenizer()) {
                continue; // invisible characters and math letters reach the model changed: the policy is stricter there
            }
            for (String text : Stream.concat(TERMS.stream(), BENIGN.stream()).toList()) {
                for (int s = 0; s < SEEDS; s++) {
                    cases.add(Arguments.of(evasion, "a " + text + " on a table",
                            "a " + Disguise.of(text, evasion, random(evasion, text, s)) + " on a table"));
                }
            }
        }
        return cases.stream();
    }

    /** (evasion, disguised benign prompt). */
    static Stream<Arguments> disguisedBenignPrompts() {
        List<Arguments> cases = new ArrayList<>();
        for (Disguise.Evasion evasion : Disguise.Evasion.values()) {
            for (String text : BENIGN) {
                for (int s = 0; s < SEEDS; s++) {
                    cases.add(Arguments.of(evasion, Disguise.of(text, evasion, random("benign", evasion, text, s))));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("disguisedTerms")
    void aTermInAnyEncodingTheCleaningOrTheNormalisationUndoesIsRefused(Disguise.Evasion evasion, String prompt) {
        assertEquals(Optional.of(new PromptPolicy.Match("example-rule", "sexual")), POLICY.check(prompt),
                () -> evasion + ": " + Disguise.visible(prompt));
    }

    @ParameterizedTest(name = "{0}: {2}")
    @MethodSource("undoneByTheTokenizer")
    void whatTheTokenizerUndoesGivesTheModelThePlainTextsIds(Disguise.Evasion evasion, String plain, String disguised) {
        assertArrayEquals(tokenizer.encodeUnpadded(plain), tokenizer.encodeUnpadded(disguised),
                () -> evasion + ": " + Disguise.visible(disguised));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("disguisedBenignPrompts")
    void benignPromptsDisguisedTheSameWayPass(Disguise.Evasion evasion, String prompt) {
        assertTrue(POLICY.check(prompt).isEmpty(), () -> evasion + " refused a benign prompt: " + Disguise.visible(prompt));
    }

    @Test
    void everyClassChangesTheTextItDisguises() {
        for (Disguise.Evasion evasion : Disguise.Evasion.values()) {
            String text = evasion == Disguise.Evasion.LIGATURES ? "snaffle" : "zorblax";
            for (int s = 0; s < 20; s++) {
                String d = Disguise.of(text, evasion, random("changes", evasion, s));
                assertTrue(!d.equalsIgnoreCase(text), () -> evasion + " left the text as it was: " + d);
            }
        }
    }

    @Test
    void theReportedBypassesAreRefused() {
        assertTrue(POLICY.check("a &#122;orblax").isPresent());
        assertTrue(POLICY.check("a zor\u0007blax").isPresent());
        assertTrue(POLICY.check("a zor\u001b[31mblax").isPresent());
        assertTrue(POLICY.check("a zor&amp;#98;lax").isPresent());
        assertTrue(POLICY.check("a zor\ufffcblax").isPresent());
    }
}
