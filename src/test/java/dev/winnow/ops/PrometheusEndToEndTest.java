package dev.winnow.ops;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URL;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A real Prometheus on loopback scrapes the running service; every alert's and dashboard
 * panel's query then returns series (alert thresholds removed, so a quiet alert still
 * proves its query matches something). CI installs Prometheus (Debian's package).
 */
@QuarkusTest
class PrometheusEndToEndTest {

    @TestHTTPResource("/")
    URL app;

    @Test
    void theDashboardsAndAlertsQueriesReturnSeriesFromTheLiveService() throws Exception {
        String prometheus = Executables.find("prometheus");
        Executables.requireInCi("prometheus", prometheus);
        assumeTrue(prometheus != null, "prometheus not installed (apt-get install prometheus)");
        for (int i = 0; i < 3; i++) {
            given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle on a white background\", \"n\": 2, \"seed\": " + i + "}")
                    .post("/generate");
        }
        Path dir = Files.createTempDirectory("winnow-prometheus");
        int port;
        try (ServerSocket s = new ServerSocket(0, 0, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Files.writeString(dir.resolve("prometheus.yml"), """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: winnow
                    metrics_path: /q/metrics
                    static_configs:
                      - targets: ['127.0.0.1:%d']
                """.formatted(app.getPort()));
        Process p = new ProcessBuilder(prometheus, "--config.file=" + dir.resolve("prometheus.yml"),
                "--storage.tsdb.path=" + dir.resolve("data"), "--web.listen-address=127.0.0.1:" + port)
                .redirectErrorStream(true).redirectOutput(dir.resolve("prometheus.log").toFile()).start();
        try {
            HttpClient http = HttpClient.newHttpClient();
            String base = "http://127.0.0.1:" + port;
            waitForSeries(http, base, "winnow_model_info", 60);
            // a few more scrapes so that rate() has two samples in its window
            Thread.sleep(4000);
            List<String> empty = new ArrayList<>();
            for (String q : MonitoringConsistencyTest.queries()) {
                String expr = withoutThreshold(local(q));
                if (result(http, base, expr).isEmpty()) {
                    empty.add(expr);
                }
            }
            assertTrue(empty.isEmpty(), "queries with no series from the live service: " + empty
                    + "\nprometheus log: " + Files.readString(dir.resolve("prometheus.log")));
        } finally {
            p.destroy();
            p.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /**
     * The query as it reads against a local scrape: the {@code namespace} label comes from the
     * Kubernetes service discovery, which a loopback scrape does not have.
     */
    static String local(String q) {
        return q.replace("$namespace", ".*").replaceAll("namespace=~?\"[^\"]*\",?", "").replace("{}", "");
    }

    /** An alert's expression without its final comparison, so its query is checked even when quiet. */
    static String withoutThreshold(String expr) {
        return expr.trim().replaceAll("(?s)\\s*(>|<|>=|<=|==|!=)\\s*[0-9.e+-]+\\s*$", "");
    }

    static void waitForSeries(HttpClient http, String base, String query, int seconds) throws Exception {
        long until = System.currentTimeMillis() + seconds * 1000L;
        while (System.currentTimeMillis() < until) {
            try {
                if (!result(http, base, query).isEmpty()) {
                    return;
                }
            } catch (java.io.IOException e) {
                // not listening yet
            }
            Thread.sleep(250);
        }
        throw new AssertionError("Prometheus never scraped " + query);
    }

    static List<JsonNode> result(HttpClient http, String base, String query) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/api/v1/query?query="
                + URLEncoder.encode(query, StandardCharsets.UTF_8))).build(), HttpResponse.BodyHandlers.ofString());
        JsonNode body = new ObjectMapper().readTree(r.body());
        if (!"success".equals(body.path("status").asText())) {
            throw new AssertionError("query failed: " + query + " -> " + r.body());
        }
        List<JsonNode> out = new ArrayList<>();
        body.at("/data/result").forEach(out::add);
        return out;
    }
}
