package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.not;
import static org.hamcrest.Matchers.containsString;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Every refusal path of the prompt policy through HTTP, and its reload. */
@QuarkusTest
@TestProfile(PromptPolicyHttpTest.OwnPolicy.class)
class PromptPolicyHttpTest {

    static final Path FILE = Path.of("target/policy-test-" + ProcessHandle.current().pid() + ".yaml");
    static final String POLICY = "rules:\n  - id: example-rule\n    category: sexual\n    terms: [\"zorblax\", \"quimple frob\"]\n";

    public static class OwnPolicy implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                Files.createDirectories(FILE.getParent());
                Files.writeString(FILE, POLICY);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return Map.of("winnow.policy.path", FILE.toString(), "winnow.policy.reload-interval", "100ms");
        }
    }

    @BeforeEach
    void ready() throws Exception {
        ServiceReady.await();
        if (!Files.readString(FILE).equals(POLICY)) {
            Files.writeString(FILE, POLICY);
            awaitMetric("winnow_policy_rules", 1.0);
        }
    }

    static double metric(String series) {
        for (String line : given().get("/q/metrics").asString().split("\n")) {
            if (line.startsWith(series + " ") || line.startsWith(series + "{")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return Double.NaN;
    }

    static void awaitMetric(String series, double value) throws InterruptedException {
        long until = System.currentTimeMillis() + 10_000;
        while (metric(series) != value && System.currentTimeMillis() < until) {
            Thread.sleep(50);
        }
        assertEquals(value, metric(series), series);
    }

    @Test
    void aRefusedPromptIsA422NamingTheRuleNotTheTextAndIsCounted() {
        double before = metric("winnow_rejected_total{reason=\"policy\"}");
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a Z0RB1AX on a table\"}").when().post("/generate")
                .then().statusCode(422).contentType("application/problem+json")
                .body("type", equalTo("https://winnow.dev/problems/prompt-refused"))
                .body("rule", equalTo("example-rule"))
                .body(not(containsString("Z0RB1AX")));
        given().contentType(ContentType.JSON).accept("text/event-stream").body("{\"prompt\": \"z o r b l a x\"}")
                .when().post("/generate").then().statusCode(422).body("rule", equalTo("example-rule"));
        assertEquals(before + 2, metric("winnow_rejected_total{reason=\"policy\"}"));
    }

    @Test
    void thePolicyReadsWhatTheModelReadsWhateverTheEncodingOfTheRequest() {
        List<Object> plainIds = given().contentType(ContentType.JSON).body(Map.of("prompt", "a zorblax")).when()
                .post("/tokenize").then().statusCode(200).extract().jsonPath().getList("input_ids");
        for (String disguised : List.of("a &#122;orblax", "a zor\u0007blax", "a zor\u001b[1mblax", "a &amp;#x7a;orblax")) {
            given().contentType(ContentType.JSON).body(Map.of("prompt", disguised)).when().post("/tokenize")
                    .then().statusCode(200).body("input_ids", equalTo(plainIds)); // the model reads the same ids...
            given().contentType(ContentType.JSON).body(Map.of("prompt", disguised, "n", 1, "steps", 2)).when()
                    .post("/generate").then().statusCode(422).body("rule", equalTo("example-rule")); // ...so it is refused
            given().contentType(ContentType.JSON).body(Map.of("prompt", disguised)).when()
                    .post("/v1/images/generations").then().statusCode(422)
                    .body("error.code", equalTo("content_policy_violation"));
        }
    }

    @Test
    void theOpenAiRouteRefusesWithContentPolicyViolation() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"two quimple frobs\"}").when()
                .post("/v1/images/generations").then().statusCode(422)
                .body("error.code", equalTo("content_policy_violation"))
                .body("error.param", equalTo("prompt"));
    }

    @Test
    void theNegativePromptAndNearMissesAreNeverRefused() {
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a red circle\", \"negative_prompt\": \"zorblax\", \"n\": 1, \"steps\": 2, \"seed\": 7}")
                .when().post("/generate").then().statusCode(200);
        given().contentType(ContentType.JSON).body("{\"prompt\": \"zorblaxian red circle\", \"n\": 1, \"steps\": 2, \"seed\": 7}")
                .when().post("/generate").then().statusCode(200);
    }

    @Test
    void theFileReloadsWhenItChangesAndABrokenOneKeepsTheLastGoodPolicy() throws Exception {
        Files.writeString(FILE, "rules:\n  - id: other\n    category: test\n    terms: [\"blue square\"]\n  - id: two\n    terms: [\"x y z q\"]\n");
        awaitMetric("winnow_policy_rules", 2.0);
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a blue square\"}").when().post("/generate")
                .then().statusCode(422).body("rule", equalTo("other"));
        double failures = metric("winnow_policy_reload_failures_total");
        Files.writeString(FILE, "rules: [\n");
        long until = System.currentTimeMillis() + 10_000;
        while (metric("winnow_policy_reload_failures_total") == failures && System.currentTimeMillis() < until) {
            Thread.sleep(50);
        }
        assertTrue(metric("winnow_policy_reload_failures_total") > failures, "the broken file is counted");
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a blue square\"}").when().post("/generate")
                .then().statusCode(422).body("rule", equalTo("other")); // the last good policy stays
    }
}
