package dev.winnow.api;

import dev.winnow.testing.NodeScripts;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import java.net.URL;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * OpenAI's official Node SDK ({@code openai} on npm, installed by {@code npm ci} in
 * {@code src/test/node}) against {@code /v1/images/generations}: generate, two images, a bad size,
 * a wrong model, and a 429 under overload, each parsed by the SDK into its own error class.
 */
@QuarkusTest
@TestProfile(EngineHttpTest.SmallQueue.class)
class OpenAiSdkTest {

    @TestHTTPResource("/v1")
    URL v1;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void theOfficialOpenAiSdkGeneratesAndParsesEveryErrorItMeets() throws Exception {
        NodeScripts.run("openai-sdk.mjs", List.of(NodeScripts.DIR.resolve("node_modules/openai")), v1.toString());
    }
}
