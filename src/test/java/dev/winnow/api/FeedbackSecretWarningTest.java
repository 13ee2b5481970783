package dev.winnow.api;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Feedback on without winnow.feedback.secret is a startup warning: its ids verify on no other replica. */
class FeedbackSecretWarningTest {

    @Test
    void aMissingOrEmptySecretIsWarnedAboutAndNamesTheFix() {
        for (Optional<String> secret : java.util.List.of(Optional.<String>empty(), Optional.of(""))) {
            String warning = Feedback.secretWarning(secret);
            assertTrue(warning != null && warning.contains("winnow.feedback.secret") && warning.contains("another replica")
                    && warning.contains("WINNOW_FEEDBACK_SECRET"), String.valueOf(warning));
        }
    }

    @Test
    void aSetSecretIsNot() {
        assertNull(Feedback.secretWarning(Optional.of("one key for every replica")));
    }
}
