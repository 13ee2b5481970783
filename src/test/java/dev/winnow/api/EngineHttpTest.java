package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The engine through HTTP: overload answers 429 (never 5xx), deadlines 504, disconnects cancel, metrics exist. */
@QuarkusTest
@TestProfile(EngineHttpTest.SmallQueue.class)
class EngineHttpTest {

    public static class SmallQueue implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.engine.queue-capacity", "2", "winnow.engine.max-batch-rows", "8");
        }
    }

    @TestHTTPResource("/")
    URL base;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void overloadGivesOnly200sAnd429sWithRetryAfter() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<io.restassured.response.Response>> calls = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                int seed = i;
                calls.add(pool.submit(() -> given().contentType(ContentType.JSON)
                        .body("{\"prompt\": \"a red circle on a white background\", \"n\": 4, \"steps\": 30, \"seed\": " + seed + "}")
                        .post("/generate")));
            }
            int ok = 0;
            int tooMany = 0;
            for (Future<io.restassured.response.Response> f : calls) {
                io.restassured.response.Response r = f.get();
                int status = r.statusCode();
                assertTrue(status == 200 || status == 429 || status == 422, "status " + status + ": " + r.asString());
                if (status == 429) {
                    tooMany++;
                    assertTrue(Integer.parseInt(r.header("Retry-After")) >= 1);
                    assertEquals("application/problem+json", r.contentType());
                } else {
                    ok++;
                }
            }
            assertTrue(tooMany > 0, "8 simultaneous jobs against a queue of 2 should see a 429");
            assertTrue(ok >= 2);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void anExpiredDeadlineIs504() {
        given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a red circle\", \"n\": 8, \"steps\": 100, \"deadline_ms\": 50}")
                .when().post("/generate")
                .then().statusCode(504)
                .contentType("application/problem+json");
    }

    @Test
    void aClientThatDisconnectsCancelsItsJob() throws Exception {
        String body = "{\"prompt\": \"a red circle\", \"n\": 8, \"steps\": 100, \"seed\": 5}";
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            OutputStream out = s.getOutputStream();
            out.write(("POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            long until = System.currentTimeMillis() + 10_000;
            while (metric("winnow_active_slots") < 1 && System.currentTimeMillis() < until) {
                Thread.sleep(10);
            }
            assertTrue(metric("winnow_active_slots") >= 1, "the job started");
        }
        long until = System.currentTimeMillis() + 10_000;
        while (metric("winnow_active_slots") > 0 && System.currentTimeMillis() < until) {
            Thread.sleep(20);
        }
        assertEquals(0.0, metric("winnow_active_slots"), "the cancelled job's slots left the batch");
        assertTrue(metric("winnow_requests_seconds_count{outcome=\"cancelled\"}") >= 1);
    }

    @Test
    void aStreamingClientThatDisconnectsCancelsItsJob() throws Exception {
        double cancelledBefore = metric("winnow_requests_seconds_count{outcome=\"cancelled\"}");
        String body = "{\"prompt\": \"a red circle\", \"n\": 8, \"steps\": 100, \"seed\": 6}";
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /generate HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length
                    + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            java.io.BufferedReader in = new java.io.BufferedReader(
                    new java.io.InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.startsWith("event:") && line.contains("progress")) {
                    break; // denoising has begun; now go away
                }
            }
        }
        long until = System.currentTimeMillis() + 10_000;
        while (metric("winnow_active_slots") > 0 && System.currentTimeMillis() < until) {
            Thread.sleep(20);
        }
        assertEquals(0.0, metric("winnow_active_slots"), "the cancelled job's slots left the batch");
        assertTrue(metric("winnow_requests_seconds_count{outcome=\"cancelled\"}") > cancelledBefore);
    }

    @Test
    void everyMetricNamedInTheDesignIsExported() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle on a white background\", \"n\": 2, \"seed\": 7}")
                .post("/generate");
        String metrics = given().get("/q/metrics").asString();
        for (String name : new String[] {
            "winnow_requests_seconds_bucket", "winnow_queue_seconds", "winnow_stage_seconds_bucket{stage=\"denoise\"",
            "winnow_stage_seconds_bucket{stage=\"text_encode\"", "winnow_stage_seconds_bucket{stage=\"decode\"",
            "winnow_stage_seconds_bucket{stage=\"safety\"", "winnow_stage_seconds_bucket{stage=\"score\"",
            "winnow_queue_depth", "winnow_active_slots", "winnow_unet_batch_rows_bucket",
            "winnow_candidates_total{verdict=\"safe\"", "winnow_candidates_total{verdict=\"unsafe\"",
            "winnow_candidates_total{verdict=\"safety_error\"", "winnow_candidates_total{verdict=\"pruned\"",
            "winnow_no_safe_candidate_total", "winnow_rejected_total{reason=\"queue_full\"",
            "winnow_rejected_total{reason=\"deadline\"", "winnow_rejected_total{reason=\"policy\"",
            "winnow_rejected_total{reason=\"invalid\"", "winnow_model_info{"}) {
            assertTrue(metrics.contains(name), name + " missing from /q/metrics");
        }
        assertTrue(metrics.matches("(?s).*winnow_model_info\\{[^}]*device=\"cpu\"[^}]*\\} 1\\.0.*"), "model info says cpu");
    }

    private static double metric(String series) {
        for (String line : given().get("/q/metrics").asString().split("\n")) {
            if (line.startsWith(series + " ") || (line.startsWith(series) && series.endsWith("}") && line.startsWith(series + " "))) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
            if (line.startsWith(series.replace("}", "")) && line.contains("}") && series.contains("{")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }
}
