package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Held candidates are let go when their retention passes, by a timer: no other request has to come. */
@QuarkusTest
@TestProfile(FeedbackExpiryTest.ShortRetention.class)
class FeedbackExpiryTest {

    public static class ShortRetention implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.feedback.dir", "target/feedback-expiry-" + ProcessHandle.current().pid(),
                    "winnow.feedback.retention", "3s");
        }
    }

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void heldImagesAreFreedWhenTheirRetentionPassesWithoutAnotherRequest() throws Exception {
        assertTrue(FeedbackTest.safe(FeedbackTest.generate(900)).size() >= 2, "a generation with a pick to wait for");
        assertTrue(FeedbackTest.heldBytes() > 0, "its safe candidates' PNGs are held");
        long until = System.currentTimeMillis() + 10_000;
        while (FeedbackTest.heldBytes() > 0 && System.currentTimeMillis() < until) {
            Thread.sleep(200); // only /q/metrics is asked meanwhile: it touches no generation
        }
        assertEquals(0, FeedbackTest.heldBytes(), "let go by the timer, soon after the retention");
    }
}
