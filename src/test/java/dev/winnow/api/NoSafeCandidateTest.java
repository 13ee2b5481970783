package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.hasSize;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** With a threshold no image can pass, the service answers 422 and never an image: no preview either. */
@QuarkusTest
@TestProfile(NoSafeCandidateTest.StrictSafety.class)
class NoSafeCandidateTest {

    public static class StrictSafety implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.judges.safety.threshold", "1e-12");
        }
    }

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void noSafeCandidateIs422WithEveryVerdictAndNoImage() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\", \"n\": 3, \"seed\": 1}")
                .when().post("/generate")
                .then().statusCode(422)
                .contentType("application/problem+json")
                .body("type", equalTo("https://winnow.dev/problems/no-safe-candidate"))
                .body("candidates", hasSize(3))
                .body("candidates.verdict", everyItem(equalTo("unsafe")))
                .body("image", equalTo(null));
    }

    @Test
    void askingForPngStillGetsTheProblemNotAnImage() {
        given().contentType(ContentType.JSON).accept("image/png, application/problem+json")
                .body("{\"prompt\": \"a red circle\", \"n\": 1}")
                .when().post("/generate")
                .then().statusCode(422);
    }

    @Test
    void aStreamWhereNothingIsSafeSendsNoPictureAtAllAndEndsWithOpenAisStreamError() throws Exception {
        Response r = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a red circle\", \"best_of\": 3, \"stream\": true, \"partial_images\": 3}")
                .when().post("/v1/images/generations");
        assertEquals(200, r.statusCode());
        List<GenerateStreamTest.Event> events = GenerateStreamTest.events(r);
        assertEquals(1, events.size(), "no partial image, no completed one: " + events);
        GenerateStreamTest.Event error = events.get(0);
        assertEquals("error", error.name());
        assertEquals("no_safe_candidate", error.data().get("error").get("code").asText());
        assertEquals("invalid_request_error", error.data().get("error").get("type").asText());
        assertFalse(r.asString().contains("b64_json"));
    }

    @Test
    void generatesPreviewsAreAllWithheldWhenNothingIsSafe() throws Exception {
        Response r = given().contentType(ContentType.JSON).accept("text/event-stream")
                .body("{\"prompt\": \"a red circle\", \"n\": 2, \"steps\": 8, \"previews\": 3}")
                .when().post("/generate");
        List<GenerateStreamTest.Event> previews = GenerateStreamTest.events(r).stream()
                .filter(e -> e.name().equals("preview")).toList();
        assertEquals(3, previews.size());
        for (GenerateStreamTest.Event p : previews) {
            assertTrue(p.data().has("withheld") && !p.data().has("png_base64"), p.data().toString());
        }
        assertFalse(r.asString().contains("png_base64"), "no pixel left the service");
    }
}
