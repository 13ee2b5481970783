package dev.winnow.api;

import dev.winnow.testing.NodeScripts;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URL;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The playground in a real browser: headless Chromium (Debian's {@code chromium}) driven by
 * {@code puppeteer-core} ({@code src/test/node/playground.mjs}) types a prompt, generates, sees
 * progress, the result and every tile (no unsafe tile with image data), prefers a candidate and
 * sees the feedback accepted; it saves a screenshot to {@code target/playground.png}.
 */
@QuarkusTest
@TestProfile(FeedbackTest.Capture.class)
class PlaygroundBrowserTest {

    static final Path CHROMIUM = Path.of(System.getenv().getOrDefault("CHROMIUM", "/usr/bin/chromium"));

    @TestHTTPResource("/")
    URL root;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void aPersonGeneratesWatchesProgressSeesTheCandidatesAndRecordsAPreference() throws Exception {
        NodeScripts.run("playground.mjs", List.of(NodeScripts.DIR.resolve("node_modules/puppeteer-core"), CHROMIUM),
                root.toString(), Path.of("target/playground.png").toAbsolutePath().toString());
    }
}
