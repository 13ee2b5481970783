package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import io.quarkus.test.junit.QuarkusMock;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.config.HttpClientConfig;
import io.restassured.config.RestAssuredConfig;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** {@code POST /generate} with {@code Accept: text/event-stream}: the job's life as Server-Sent Events. */
@QuarkusTest
class GenerateStreamTest {

    static final ObjectMapper JSON = new ObjectMapper();

    record Event(String name, JsonNode data) {
    }

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    /** The events of a finished stream, in order (each "event:" line, then its one "data:" line). */
    static List<Event> events(Response r) throws Exception {
        List<Event> out = new ArrayList<>();
        String name = null;
        for (String line : r.asString().split("\n")) {
            if (line.startsWith("event:")) {
                name = line.substring(6).trim();
            } else if (line.startsWith("data:")) {
                out.add(new Event(name, JSON.readTree(line.substring(5).trim())));
                name = null;
            }
        }
        return out;
    }

    static Response stream(String body) {
        return given().contentType(ContentType.JSON).accept("text/event-stream").body(body).when().post("/generate");
    }

    @Test
    void aStreamTellsQueuedThenEveryStepThenEachCandidateThenTheResultOfThePlainCall() throws Exception {
        String body = "{\"prompt\": \"two green triangles\", \"n\": 3, \"steps\": 6, \"seed\": 321, \"return_candidates\": true}";
        Response r = stream(body);
        assertEquals(200, r.statusCode());
        assertTrue(r.contentType().startsWith("text/event-stream"), r.contentType());
        List<Event> events = events(r);
        assertEquals("queued", events.get(0).name());
        assertTrue(events.get(0).data().get("position").asInt() >= 0);
        List<Integer> steps = events.stream().filter(e -> e.name().equals("progress"))
                .map(e -> e.data().get("step").asInt()).toList();
        assertEquals(List.of(1, 2, 3, 4, 5, 6), steps, "one progress event per step, in order");
        assertTrue(events.stream().filter(e -> e.name().equals("progress"))
                .allMatch(e -> e.data().get("steps").asInt() == 6 && e.data().get("alive").asInt() == 3));
        List<Event> candidates = events.stream().filter(e -> e.name().equals("candidate")).toList();
        assertEquals(3, candidates.size());
        Event last = events.get(events.size() - 1);
        assertEquals("result", last.name());
        assertEquals(events.size() - 1, events.indexOf(candidates.get(2)) + 1, "the result comes last, after the candidates");

        JsonNode plain = JSON.readTree(given().contentType(ContentType.JSON).body(body).when().post("/generate").asString());
        JsonNode streamed = last.data();
        assertEquals(plain.get("image"), streamed.get("image"), "the same image, byte for byte, as the plain call");
        assertEquals(plain.get("candidates"), streamed.get("candidates"));
        assertEquals(plain.get("scores"), streamed.get("scores"));
        for (Event c : candidates) {
            assertEquals(plain.get("candidates").get(c.data().get("index").asInt()), c.data());
        }
    }

    @Test
    void aPrunedStreamTellsThePrunedCandidatesWhenTheyArePrunedAndFewerAliveAfterwards() throws Exception {
        List<Event> events = events(stream("{\"prompt\": \"a red circle to the left of a blue square\", \"n\": 4, "
                + "\"steps\": 8, \"seed\": 15, \"prune\": {\"at\": 0.5, \"keep\": 1}}"));
        List<String> names = events.stream().map(Event::name).toList();
        int firstPruned = names.indexOf("candidate");
        assertEquals("pruned", events.get(firstPruned).data().get("verdict").asText());
        assertTrue(events.get(firstPruned).data().get("scores").has("preview"));
        assertEquals(3, events.stream().filter(e -> e.name().equals("candidate")
                && e.data().get("verdict").asText().equals("pruned")).count());
        List<Event> progress = events.stream().filter(e -> e.name().equals("progress")).toList();
        assertEquals(4, progress.get(3).data().get("alive").asInt(), "all 4 alive through step 4");
        assertEquals(1, progress.get(4).data().get("alive").asInt(), "one alive after the prune");
        assertTrue(names.lastIndexOf("progress") > firstPruned, "pruned candidates are told before denoising ends");
        assertEquals("result", names.get(names.size() - 1));
    }

    @Test
    void aJobThatFailsEndsTheStreamWithItsProblemDocumentAsAnErrorEvent() throws Exception {
        List<Event> events = events(stream("{\"prompt\": \"a red circle\", \"n\": 2, \"steps\": 100, \"deadline_ms\": 1}"));
        Event last = events.get(events.size() - 1);
        assertEquals("error", last.name());
        assertEquals(504, last.data().get("status").asInt());
        assertEquals("https://winnow.dev/problems/deadline-exceeded", last.data().get("type").asText());
    }

    @Test
    void aResultThatCannotBeShapedStillEndsTheStreamWithAnErrorEvent() throws Exception {
        // whatever fails while the result is turned into its event (here: holding it for feedback)
        QuarkusMock.installMockForType(new Feedback() {
            @Override
            public String publish(GenerationRequest job, GenerationResult r, Map<Integer, byte[]> shownImages) {
                throw new IllegalStateException("simulated: the result cannot be shaped");
            }
        }, Feedback.class);
        Response r = given().config(RestAssuredConfig.config().httpClient(HttpClientConfig.httpClientConfig()
                        .setParam("http.socket.timeout", 30_000))) // a stream left open fails here, not never
                .contentType(ContentType.JSON).accept("text/event-stream")
                .body("{\"prompt\": \"a red circle\", \"n\": 1, \"steps\": 2, \"seed\": 7}").when().post("/generate");
        List<Event> events = events(r);
        Event last = events.get(events.size() - 1);
        assertEquals("error", last.name(), "the stream ends with an error event: " + events);
        assertEquals(500, last.data().get("status").asInt());
        assertEquals("https://winnow.dev/problems/internal-error", last.data().get("type").asText());
        assertEquals(0, events.stream().filter(e -> e.name().equals("result")).count());
    }

    @Test
    void badInputIsAPlainProblemBeforeAnyStreamStarts() {
        stream("{\"prompt\": \"x\", \"n\": 0}").then().statusCode(400)
                .contentType("application/problem+json")
                .body("field", org.hamcrest.Matchers.equalTo("n"));
    }
}
