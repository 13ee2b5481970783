package dev.winnow.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * A rolling update, tried from outside: the packaged service (target/quarkus-app, built before
 * the tests run) gets SIGTERM while admitted jobs are queued and running. Readiness goes DOWN at
 * once, new work gets 503, every admitted job gets its image (or, when the drain's time runs
 * out, a 503 problem) over its own connection, and the process then exits by itself: no dropped
 * connection, no crash in native code.
 */
class DrainOnSigtermTest {

    static final Path JAR = Path.of("target", "quarkus-app", "quarkus-run.jar");
    static final ObjectMapper JSON = new ObjectMapper();
    static final int JOBS = 10;

    @Test
    void sigtermWithJobsQueuedAndRunningLetsEveryAdmittedJobFinishWithItsImage() throws Exception {
        // Production timing, shortened: the drain (delay + timeout) outlasts every admitted job's deadline.
        try (Service service = Service.start(Map.of(
                "quarkus.shutdown.delay", "2s",
                "quarkus.shutdown.timeout", "60s",
                "winnow.engine.default-deadline", "60s"))) {
            List<CompletableFuture<HttpResponse<String>>> jobs = service.generate(JOBS, 8, 40);
            service.awaitAdmittedAndRunning(JOBS);

            service.sigterm();
            service.assertReadinessGoesDownAtOnce();
            assertEquals(503, service.post("{\"prompt\": \"a red circle\", \"n\": 1}").statusCode(),
                    "new work is refused while draining");

            for (CompletableFuture<HttpResponse<String>> job : jobs) {
                HttpResponse<String> r = Service.answer(job);
                assertEquals(200, r.statusCode(), "an admitted job finishes during the drain: " + r.body());
                assertFalse(JSON.readTree(r.body()).at("/image/png_base64").asText().isEmpty());
            }
            service.assertExitsCleanly(30);
        }
    }

    @Test
    void whenTheDrainTimeRunsOutTheUnfinishedJobsGetAClear503BeforeTheProcessExits() throws Exception {
        // A drain far shorter than the work: delay 2 s + timeout 0.1 s leaves the jobs 1.1 s (less the
        // answer margin), and 10 jobs of 16 candidates × 100 steps take many times that on any CPU.
        try (Service service = Service.start(Map.of(
                "quarkus.shutdown.delay", "2s",
                "quarkus.shutdown.timeout", "100ms"))) {
            List<CompletableFuture<HttpResponse<String>>> jobs = service.generate(JOBS, 16, 100);
            service.awaitAdmittedAndRunning(JOBS);

            long sigterm = System.nanoTime();
            service.sigterm();
            service.assertReadinessGoesDownAtOnce();

            int refused = 0;
            for (CompletableFuture<HttpResponse<String>> job : jobs) {
                HttpResponse<String> r = Service.answer(job);
                if (r.statusCode() == 200) {
                    assertFalse(JSON.readTree(r.body()).at("/image/png_base64").asText().isEmpty());
                    continue;
                }
                assertEquals(503, r.statusCode(), r.body());
                assertEquals("application/problem+json", r.headers().firstValue("Content-Type").orElse(""));
                JsonNode problem = JSON.readTree(r.body());
                assertEquals("https://winnow.dev/problems/not-ready", problem.path("type").asText());
                assertTrue(problem.path("detail").asText().contains("shutting down"), problem.toString());
                refused++;
            }
            assertTrue(refused > 0, "the drain ended before 10 jobs of 16 × 100 steps could finish");
            long answeredMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sigterm);
            assertTrue(answeredMs < 10_000, "every job was answered " + answeredMs + " ms after SIGTERM");
            service.assertExitsCleanly(30);
        }
    }

    /** The packaged service in a child JVM, on a free port, with its output in a file. */
    static final class Service implements AutoCloseable {
        final Process process;
        final int port;
        final Path log;
        final Path errorFile;
        final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();

        private Service(Process process, int port, Path log, Path errorFile) {
            this.process = process;
            this.port = port;
            this.log = log;
            this.errorFile = errorFile;
        }

        static Service start(Map<String, String> config) throws Exception {
            if (!Files.isRegularFile(JAR)) {
                fail(JAR + " is missing: `./mvnw test` builds it before the tests (the quarkus:build "
                        + "execution 'package-for-tests'); do not skip that build when running this test");
            }
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            Path dir = Files.createTempDirectory("winnow-drain");
            Path log = dir.resolve("service.log");
            Path errorFile = dir.resolve("hs_err.log");
            Map<String, String> all = new LinkedHashMap<>(config);
            all.put("quarkus.http.port", String.valueOf(port));
            all.put("quarkus.http.host", "127.0.0.1");
            // any free port for the admin listener: its default 9400 may be held by another service on this machine
            all.putIfAbsent("winnow.models.admin-port", "0");
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:ErrorFile=" + errorFile, "-Xmx1g"));
            all.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
            cmd.addAll(List.of("-jar", JAR.toString()));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            Service service = new Service(p, port, log, errorFile);
            service.awaitReady(Duration.ofMinutes(2));
            return service;
        }

        void awaitReady(Duration patience) throws Exception {
            long until = System.nanoTime() + patience.toNanos();
            while (System.nanoTime() < until) {
                if (!process.isAlive()) {
                    fail("the service exited during startup (status " + process.exitValue() + "):\n" + output());
                }
                try {
                    if (get("/q/health/ready").statusCode() == 200) {
                        return;
                    }
                } catch (IOException e) {
                    // not listening yet
                }
                Thread.sleep(200);
            }
            fail("the service was not ready within " + patience + ":\n" + output());
        }

        List<CompletableFuture<HttpResponse<String>>> generate(int jobs, int n, int steps) {
            List<CompletableFuture<HttpResponse<String>>> out = new ArrayList<>();
            for (int i = 0; i < jobs; i++) {
                String body = "{\"prompt\": \"a red circle on a white background\", \"n\": " + n + ", \"steps\": " + steps
                        + ", \"seed\": " + (100 * i) + "}";
                out.add(http.sendAsync(request("/generate").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            return out;
        }

        /** Every job admitted (none refused), and the engine denoising some of them. */
        void awaitAdmittedAndRunning(int jobs) throws Exception {
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < until) {
                JsonNode ready = JSON.readTree(get("/q/health/ready").body());
                int depth = 0;
                for (JsonNode check : ready.path("checks")) {
                    if (check.path("name").asText().equals("engine")) {
                        depth = check.at("/data/queue_depth").asInt();
                    }
                }
                if (depth >= jobs && gauge("winnow_active_slots") > 0) {
                    return;
                }
                Thread.sleep(20);
            }
            fail("the jobs were not all admitted and running within 60 s:\n" + output());
        }

        void sigterm() {
            process.destroy(); // SIGTERM, as the kubelet sends it
        }

        /**
         * Within 1.5 s of SIGTERM (the kubelet probes every 5 s), readiness answers 503 with the
         * engine draining; still inside the 2 s shutdown delay, so the answer is the health
         * check's, not the HTTP server refusing requests.
         */
        void assertReadinessGoesDownAtOnce() throws Exception {
            long start = System.nanoTime();
            while (System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(1500)) {
                HttpResponse<String> r;
                try {
                    r = get("/q/health/ready");
                } catch (IOException e) {
                    throw new AssertionError("the service stopped answering right after SIGTERM (" + e + "):\n" + output(), e);
                }
                if (r.statusCode() == 503 && r.body().contains("\"draining\"")) {
                    return; // DOWN, and the engine drains
                }
                Thread.sleep(20);
            }
            fail("readiness did not report the engine draining within 1.5 s of SIGTERM:\n" + output());
        }

        HttpResponse<String> post(String body) throws Exception {
            return http.send(request("/generate").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                    HttpResponse.BodyHandlers.ofString());
        }

        static HttpResponse<String> answer(CompletableFuture<HttpResponse<String>> job) throws Exception {
            try {
                return job.get(120, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new AssertionError("an admitted job lost its connection instead of an answer: " + e.getCause(), e);
            }
        }

        void assertExitsCleanly(int seconds) throws Exception {
            assertTrue(process.waitFor(seconds, TimeUnit.SECONDS), "the service exited by itself:\n" + output());
            String out = output();
            assertFalse(Files.exists(errorFile), "the JVM crashed:\n" + out);
            assertFalse(out.contains("SIGSEGV") || out.contains("A fatal error has been detected"), out);
            assertEquals(0, process.exitValue(), "exit status 0 after an orderly SIGTERM stop:\n" + out);
        }

        private HttpRequest.Builder request(String path) {
            return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(150))
                    .header("Content-Type", "application/json");
        }

        private HttpResponse<String> get(String path) throws Exception {
            return http.send(request(path).timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
        }

        private double gauge(String name) throws Exception {
            Matcher m = Pattern.compile("(?m)^" + name + "(?:\\{[^}]*})? ([0-9.eE+-]+)$").matcher(get("/q/metrics").body());
            return m.find() ? Double.parseDouble(m.group(1)) : 0;
        }

        String output() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "(no output: " + e + ")";
            }
        }

        @Override
        public void close() throws Exception {
            if (process.isAlive()) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
