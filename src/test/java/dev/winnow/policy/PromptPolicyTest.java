package dev.winnow.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Each evasion the policy undoes, and the near-misses it must let through. */
class PromptPolicyTest {

    static final PromptPolicy POLICY = new PromptPolicy(List.of(
            new PromptPolicy.Rule("example-rule", "sexual", List.of("zorblax", "quimple frob"))));

    static Optional<PromptPolicy.Match> check(String prompt) {
        return POLICY.check(prompt);
    }

    @ParameterizedTest(name = "\"{0}\" is refused")
    @ValueSource(strings = {
        "a zorblax on a table",            // plain
        "ZORBLAX", "Zorblax!",             // case, punctuation
        "two zorblaxes", "many zorblaxs",  // plural endings
        "a ｚｏｒｂｌａｘ",                     // full-width (NFKC)
        "a zor\u200bblax", "a zorb\u00adlax", "zor\u2060blax", "z\u200dorblax", // zero-width, soft hyphen, joiners
        "a zörblàx", "a zo\u0301rblax",    // combining marks, precomposed and not
        "a z\u043erblax",                  // Cyrillic о
        "a zοrblax",                       // Greek ο
        "a zorbıax",                       // dotless ı for l
        "a Z0RBL4X", "z0rb1ax", "z0rbl@x", "zorb1@x", "7he zorblax", // digit and symbol substitutions
        "z o r b l a x", "z.o.r.b.l.a.x", "z-o-r-b-l-a-x", "z_o_r_b_l_a_x", // spelled out
        "Z 0 R B 1 4 X",                   // spelled out with digits
        "a quimple frob", "two quimple frobs", "a QUIMPLE  fr0b", // phrases
        "q u i m p l e f r o b", "q.u.i.m.p.l.e f.r.o.b", // a phrase spelled out
    })
    void evasionsAreUndone(String prompt) {
        assertEquals(Optional.of(new PromptPolicy.Match("example-rule", "sexual")), check(prompt), prompt);
    }

    @ParameterizedTest(name = "\"{0}\" is let through")
    @ValueSource(strings = {
        "a red circle to the left of a blue square",
        "zorblaxian architecture",         // the term inside a longer word
        "antizorblax", "zorblaxed",
        "a quimple", "frob quimple",       // half a phrase, or the words the other way round
        "quimple and frob",
        "Scunthorpe",
    })
    void nearMissesAreNotRefused(String prompt) {
        assertEquals(Optional.empty(), check(prompt), prompt);
    }

    @Test
    void aPolicyFileIsReadAndItsMistakesAreNamed(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("policy.yaml");
        Files.writeString(file, """
                rules:
                  - id: example-rule
                    category: sexual
                    terms: ["zorblax", "quimple frob"]
                """);
        assertEquals("example-rule", PromptPolicy.read(file).check("ZORBLAX").orElseThrow().ruleId());
        Files.writeString(file, "rules:\n  - id: a\n    terms: []\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PromptPolicy.read(file)).getMessage()
                .contains("(a) needs a non-empty list of terms"));
        Files.writeString(file, "rules: [\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PromptPolicy.read(file)).getMessage()
                .contains("not valid YAML"));
    }
}
