package dev.winnow.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The policy file is read by content, whole, and never in the middle of a write. */
class PolicyFileTest {

    static String policy(String... terms) {
        return "rules:\n  - id: r\n    terms: [" + String.join(", ", terms) + "]\n";
    }

    /** Reads until a changed content has settled (two refreshes), as the watcher does at its interval. */
    static boolean refreshTwice(PolicyFile f) {
        return f.refresh() | f.refresh();
    }

    @Test
    void twoEditsOfTheSameSizeInOneClockTickAreBothSeen(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("policy.yaml");
        Files.writeString(file, policy("aaaaaaa"));
        FileTime tick = Files.getLastModifiedTime(file);
        PolicyFile f = new PolicyFile(file);
        Files.writeString(file, policy("zorblax")); // same length, same modification time
        Files.setLastModifiedTime(file, tick);
        assertTrue(refreshTwice(f), "a changed content is a change, whatever the file's time and size say");
        assertTrue(f.policy().check("a zorblax").isPresent());
        assertFalse(f.policy().check("aaaaaaa").isPresent());
    }

    @Test
    void aHalfWrittenFileIsNeverTakenEvenWhenItParses(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("policy.yaml");
        String whole = "rules:\n  - id: a\n    terms: [zorblax]\n  - id: b\n    terms: [quimple]\n";
        Files.writeString(file, "rules:\n  - id: old\n    terms: [snaffle]\n");
        PolicyFile f = new PolicyFile(file);
        // the writer has written the first rule of the new file (a prefix that parses, with fewer rules)...
        Files.writeString(file, whole.substring(0, whole.indexOf("  - id: b")));
        assertFalse(f.refresh(), "a content seen once may still be being written");
        assertTrue(f.policy().check("a snaffle").isPresent(), "the policy in force stays until the new one settles");
        // ...and finishes before the next look
        Files.writeString(file, whole);
        assertFalse(f.refresh(), "changed again since the last look: still settling");
        assertTrue(f.refresh(), "the same content twice in a row is complete");
        assertTrue(f.policy().check("a quimple").isPresent());
        assertEquals(2, f.policy().rules().size());
    }

    @Test
    void aBrokenFileKeepsTheLastGoodPolicyAndIsCountedOnce(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("policy.yaml");
        Files.writeString(file, policy("zorblax"));
        PolicyFile f = new PolicyFile(file);
        Files.writeString(file, "rules: [\n");
        for (int i = 0; i < 5; i++) {
            f.refresh();
        }
        assertEquals(1, f.reloadFailures());
        assertFalse(f.current());
        assertTrue(f.policy().check("zorblax").isPresent());
        Files.writeString(file, policy("quimple"));
        assertTrue(refreshTwice(f));
        assertTrue(f.current());
    }

    @Test
    void theReportedBypassesAreRefusedThroughAFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("policy.yaml");
        Files.writeString(file, policy("zorblax"));
        PromptPolicy p = new PolicyFile(file).policy();
        assertTrue(p.check("a &#122;orblax").isPresent());
        assertTrue(p.check("a zor\u0007blax").isPresent());
    }
}
