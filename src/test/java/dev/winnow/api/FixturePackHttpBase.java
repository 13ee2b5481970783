package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;

import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A fixture pack with a real SD export's interface (src/test/fixture-packs, made by
 * models/tools/make_fixture_packs.py) generates through HTTP. The fixtures' images are
 * meaningless, so the NSFW judge's verdict on them is too: the profiles raise its threshold
 * to 1.0 (nothing reaches it) to test the pipeline's path, not the judge.
 */
abstract class FixturePackHttpBase {

    abstract static class Pack implements QuarkusTestProfile {
        abstract String name();

        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.pipeline.path", "src/test/fixture-packs/" + name(),
                    "winnow.judges.safety.threshold", "1.0",
                    "winnow.limits.min-side", "128");
        }
    }

    /** The pack this test class's profile serves (named once, in the profile). */
    String pack() {
        try {
            return ((Pack) getClass().getAnnotation(TestProfile.class).value().getDeclaredConstructor().newInstance()).name();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    abstract String scheduler();

    abstract double guidance();

    @Test
    void generatesThroughHttpAtAnySupportedSize() {
        ServiceReady.await();
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a red circle\", \"n\": 2, \"steps\": 2, \"width\": 128, \"height\": 192, "
                        + "\"scheduler\": \"" + scheduler() + "\", \"guidance_scale\": " + guidance() + "}")
                .when().post("/generate")
                .then().statusCode(200)
                .body("model", equalTo(pack()))
                .body("image.width", equalTo(128))
                .body("image.height", equalTo(192));
    }

    /** A real SD UNet fails inside the graph at sides that are not multiples of 64: refused before admission. */
    @Test
    void sizesTheUnetCannotTakeAreRefusedNamingTheField() {
        ServiceReady.await();
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"width\": 136}")
                .when().post("/generate")
                .then().statusCode(400).contentType("application/problem+json")
                .body("field", equalTo("width"))
                .body("detail", containsString("multiple of 64"));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"height\": 200}")
                .when().post("/generate")
                .then().statusCode(400).body("field", equalTo("height"));
    }

    @Test
    void sizesThatAreNotMultiplesOfEightAreRefused() {
        ServiceReady.await();
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"width\": 130}")
                .when().post("/generate")
                .then().statusCode(400).body("field", equalTo("width"));
    }
}
