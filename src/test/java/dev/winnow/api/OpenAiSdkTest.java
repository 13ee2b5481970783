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
 * OpenAI's official Node SDK ({@code openai} on npm, installed by {@code npm ci} in
 * {@code src/test/node}) against {@code /v1/images/generations}: generate, two images, a bad size,
 * a wrong model, and a 429 under overload, each parsed by the SDK into its own error class.
 * Without Node or the installed package the test is skipped, unless {@code WINNOW_REQUIRE_NODE=1}
 * (CI sets it), where it fails instead.
 */
@QuarkusTest
@TestProfile(EngineHttpTest.SmallQueue.class)
class OpenAiSdkTest {

    static final Path SCRIPT_DIR = Path.of("src/test/node");

    @TestHTTPResource("/v1")
    URL v1;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void theOfficialOpenAiSdkGeneratesAndParsesEveryErrorItMeets() throws Exception {
        boolean required = "1".equals(System.getenv("WINNOW_REQUIRE_NODE"));
        if (!Files.isDirectory(SCRIPT_DIR.resolve("node_modules/openai")) || !nodeRuns()) {
            String why = "Node.js and the openai package are needed: cd src/test/node && npm ci";
            if (required) {
                fail(why);
            }
            Assumptions.abort(why);
        }
        Process p = new ProcessBuilder("node", "openai-sdk.mjs", v1.toString())
                .directory(SCRIPT_DIR.toFile()).redirectErrorStream(true).start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("the SDK script did not finish in 300 s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        System.out.println(out);
        assertEquals(0, p.exitValue(), out);
    }

    static boolean nodeRuns() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }
}
