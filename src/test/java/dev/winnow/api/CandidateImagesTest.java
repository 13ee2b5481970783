package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.util.Base64;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code return_candidate_images}: every safe candidate's PNG comes back, an unsafe one's never,
 * streaming or not. A strict safety threshold makes this request's candidates a mix of both.
 */
@QuarkusTest
@TestProfile(CandidateImagesTest.MixedVerdicts.class)
class CandidateImagesTest {

    /** Seed 500 at 10 steps: two of the eight candidates score above 0.0015 unsafe, six below. */
    public static class MixedVerdicts implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.judges.safety.threshold", "0.0015");
        }
    }

    static final String BODY = "{\"prompt\": \"two green triangles\", \"n\": 8, \"seed\": 500, \"steps\": 10, "
            + "\"return_candidate_images\": true}";
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void safeCandidatesCarryTheirPngAndUnsafeOnesNever() throws Exception {
        JsonNode r = JSON.readTree(given().contentType(ContentType.JSON).body(BODY).when().post("/generate")
                .then().statusCode(200).extract().asString());
        assertImagesOnlyForSafeCandidates(r);
    }

    @Test
    void theStreamsResultFollowsTheSameRule() throws Exception {
        String stream = given().contentType(ContentType.JSON).accept("text/event-stream").body(BODY)
                .when().post("/generate").asString();
        String result = null;
        boolean isResult = false;
        for (String line : stream.split("\n")) {
            if (line.startsWith("event:")) {
                isResult = line.contains("result");
            } else if (line.startsWith("data:") && isResult) {
                result = line.substring(5).trim();
            } else if (line.startsWith("data:")) {
                assertFalse(line.contains("png_base64"), "no event but the result carries pixels: " + line);
            }
        }
        assertImagesOnlyForSafeCandidates(JSON.readTree(result));
    }

    private static void assertImagesOnlyForSafeCandidates(JsonNode r) throws Exception {
        int safe = 0;
        int unsafe = 0;
        for (JsonNode c : r.get("candidates")) {
            if (c.get("verdict").asText().equals("safe")) {
                safe++;
                byte[] png = Base64.getDecoder().decode(c.get("png_base64").asText());
                BufferedImage img = ImageIO.read(new ByteArrayInputStream(png));
                assertEquals(64, img.getWidth());
                if (c.get("index").asInt() == r.get("image").get("index").asInt()) {
                    assertArrayEquals(Base64.getDecoder().decode(r.get("image").get("png_base64").asText()), png,
                            "the chosen candidate's PNG is the image");
                }
            } else {
                unsafe++;
                assertFalse(c.has("png_base64"), "an unsafe candidate's pixels never leave: " + c);
            }
        }
        assertTrue(safe >= 2 && unsafe >= 1, "the request mixes verdicts (safe " + safe + ", unsafe " + unsafe + ")");
    }
}
