package dev.winnow.api;

import dev.winnow.testing.EmbeddedPack;
import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.engine.WinnowEngine;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.path.json.JsonPath;
import io.restassured.response.Response;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A new pipeline and a new judge go into service while clients keep sending requests: none fails,
 * each names the version that made it, new requests get the new version once it is in, the old
 * version's models are closed when its last job ends, and a version that does not load is refused
 * while the one in service stays. The configured paths are symbolic links flipped atomically, as a
 * Kubernetes volume update flips its {@code ..data} link.
 */
@QuarkusTest
@TestProfile(LiveSwapTest.Repository.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LiveSwapTest {

    static final Path ROOT = Path.of("target/live-swap-" + ProcessHandle.current().pid()).toAbsolutePath();
    static final Path PIPELINE = ROOT.resolve("pipeline");
    static final Path AESTHETIC = ROOT.resolve("aesthetic");

    public static class Repository implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                Files.createDirectories(ROOT);
                link(PIPELINE, Path.of("models/shapes-scenes").toAbsolutePath());
                link(AESTHETIC, Path.of("models/judges/aesthetic-scenes").toAbsolutePath());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return Map.of("winnow.pipeline.path", PIPELINE.toString(), "winnow.judges.aesthetic.path", AESTHETIC.toString(),
                    "winnow.models.poll-interval", "200ms");
        }
    }

    @Inject
    WinnowEngine engine;

    @Inject
    AdminPort admin;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    /** Points {@code link} at {@code target} in one rename, as {@code ln -sfn} + {@code mv -T} do. */
    static void link(Path link, Path target) throws IOException {
        Path tmp = link.resolveSibling(link.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        Files.createSymbolicLink(tmp, target);
        Files.move(tmp, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** A copy of a pack or judge folder that declares {@code version} in its index file. */
    static Path copy(Path from, String name, String indexFile, String version) throws IOException {
        Path to = ROOT.resolve(name);
        copyTree(from, to);
        Path index = to.resolve(indexFile);
        Files.writeString(index, Files.readString(index).replaceFirst("\"winnow_version\": \"[^\"]*\"", "\"winnow_version\": \"" + version + "\""));
        return to;
    }

    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    static double metric(String series) {
        for (String line : given().get("/q/metrics").asString().split("\n")) {
            if (line.startsWith(series + " ")) {
                return Double.parseDouble(line.substring(series.length() + 1));
            }
        }
        return 0;
    }

    record Answer(long startedNanos, int status, String pipeline, String aesthetic) {
    }

    /** Waits (up to a minute) until {@code count} answers match; the machine may be slow, never the test's clock. */
    static void awaitAnswers(List<Answer> answers, java.util.function.Predicate<Answer> which, int count)
            throws InterruptedException {
        long until = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < until) {
            synchronized (answers) {
                if (answers.stream().filter(which).count() >= count) {
                    return;
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("fewer than " + count + " answers within a minute: " + answers);
    }

    @Test
    @Order(1)
    void aPipelineAndAJudgeAreSwappedUnderLoadWithoutAFailedRequest() throws Exception {
        Path next = copy(Path.of("models/shapes-scenes"), "shapes-scenes-next", "model_index.json", "next-test");
        Path judgeNext = copy(Path.of("models/judges/aesthetic-scenes"), "aesthetic-next", "judge.json", "next-test");
        double swapsBefore = metric("winnow_model_swaps_total{outcome=\"swapped\"}");
        List<Answer> answers = Collections.synchronizedList(new ArrayList<>());
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong seeds = new AtomicLong(5000);
        ExecutorService clients = Executors.newFixedThreadPool(3);
        List<Future<?>> running = new ArrayList<>();
        for (int c = 0; c < 3; c++) {
            running.add(clients.submit(() -> {
                while (!stop.get()) {
                    long t = System.nanoTime();
                    Response r = given().contentType(ContentType.JSON)
                            .body(Map.of("prompt", "a red circle", "n", 2, "steps", 4, "seed", seeds.getAndAdd(10)))
                            .when().post("/generate");
                    JsonPath j = r.statusCode() == 200 ? r.jsonPath() : null;
                    answers.add(new Answer(t, r.statusCode(), j == null ? null : j.getString("model_version"),
                            j == null ? null : j.getString("judges.aesthetic.version")));
                }
            }));
        }
        awaitAnswers(answers, a -> true, 3); // the clients are under way on v1
        link(PIPELINE, next);
        link(AESTHETIC, judgeNext);
        long until = System.currentTimeMillis() + 60_000;
        while (metric("winnow_model_swaps_total{outcome=\"swapped\"}") == swapsBefore && System.currentTimeMillis() < until) {
            Thread.sleep(50);
        }
        long swappedNanos = System.nanoTime();
        awaitAnswers(answers, a -> a.startedNanos() > swappedNanos, 3); // and carry on after the swap
        stop.set(true);
        for (Future<?> f : running) {
            f.get();
        }
        clients.shutdown();

        assertTrue(metric("winnow_model_swaps_total{outcome=\"swapped\"}") >= swapsBefore + 1, "the swap happened");
        for (Answer a : answers) {
            assertEquals(200, a.status(), "no request failed during the swap");
            assertTrue(List.of(EmbeddedPack.VERSION, "next-test").contains(a.pipeline()), "every answer names its version: " + a.pipeline());
            if (a.startedNanos() > swappedNanos) {
                assertEquals("next-test", a.pipeline(), "a request sent after the swap is served by the new pipeline");
                assertEquals("next-test", a.aesthetic(), "and judged by the new judge");
            }
        }
        assertTrue(answers.stream().anyMatch(a -> EmbeddedPack.VERSION.equals(a.pipeline())), "requests were served before the swap too");
        assertTrue(given().get("/q/health/ready").statusCode() == 200, "readiness stayed UP");
        // the old version's models close once its last job is answered
        until = System.currentTimeMillis() + 10_000;
        while (engine.liveModelSets() > 1 && System.currentTimeMillis() < until) {
            Thread.sleep(50);
        }
        assertEquals(1, engine.liveModelSets(), "the replaced set is released and closed");
        String metrics = given().get("/q/metrics").asString();
        assertTrue(metrics.matches("(?s).*winnow_model_info\\{[^}]*version=\"next-test\"[^}]*\\} 1\\.0.*"), "metrics show the new version");
        assertTrue(!metrics.matches("(?s).*winnow_model_info\\{[^}]*version=\"v1\".*"), "and no longer the old one");
    }

    @Test
    @Order(2)
    void aVersionThatDoesNotLoadIsRefusedAndTheOneInServiceStays() throws Exception {
        Path broken = copy(Path.of("models/shapes-scenes"), "shapes-scenes-broken", "model_index.json", "v3-broken");
        Files.delete(broken.resolve("unet/model.onnx"));
        String serving = engine.pipeline().version();
        double failed = metric("winnow_model_swaps_total{outcome=\"failed\"}");
        link(PIPELINE, broken);
        long until = System.currentTimeMillis() + 30_000;
        while (metric("winnow_model_swaps_total{outcome=\"failed\"}") == failed && System.currentTimeMillis() < until) {
            Thread.sleep(50);
        }
        assertEquals(failed + 1, metric("winnow_model_swaps_total{outcome=\"failed\"}"), "the refusal is counted once");
        Thread.sleep(600); // more polls: not tried and counted again
        assertEquals(failed + 1, metric("winnow_model_swaps_total{outcome=\"failed\"}"));
        given().contentType(ContentType.JSON).body(Map.of("prompt", "a red circle", "n", 1, "steps", 2, "seed", 7)).when()
                .post("/generate").then().statusCode(200).body("model_version", org.hamcrest.Matchers.equalTo(serving));
        assertEquals(200, given().get("/q/health/ready").statusCode());
    }

    @Test
    @Order(3)
    void theAdminPortSaysWhatServesAndReloadsOnRequest() throws Exception {
        link(PIPELINE, Path.of("models/shapes-scenes").toAbsolutePath());
        String base = "http://127.0.0.1:" + admin.port();
        Response r = given().baseUri(base).port(admin.port()).when().post("/models/reload");
        assertEquals(200, r.statusCode(), r.asString());
        // at once, without waiting for a poll (unless a poll that saw the flip settle got there first)
        assertTrue(List.of("swapped", "unchanged").contains(r.jsonPath().getString("outcome")), r.asString());
        assertEquals(EmbeddedPack.VERSION, r.jsonPath().getString("serving.pipeline.version"));
        Response again = given().baseUri(base).port(admin.port()).when().post("/models/reload");
        assertEquals("unchanged", again.jsonPath().getString("outcome"));
        given().baseUri(base).port(admin.port()).when().get("/models").then().statusCode(200)
                .body("serving.safety.name", org.hamcrest.Matchers.equalTo("nsfw-mobilenet-v2"));
        given().contentType(ContentType.JSON).body(Map.of("prompt", "a red circle", "n", 1, "steps", 2, "seed", 7)).when()
                .post("/generate").then().statusCode(200).body("model_version", org.hamcrest.Matchers.equalTo(EmbeddedPack.VERSION));
        given().when().post("/models/reload").then().statusCode(org.hamcrest.Matchers.not(200)); // not on the public port
    }
}
