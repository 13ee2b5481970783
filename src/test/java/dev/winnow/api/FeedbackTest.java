package dev.winnow.api;

import dev.winnow.testing.EmbeddedPack;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.feedback.GenerationIds;
import dev.winnow.feedback.ProcessPart;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code POST /feedback}: a pick is written once as imagefolder rows; forged, unknown or repeated ids write nothing. */
@QuarkusTest
@TestProfile(FeedbackTest.Capture.class)
class FeedbackTest {

    static final Path DIR = Path.of("target/feedback-test-" + ProcessHandle.current().pid());
    static final String SECRET = "feedback-test-secret";
    static final ObjectMapper JSON = new ObjectMapper();

    public static class Capture implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.feedback.dir", DIR.toString(), "winnow.feedback.secret", SECRET);
        }
    }

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    /** A generation with every safe candidate's image: its signed id and the safe indices. */
    static JsonNode generate(long seed) throws Exception {
        return JSON.readTree(given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"two green triangles\", \"n\": 4, \"steps\": 8, \"seed\": " + seed
                        + ", \"return_candidate_images\": true}")
                .when().post("/generate").then().statusCode(200).extract().asString());
    }

    static List<Integer> safe(JsonNode r) {
        List<Integer> out = new ArrayList<>();
        r.get("candidates").forEach(c -> {
            if (c.get("verdict").asText().equals("safe")) {
                out.add(c.get("index").asInt());
            }
        });
        return out;
    }

    static io.restassured.response.Response pick(String id, int chosen, List<Integer> shown) {
        return given().contentType(ContentType.JSON)
                .body(Map.of("generation_id", id, "chosen", chosen, "shown", shown)).when().post("/feedback");
    }

    /** This process's part of the folder: the service under test runs in this JVM. */
    static final Path PART = DIR.resolve("parts").resolve(ProcessPart.id());

    static long rows() throws Exception {
        Path meta = PART.resolve("metadata.jsonl");
        return Files.exists(meta) ? Files.readAllLines(meta).size() : 0;
    }

    @Test
    void aPickIsWrittenAsImagefolderRowsOnceAndARepeatIsRefused() throws Exception {
        JsonNode r = generate(900);
        String id = r.get("id").asText();
        assertTrue(id.contains("."), "a signed id: " + id);
        List<Integer> shown = safe(r).subList(0, 2);
        long before = rows();
        pick(id, shown.get(1), shown).then().statusCode(204);
        List<String> lines = Files.readAllLines(PART.resolve("metadata.jsonl"));
        assertEquals(before + 1, lines.size(), "one line per pick");
        JsonNode row = JSON.readTree(lines.get(lines.size() - 1));
        assertEquals(shown.get(1).intValue(), row.get("chosen").asInt());
        assertEquals(List.of(shown.get(0)), JSON.convertValue(row.get("rejected"), List.class));
        assertEquals("two green triangles", row.get("prompt").asText());
        assertEquals(EmbeddedPack.VERSION, row.get("model_version").asText(), "a pick names the version that made what was picked");
        assertEquals("scenes-verifier", row.at("/judges/faithfulness/name").asText());
        assertEquals(8, row.get("settings").get("steps").asInt());
        assertEquals(row.get("shown_files").get(shown.get(1).toString()).asText(), row.get("file_name").asText(),
                "imagefolder's image is the chosen one");
        for (int index : shown) {
            byte[] png = Files.readAllBytes(PART.resolve(row.get("shown_files").get(Integer.toString(index)).asText()));
            assertArrayEquals(Base64.getDecoder().decode(r.get("candidates").get(index).get("png_base64").asText()), png,
                    "the image the person saw");
            assertEquals(900 + index, row.get("seeds").get(Integer.toString(index)).asLong());
            assertTrue(row.get("scores").get(Integer.toString(index)).has("faithfulness"));
        }
        pick(id, shown.get(0), shown).then().statusCode(409).contentType("application/problem+json")
                .body("field", equalTo("generation_id"));
        assertEquals(before + 1, rows(), "a repeated pick writes nothing");
    }

    @Test
    void forgedUnknownAndInvalidPicksAreRefusedAndWriteNothing() throws Exception {
        JsonNode r = generate(901);
        String id = r.get("id").asText();
        List<Integer> shown = safe(r).subList(0, 2);
        long before = rows();
        String forged = id.substring(0, id.lastIndexOf('.') + 1) + "AAAAAAAAAAAAAAAAAAAAAA";
        pick(forged, shown.get(0), shown).then().statusCode(400).body("field", equalTo("generation_id"));
        String unknown = new GenerationIds(SECRET).sign(UUID.randomUUID().toString());
        pick(unknown, 0, List.of(0, 1)).then().statusCode(404).body("field", equalTo("generation_id"));
        pick(id, 99, shown).then().statusCode(400).body("field", equalTo("chosen"));
        pick(id, shown.get(0), List.of(shown.get(0))).then().statusCode(400).body("field", equalTo("shown"));
        assertEquals(before, rows(), "nothing written");
        pick(id, shown.get(0), shown).then().statusCode(204); // the generation still takes its one valid pick
    }

    @Test
    void aPickThatCannotBeWrittenIsA503AndItsRetryIsStoredOnce() throws Exception {
        JsonNode r = generate(902);
        String id = r.get("id").asText();
        List<Integer> shown = safe(r).subList(0, 2);
        Path meta = PART.resolve("metadata.jsonl");
        Path aside = PART.resolve("metadata.jsonl.aside");
        Files.createDirectories(PART);
        if (Files.exists(meta)) {
            Files.move(meta, aside);
        }
        try {
            Files.createDirectories(meta); // the row cannot be appended: as a full disk or an unwritable folder would refuse it
            pick(id, shown.get(0), shown).then().statusCode(503).contentType("application/problem+json")
                    .header("Retry-After", org.hamcrest.Matchers.notNullValue())
                    .body("type", equalTo("https://winnow.dev/problems/feedback-not-stored"));
            assertEquals(1, writeFailures(), "counted in winnow_feedback_write_failures_total");
        } finally {
            Files.delete(meta);
            if (Files.exists(aside)) {
                Files.move(aside, meta);
            }
        }
        long before = rows();
        pick(id, shown.get(0), shown).then().statusCode(204); // the generation still waits for its pick
        assertEquals(before + 1, rows());
        pick(id, shown.get(0), shown).then().statusCode(409);
        assertEquals(before + 1, rows(), "stored once");
    }

    @Test
    void aNullAmongTheShownCandidatesIsA400NamingShown() throws Exception {
        JsonNode r = generate(903);
        List<Integer> shown = new ArrayList<>(safe(r).subList(0, 2));
        shown.add(null);
        pick(r.get("id").asText(), shown.get(0), shown).then().statusCode(400).contentType("application/problem+json")
                .body("field", equalTo("shown"));
    }

    @Test
    void theBytesHeldForPicksAreAGauge() throws Exception {
        JsonNode r = generate(904);
        assertTrue(heldBytes() > 0, "the safe candidates' PNGs are held");
        String id = r.get("id").asText();
        Path held = DIR.resolve(".held").resolve(id.substring(0, id.lastIndexOf('.')));
        assertTrue(Files.exists(held.resolve("generation.json")), "held in the shared folder, where any replica reads it");
        List<Integer> shown = safe(r).subList(0, 2);
        for (int i : safe(r)) {
            assertArrayEquals(Base64.getDecoder().decode(r.get("candidates").get(i).get("png_base64").asText()),
                    Files.readAllBytes(held.resolve(i + ".png")));
        }
        double before = heldBytes();
        pick(id, shown.get(0), shown).then().statusCode(204);
        assertTrue(heldBytes() < before, "a picked generation is let go");
        assertFalse(Files.exists(held), "and its held folder deleted");
    }

    static double heldBytes() {
        return metric("winnow_feedback_held_bytes ");
    }

    static double writeFailures() {
        return metric("winnow_feedback_write_failures_total ");
    }

    static double metric(String prefix) {
        for (String line : given().get("/q/metrics").asString().split("\n")) {
            if (line.startsWith(prefix)) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        throw new AssertionError(prefix.trim() + " is not served");
    }
}
