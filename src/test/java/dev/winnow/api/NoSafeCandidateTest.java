package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.hasSize;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** With a threshold no image can pass, the service answers 422 and never an image. */
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
}
