package dev.winnow.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Two replicas behind a gateway, tried from outside: the packaged service (target/quarkus-app,
 * built before the tests run) started twice, on two ports, with one shared
 * {@code winnow.feedback.secret} and one shared {@code winnow.feedback.dir} (what the Kubernetes
 * overlay with feedback gives every pod: a Secret and a ReadWriteMany volume). A generation made
 * on one replica takes its pick on the other, once: the same pick on either replica is then a 409,
 * and the dataset read back (by {@code models/tools/feedback_to_pairs.py}'s reader) has one row.
 */
class TwoReplicasFeedbackTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();

    @Test
    void aPickCountsOnTheReplicaItLandsOnAndOnlyOnce() throws Exception {
        Path dir = Files.createDirectories(Path.of("target", "two-replicas-feedback-" + ProcessHandle.current().pid()));
        Map<String, String> config = Map.of(
                "winnow.feedback.dir", dir.toString(),
                "winnow.feedback.secret", "one-secret-for-every-replica",
                "winnow.models.admin-port", "0", // the admin listener's 9400 would collide
                "quarkus.shutdown.delay", "0s");
        CompletableFuture<DrainOnSigtermTest.Service> startingB = CompletableFuture.supplyAsync(() -> start(config));
        try (DrainOnSigtermTest.Service a = start(config); DrainOnSigtermTest.Service b = join(startingB)) {
            JsonNode made = JSON.readTree(expect(200, post(a, "/generate", "{\"prompt\": \"two green triangles\", \"n\": 4, "
                    + "\"steps\": 8, \"seed\": 900, \"return_candidate_images\": true}")).body());
            String id = made.get("id").asText();
            List<Integer> safe = new ArrayList<>();
            made.get("candidates").forEach(c -> {
                if (c.get("verdict").asText().equals("safe")) {
                    safe.add(c.get("index").asInt());
                }
            });
            assertTrue(safe.size() >= 2, "a generation with a pick to make: " + made.get("candidates"));
            String pick = JSON.writeValueAsString(Map.of("generation_id", id, "chosen", safe.get(1), "shown", safe.subList(0, 2)));

            expect(204, post(b, "/feedback", pick)); // the gateway sent the pick to the other replica
            HttpResponse<String> again = expect(409, post(a, "/feedback", pick));
            assertEquals("application/problem+json", again.headers().firstValue("Content-Type").orElse(""));
            assertEquals("generation_id", JSON.readTree(again.body()).path("field").asText());
            expect(409, post(b, "/feedback", pick));

            List<String> rows = rows(dir);
            assertEquals(1, rows.size(), "one row in the whole dataset: " + rows);
            JsonNode row = JSON.readTree(rows.get(0));
            assertEquals(id.substring(0, id.lastIndexOf('.')), row.get("generation_id").asText());
            assertEquals(safe.get(1).intValue(), row.get("chosen").asInt());
            try (Stream<Path> parts = Files.list(dir.resolve("parts"))) {
                List<String> names = parts.map(p -> p.getFileName().toString()).toList();
                assertEquals(1, names.size(), "only the replica that took the pick has a part: " + names);
                assertTrue(names.get(0).endsWith("-" + b.process.pid()), "the part of the replica that took it: " + names);
            }
            assertEquals(1, pythonReaderRows(dir), "feedback_to_pairs.py reads the folder as one dataset of one row");
        }
    }

    static DrainOnSigtermTest.Service start(Map<String, String> config) {
        try {
            return DrainOnSigtermTest.Service.start(config);
        } catch (Exception e) {
            throw new CompletionException(e);
        }
    }

    static DrainOnSigtermTest.Service join(CompletableFuture<DrainOnSigtermTest.Service> starting) throws Exception {
        try {
            return starting.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof Exception x ? x : e;
        }
    }

    static HttpResponse<String> post(DrainOnSigtermTest.Service s, String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port + path))
                        .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> expect(int status, HttpResponse<String> r) {
        assertEquals(status, r.statusCode(), r.request().uri() + ": " + r.body());
        return r;
    }

    /** Every part's rows, read as files. */
    static List<String> rows(Path dir) throws Exception {
        List<String> out = new ArrayList<>();
        try (Stream<Path> parts = Files.list(dir.resolve("parts"))) {
            for (Path part : parts.toList()) {
                out.addAll(Files.readAllLines(part.resolve("metadata.jsonl"), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    /** The rows {@code feedback_to_pairs.read_picks} yields (standard-library Python; CI installs python3). */
    static long pythonReaderRows(Path dir) throws Exception {
        String python = Executables.find("python3");
        if (python == null && "true".equals(System.getenv("CI"))) {
            throw new AssertionError("python3 is missing in CI: .ci/run installs it");
        }
        Assumptions.assumeTrue(python != null, "python3 not installed");
        Process p = new ProcessBuilder(python, "-c", "import sys; sys.path.insert(0, 'models/tools'); import feedback_to_pairs as f; "
                + "print(sum(1 for _ in f.read_picks(sys.argv[1])))", dir.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertEquals(0, p.waitFor(), out);
        return Long.parseLong(out);
    }
}
