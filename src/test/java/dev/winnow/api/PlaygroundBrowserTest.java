package dev.winnow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.io.IOException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The playground in a real browser: headless Chromium (Debian's {@code chromium}) driven by
 * {@code puppeteer-core} ({@code src/test/node/playground.mjs}) types a prompt, generates, sees
 * progress, the result and every tile (no unsafe tile with image data), prefers a candidate and
 * sees the feedback accepted; it saves a screenshot to {@code target/playground.png}. Skipped
 * without Node, the npm packages or Chromium, unless {@code WINNOW_REQUIRE_NODE=1} (CI).
 */
@QuarkusTest
@TestProfile(FeedbackTest.Capture.class)
class PlaygroundBrowserTest {

    static final Path SCRIPT_DIR = Path.of("src/test/node");
    static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium"));

    @TestHTTPResource("/")
    URL root;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void aPersonGeneratesWatchesProgressSeesTheCandidatesAndRecordsAPreference() throws Exception {
        if (!Files.isDirectory(SCRIPT_DIR.resolve("node_modules/puppeteer-core")) || !Files.isExecutable(CHROMIUM)
                || !OpenAiSdkTest.nodeRuns()) {
            String why = "Node.js, (cd src/test/node && npm ci) and Chromium (" + CHROMIUM + ") are needed";
            if ("1".equals(System.getenv("WINNOW_REQUIRE_NODE"))) {
                fail(why);
            }
            Assumptions.abort(why);
        }
        Path shot = Path.of("target/playground.png").toAbsolutePath();
        Process p = new ProcessBuilder("node", "playground.mjs", root.toString(), shot.toString())
                .directory(SCRIPT_DIR.toFile()).redirectErrorStream(true).start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the browser script did not finish in 300 s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.println(out);
        assertEquals(0, p.exitValue(), out);
    }
}
