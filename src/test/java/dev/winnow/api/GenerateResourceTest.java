package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.everyItem;
import static org.hamcrest.Matchers.hasSize;
import static org.hamcrest.Matchers.isOneOf;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.testing.Determinism;
import dev.winnow.testing.DominantColours;
import dev.winnow.testing.SceneReading;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.Base64;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@QuarkusTest
class GenerateResourceTest {

    static final String RED_CIRCLE = "{\"prompt\": \"a red circle on a white background\", \"n\": 4, \"seed\": 100}";

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void aRedCircleOnWhiteComesBackRedOnWhite() throws Exception {
        String b64 = given().contentType(ContentType.JSON).body(RED_CIRCLE)
                .when().post("/generate")
                .then().statusCode(200)
                .body("model", equalTo("shapes-scenes"))
                .body("image.width", equalTo(64))
                .body("image.seed", equalTo(100 + given().contentType(ContentType.JSON).body(RED_CIRCLE)
                        .post("/generate").jsonPath().getInt("image.index")))
                .body("scores.unsafe_probability", notNullValue())
                .body("scores.combined", notNullValue())
                .body("timings_ms.denoise", notNullValue())
                .extract().path("image.png_base64");
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(b64)));
        DominantColours c = DominantColours.of(img);
        assertTrue(c.background().isNear(245, 245, 245, 60), "background should be white, was " + c.background());
        assertTrue(c.foreground().isNear(220, 40, 40, 90), "shape should be red, was " + c.foreground());
    }

    /** The README's compositional example, as a newcomer would send it (best of 8, seed 15). */
    static final String README_EXAMPLE = "{\"prompt\": \"a red circle to the left of a blue square\", \"n\": 8, \"seed\": 15}";

    @Test
    void theReadmeExampleShowsARedCircleLeftOfABlueSquare() throws Exception {
        SceneReading scene = SceneReading.of(ImageIO.read(new ByteArrayInputStream(png(README_EXAMPLE))));
        assertEquals(2, scene.objects().size(), "exactly two objects: " + scene);
        SceneReading.Seen circle = scene.objects().stream().filter(o -> o.shape().equals("circle")).findFirst()
                .orElseThrow(() -> new AssertionError("no circle: " + scene));
        SceneReading.Seen square = scene.objects().stream().filter(o -> o.shape().equals("square")).findFirst()
                .orElseThrow(() -> new AssertionError("no square: " + scene));
        assertEquals("red", circle.colour(), "the circle's colour: " + scene);
        assertEquals("blue", square.colour(), "the square's colour: " + scene);
        assertTrue(SceneReading.leftOf(circle, square), "the circle is left of the square: " + scene);
    }

    @Test
    void theSameRequestGivesTheSameImage() {
        byte[] a = png(RED_CIRCLE);
        byte[] b = png(RED_CIRCLE);
        Determinism.assertSameImage(serviceDevice(), a, b, "the same request twice");
    }

    /** The device the service runs on, as winnow_model_info reports it. */
    static String serviceDevice() {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("winnow_model_info\\{[^}]*device=\"([a-z]+)\"")
                .matcher(given().get("/q/metrics").asString());
        assertTrue(m.find(), "winnow_model_info names the device");
        return m.group(1);
    }

    @Test
    void acceptingPngReturnsTheImageWithScoresInHeaders() throws Exception {
        Response r = given().contentType(ContentType.JSON).accept("image/png").body(RED_CIRCLE)
                .when().post("/generate");
        r.then().statusCode(200).contentType("image/png")
                .header("X-Winnow-Seed", notNullValue())
                .header("X-Winnow-Index", notNullValue())
                .header("X-Winnow-Score", notNullValue());
        long seed = Long.parseLong(r.header("X-Winnow-Seed"));
        int index = Integer.parseInt(r.header("X-Winnow-Index"));
        assertEquals(100 + index, seed);
        byte[] body = r.asByteArray();
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(body));
        assertEquals(64, img.getWidth());
        String text = new String(body, java.nio.charset.StandardCharsets.ISO_8859_1);
        assertTrue(text.contains("parameters\0a red circle on a white background\nSteps: 20, Sampler: DDIM, CFG scale: 5.0, Seed: "
                + seed + ", Size: 64x64, Model: shapes-scenes"), "PNG carries A1111 parameters");
    }

    @Test
    void aPromptPastTheTokenWindowIsReportedTruncatedInTheBodyAndAHeader() {
        String longPrompt = "red circle ".repeat(50);   // 100 words: 102 tokens with start and end
        given().contentType(ContentType.JSON).body("{\"prompt\": \"" + longPrompt + "\", \"n\": 1, \"steps\": 2, \"seed\": 7}")
                .when().post("/generate")
                .then().statusCode(200)
                .header("X-Winnow-Prompt-Truncated", "true")
                .header("X-Winnow-Prompt-Tokens", "102")
                .body("prompt_truncated", equalTo(true))
                .body("prompt_tokens", equalTo(102));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\", \"n\": 1, \"steps\": 2, \"seed\": 7}")
                .when().post("/generate")
                .then().statusCode(200)
                .header("X-Winnow-Prompt-Truncated", "false")
                .body("prompt_truncated", equalTo(false))
                .body("prompt_tokens", equalTo(5));
    }

    @Test
    void aTruncatedPromptIsReportedInAHeaderWithAcceptPng() {
        given().contentType(ContentType.JSON).accept("image/png")
                .body("{\"prompt\": \"" + "blue square ".repeat(40) + "\", \"n\": 1, \"steps\": 2, \"seed\": 7}")
                .when().post("/generate")
                .then().statusCode(200).contentType("image/png")
                .header("X-Winnow-Prompt-Truncated", "true")
                .header("X-Winnow-Prompt-Tokens", "82");
    }

    @Test
    void candidatesAreListedWithVerdictsAndSeedsWhenAsked() {
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a green square\", \"n\": 3, \"seed\": 40, \"return_candidates\": true}")
                .when().post("/generate")
                .then().statusCode(200)
                .body("candidates", hasSize(3))
                .body("candidates.seed", equalTo(java.util.List.of(40, 41, 42)))
                .body("candidates.verdict", everyItem(isOneOf("safe", "unsafe", "safety_error")));
    }

    @Test
    void aPrunedRequestListsThePrunedCandidatesWithTheirPreviewScoresAndCountsThem() {
        double before = prunedCandidates();
        Response r = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"two red circles\", \"n\": 4, \"seed\": 70, \"return_candidates\": true, "
                        + "\"prune\": {\"at\": 0.25, \"keep\": 1}}")
                .when().post("/generate");
        r.then().statusCode(200)
                .body("candidates", hasSize(4))
                .body("candidates.findAll { it.verdict == 'pruned' }", hasSize(3))
                .body("candidates.findAll { it.verdict == 'pruned' }.scores.preview", everyItem(notNullValue()))
                .body("candidates.findAll { it.verdict == 'pruned' }.scores.unsafe_probability", everyItem(equalTo(null)))
                .body("candidates.findAll { it.verdict != 'pruned' }.scores.preview", everyItem(notNullValue()))
                .body("timings_ms.preview", notNullValue());
        int chosen = r.path("image.index");
        assertEquals("safe", r.path("candidates[" + chosen + "].verdict"), "the image is the kept candidate, judged safe");
        assertEquals(before + 3, prunedCandidates(), "winnow_candidates_total{verdict=\"pruned\"} counts each pruned candidate");
    }

    @Test
    void aStagedPruneWithAMarginSaysWhenEachCandidateWasPruned() {
        Response r = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a blue triangle\", \"n\": 6, \"seed\": 90, \"steps\": 10, \"return_candidates\": true, "
                        + "\"prune\": {\"at\": 0.2, \"keep\": 3, \"margin\": 0.0001, \"then\": {\"at\": 0.5, \"keep\": 1}}}")
                .when().post("/generate");
        r.then().statusCode(200)
                .body("candidates", hasSize(6))
                .body("candidates.findAll { it.verdict != 'pruned' }", hasSize(1))
                .body("candidates.findAll { it.verdict != 'pruned' }.pruned_at_step", everyItem(equalTo(null)))
                .body("candidates.findAll { it.verdict == 'pruned' }.pruned_at_step", everyItem(isOneOf(2, 5)))
                .body("candidates.findAll { it.pruned_at_step == 5 }.size()", org.hamcrest.Matchers.greaterThanOrEqualTo(2));
    }

    static double prunedCandidates() {
        for (String line : given().get("/q/metrics").asString().split("\n")) {
            if (line.startsWith("winnow_candidates_total{verdict=\"pruned\"")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }

    @Test
    void candidatesAreLeftOutByDefault() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a green square\", \"n\": 1, \"seed\": 7}")
                .when().post("/generate")
                .then().statusCode(200).body("candidates", equalTo(null));
    }

    @ParameterizedTest(name = "{0} is refused with 400 naming {1}")
    @CsvSource(delimiter = '|', value = {
        "{}|prompt",
        "{\"prompt\": \"   \"}|prompt",
        "{\"prompt\": \"x\", \"n\": 0}|n",
        "{\"prompt\": \"x\", \"n\": 17}|n",
        "{\"prompt\": \"x\", \"n\": \"4\"}|n",
        "{\"prompt\": \"x\", \"n\": 4.5}|n",
        "{\"prompt\": \"x\", \"steps\": 0}|steps",
        "{\"prompt\": \"x\", \"steps\": 101}|steps",
        "{\"prompt\": \"x\", \"scheduler\": \"lcm\", \"steps\": 51}|steps",
        "{\"prompt\": \"x\", \"guidance_scale\": -1}|guidance_scale",
        "{\"prompt\": \"x\", \"guidance_scale\": 31}|guidance_scale",
        "{\"prompt\": \"x\", \"seed\": -1}|seed",
        "{\"prompt\": \"x\", \"seed\": 9007199254740993}|seed",
        "{\"prompt\": \"x\", \"width\": 72}|width",
        "{\"prompt\": \"x\", \"height\": 63}|height",
        "{\"prompt\": \"x\", \"scheduler\": \"karras\"}|scheduler",
        "{\"prompt\": \"x\", \"deadline_ms\": 0}|deadline_ms",
        "{\"prompt\": \"x\", \"deadline_ms\": 999999999}|deadline_ms",
        "{\"prompt\": \"x\", \"ranking_weights\": {\"beauty\": 1}}|ranking_weights",
        "{\"prompt\": \"x\", \"ranking_weights\": {\"aesthetic\": -1}}|ranking_weights",
        "{\"prompt\": \"x\", \"colour\": \"red\"}|colour",
        "{\"prompt\": \"x\", \"return_candidates\": \"yes\"}|return_candidates",
        "{\"prompt\": 42}|prompt",
        "{\"prompt\": true}|prompt",
        "{\"prompt\": 4.5}|prompt",
        "{\"prompt\": \"x\", \"negative_prompt\": 7}|negative_prompt",
        "{\"prompt\": \"x\", \"scheduler\": 1}|scheduler",
        "{\"prompt\": \"x\", \"return_candidates\": 1}|return_candidates",
        "{\"prompt\": \"x\", \"seed\": 1.5}|seed",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"keep\": 4}}|prune.keep",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"keep\": 5}}|prune.keep",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"keep\": 0}}|prune.keep",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"keep\": -1}}|prune.keep",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"keep\": \"2\"}}|prune.keep",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 0, \"keep\": 2}}|prune.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 1, \"keep\": 2}}|prune.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": -0.2}}|prune.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 1.5}}|prune.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 0.3, \"kept\": 2}}|prune.kept",
        "{\"prompt\": \"x\", \"n\": 1, \"prune\": {}}|prune",
        "{\"prompt\": \"x\", \"n\": 4, \"steps\": 1, \"prune\": {\"keep\": 2}}|prune",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": 2}|prune",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"margin\": 1.5}}|prune.margin",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"margin\": -0.1}}|prune.margin",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 0.3, \"then\": {\"keep\": 1}}}|prune.then.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 0.5, \"then\": {\"at\": 0.3}}}|prune.then.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 0.2, \"then\": {\"at\": 0.22}}}|prune.then.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"at\": 0.96, \"then\": {\"at\": 0.99}}}|prune.then.at",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"then\": {\"at\": 0.6, \"keep\": 4}}}|prune.then.keep",
        "{\"prompt\": \"x\", \"n\": 4, \"prune\": {\"then\": {\"at\": 0.6, \"margin\": 2}}}|prune.then.margin",
        "[1, 2]|body",
        "{\"prompt\": \"x\",|body"})
    void badInputIsAProblemNamingTheField(String body, String field) {
        given().contentType(ContentType.JSON).body(body)
                .when().post("/generate")
                .then().statusCode(400)
                .contentType("application/problem+json")
                .body("type", startsWith("https://winnow.dev/problems/"))
                .body("status", equalTo(400))
                .body("field", equalTo(field))
                .body("detail", notNullValue())
                .body(org.hamcrest.Matchers.not(containsString("Exception")));
    }

    @Test
    void anOverLongPromptIsRefused() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"" + "a".repeat(1001) + "\"}")
                .when().post("/generate")
                .then().statusCode(400).body("field", equalTo("prompt"));
    }

    @Test
    void aBodyThatIsNotJsonIs415() {
        given().contentType(ContentType.TEXT).body("a red circle")
                .when().post("/generate")
                .then().statusCode(415).contentType("application/problem+json")
                .body("type", equalTo("https://winnow.dev/problems/unsupported-media-type"));
    }

    @Test
    void anOversizedBodyIs413() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"" + "a".repeat(100_000) + "\"}")
                .when().post("/generate")
                .then().statusCode(413).contentType("application/problem+json")
                .body("type", equalTo("https://winnow.dev/problems/body-too-large"));
    }

    @Test
    void unknownPathsAreProblemsToo() {
        given().when().get("/nowhere").then().statusCode(404).contentType("application/problem+json");
    }

    @Test
    void theApiIsDescribedInOpenApi() {
        given().when().get("/q/openapi?format=json").then().statusCode(200)
                .body("paths.'/generate'.post", notNullValue())
                .body("paths.'/tokenize'.post", notNullValue());
    }

    private static byte[] png(String body) {
        return given().contentType(ContentType.JSON).accept("image/png").body(body)
                .when().post("/generate").then().statusCode(200).extract().asByteArray();
    }
}
