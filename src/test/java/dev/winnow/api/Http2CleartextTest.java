package dev.winnow.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.RestAssured;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A gateway or mesh that talks HTTP/2 in the clear to its upstreams (h2c) gets the same answers
 * as an HTTP/1.1 client: POSTs were answered 500 once the body-limit handler had read an HTTP/2
 * request to its end. java.net.http asks for h2c by upgrade on a plain http:// URI.
 */
@QuarkusTest
class Http2CleartextTest {

    private final HttpClient h2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    private HttpResponse<String> post(String path, String json) throws Exception {
        // two requests: the first upgrades the connection, the second is HTTP/2 from its first byte
        HttpResponse<String> last = null;
        for (int i = 0; i < 2; i++) {
            last = h2.send(HttpRequest.newBuilder(URI.create("http://localhost:" + RestAssured.port + path))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                    HttpResponse.BodyHandlers.ofString());
        }
        return last;
    }

    @Test
    void aGenerationOverHttp2InTheClearIsAnsweredWithItsImage() throws Exception {
        HttpResponse<String> r = post(GenerateResource.PATH, "{\"prompt\": \"a red circle\", \"n\": 1, \"seed\": 5}");
        assertEquals(HttpClient.Version.HTTP_2, r.version());
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"png_base64\""), r.body());
    }

    @Test
    void aBadFieldOverHttp2IsStillAProblemNamingTheField() throws Exception {
        HttpResponse<String> r = post(GenerateResource.PATH, "{\"prompt\": \"a red circle\", \"n\": 999}");
        assertEquals(400, r.statusCode(), r.body());
        assertTrue(r.body().contains("\"field\":\"n\""), r.body());
    }

    @Test
    void aBodyDeclaredOverTheLimitOverHttp2IsA413Problem() throws Exception {
        String big = "{\"prompt\": \"" + "a".repeat((int) BodyLimit.API_LIMIT_BYTES) + "\"}";
        HttpResponse<String> r = post(TokenizeResource.PATH, big);
        assertEquals(413, r.statusCode(), r.body());
        assertTrue(r.body().contains("body-too-large"), r.body());
    }
}
