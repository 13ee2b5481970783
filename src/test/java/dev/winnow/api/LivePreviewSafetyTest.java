package dev.winnow.api;

import static dev.winnow.api.GenerateStreamTest.events;
import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.api.GenerateStreamTest.Event;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.SafetyVerdict;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.testing.Determinism;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Live previews under a safety threshold that mixes verdicts ({@link CandidateImagesTest.MixedVerdicts}):
 * every picture in a stream, partial or final, on {@code /v1/images/generations} and on
 * {@code /generate}, is decoded from its base64 and judged again by the same safety judge at the
 * same threshold; none may be unsafe, and each final image must be one of the safe candidates'.
 */
@QuarkusTest
@TestProfile(CandidateImagesTest.MixedVerdicts.class)
class LivePreviewSafetyTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final double THRESHOLD = 0.0015; // the profile's
    static final String PROMPT = "two green triangles";
    static final long SEED = 500;

    static OnnxSessions sessions;
    static SafetyJudge judge;

    @BeforeAll
    static void loadTheSameJudge() {
        sessions = OnnxSessions.create(DeviceChoice.CPU, 1, 0);
        judge = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, THRESHOLD);
    }

    @AfterAll
    static void close() {
        judge.close();
    }

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    static RgbImage decode(String base64) {
        return Determinism.decode(Base64.getDecoder().decode(base64));
    }

    /** The safe candidates' pixels of the same job (candidates depend only on seed and settings), and the verdicts. */
    static Map<String, Object> candidates(int n, int steps) throws Exception {
        JsonNode r = JSON.readTree(given().contentType(ContentType.JSON).body("{\"prompt\": \"" + PROMPT + "\", \"n\": " + n
                + ", \"steps\": " + steps + ", \"seed\": " + SEED + ", \"return_candidate_images\": true}")
                .when().post("/generate").then().statusCode(200).extract().asString());
        List<byte[]> safe = new ArrayList<>();
        int unsafe = 0;
        for (JsonNode c : r.get("candidates")) {
            if (c.get("verdict").asText().equals("safe")) {
                safe.add(decode(c.get("png_base64").asText()).rgb());
            } else {
                unsafe++;
            }
        }
        return Map.of("safe", safe, "unsafe", unsafe);
    }

    private static void assertJudgedSafe(String base64, String what) throws Exception {
        SafetyVerdict v = judge.judge(List.of(decode(base64))).get(0);
        assertTrue(v.isSafe(), what + " was sent, yet the safety judge calls it " + v);
    }

    @Test
    void anOpenAiStreamCarriesOnlyPicturesTheSafetyJudgePassed() throws Exception {
        @SuppressWarnings("unchecked")
        Map<String, Object> same = candidates(8, 20);
        List<byte[]> safe = (List<byte[]>) same.get("safe");
        assertTrue(safe.size() >= 2 && (int) same.get("unsafe") >= 1,
                "the threshold mixes the candidates' verdicts (safe " + safe.size() + ", unsafe " + same.get("unsafe") + ")");

        // as the SDKs send it: Accept: application/json, the body says stream
        Response r = given().contentType(ContentType.JSON).accept(ContentType.JSON)
                .body("{\"prompt\": \"" + PROMPT + "\", \"n\": 2, \"best_of\": 8, \"seed\": " + SEED
                        + ", \"stream\": true, \"partial_images\": 3}")
                .when().post("/v1/images/generations");
        assertEquals(200, r.statusCode(), r.asString());
        assertTrue(r.contentType().startsWith("text/event-stream"), r.contentType());
        List<Event> events = events(r);
        List<Event> partials = events.stream().filter(e -> e.name().equals("image_generation.partial_image")).toList();
        List<Event> completed = events.stream().filter(e -> e.name().equals("image_generation.completed")).toList();
        assertEquals(events.size(), partials.size() + completed.size(), "only OpenAI's two events: " + events);
        assertEquals(2, completed.size(), "one completed event per image (n = 2)");
        assertTrue(!partials.isEmpty() && partials.size() <= 3, partials.size() + " partial images");
        assertEquals(partials, events.subList(0, partials.size()), "the partial images come first");
        for (int i = 0; i < partials.size(); i++) {
            JsonNode p = partials.get(i).data();
            assertEquals("image_generation.partial_image", p.get("type").asText());
            assertEquals(i, p.get("partial_image_index").asInt(), "indices count the partial images sent, from 0");
            for (String field : new String[] {"b64_json", "created_at", "size", "quality", "background", "output_format"}) {
                assertNotNull(p.get(field), field + " in " + p);
            }
            assertEquals("64x64", p.get("size").asText());
            assertEquals("png", p.get("output_format").asText());
            assertJudgedSafe(p.get("b64_json").asText(), "partial image " + i);
        }
        for (Event e : completed) {
            JsonNode c = e.data();
            assertEquals("image_generation.completed", c.get("type").asText());
            assertTrue(c.get("usage").get("input_tokens").asInt() > 0, "usage: " + c.get("usage"));
            assertJudgedSafe(c.get("b64_json").asText(), "a completed image");
            byte[] pixels = decode(c.get("b64_json").asText()).rgb();
            assertTrue(safe.stream().anyMatch(s -> Arrays.equals(s, pixels)), "a completed image is a safe candidate's");
        }
        assertFalse(Arrays.equals(decode(completed.get(0).data().get("b64_json").asText()).rgb(),
                decode(completed.get(1).data().get("b64_json").asText()).rgb()), "two different candidates");
    }

    @Test
    void generatesEventStreamTellsEachLivePreviewSentOrWithheldAndSendsOnlyJudgedSafePixels() throws Exception {
        Response r = given().contentType(ContentType.JSON).accept("text/event-stream")
                .body("{\"prompt\": \"" + PROMPT + "\", \"n\": 8, \"steps\": 10, \"seed\": " + SEED
                        + ", \"previews\": 3, \"return_candidates\": true}")
                .when().post("/generate");
        assertEquals(200, r.statusCode(), r.asString());
        List<Event> events = events(r);
        List<Event> previews = events.stream().filter(e -> e.name().equals("preview")).toList();
        assertEquals(List.of(3, 5, 8), previews.stream().map(e -> e.data().get("step").asInt()).toList(),
                "three previews at evenly spread steps of 10");
        int sent = 0;
        for (Event p : previews) {
            JsonNode d = p.data();
            if (d.has("png_base64")) {
                assertEquals(sent++, d.get("index").asInt());
                assertTrue(d.get("candidate").asInt() >= 0 && d.get("candidate").asInt() < 8);
                assertEquals(SEED + d.get("candidate").asInt(), d.get("seed").asLong());
                assertJudgedSafe(d.get("png_base64").asText(), "the preview at step " + d.get("step"));
            } else {
                assertTrue(d.get("withheld").asText().length() > 0, "a withheld preview says why: " + d);
            }
        }
        Event last = events.get(events.size() - 1);
        assertEquals("result", last.name());
        assertTrue(events.indexOf(previews.get(previews.size() - 1)) < events.size() - 1, "previews come before the result");
        assertTrue(last.data().get("timings_ms").has("stream_preview"), "the previews' cost: " + last.data().get("timings_ms"));
        for (Event e : events) {
            if (!e.name().equals("result") && !e.name().equals("preview")) {
                assertFalse(e.data().toString().contains("png_base64"), "no other event carries pixels: " + e);
            }
        }
        String metrics = given().get("/q/metrics").asString();
        assertTrue(metrics.contains("winnow_stage_seconds_count{stage=\"stream_preview\"}"), "the stream_preview stage is measured");
    }

    @Test
    void previewsAreForTheEventStreamOnlyAndAtMostThree() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"n\": 1, \"previews\": 2}")
                .when().post("/generate").then().statusCode(400).contentType("application/problem+json")
                .body("field", org.hamcrest.Matchers.equalTo("previews"));
        given().contentType(ContentType.JSON).accept("text/event-stream").body("{\"prompt\": \"x\", \"n\": 1, \"previews\": 4}")
                .when().post("/generate").then().statusCode(400).contentType("application/problem+json")
                .body("field", org.hamcrest.Matchers.equalTo("previews"));
    }
}
