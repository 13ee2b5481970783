package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Bodies past the limits get the problem document like every other error, whether they
 * declare their length or stream it chunked, and every refused /generate body is counted in
 * {@code winnow_rejected_total{reason="invalid"}}. Raw sockets, so that the server's answer is
 * read even while a client is still sending.
 */
@QuarkusTest
class RequestLimitsHttpTest {

    @TestHTTPResource("/")
    URL base;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void aBodyDeclaredOverTheServersHardLimitIsA413Problem() throws Exception {
        RawResponse r = post("/generate", 2 * 1024 * 1024, false);
        assertProblem413(r);
    }

    @ParameterizedTest(name = "a chunked body of {0} bytes is a 413 problem")
    @ValueSource(ints = {100 * 1024, 2 * 1024 * 1024})
    void aChunkedBodyOverTheLimitIsA413Problem(int bytes) throws Exception {
        assertProblem413(post("/generate", bytes, true));
    }

    @Test
    void malformedJsonCountsAsAnInvalidRejection() {
        double before = invalidRejections();
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\",").post("/generate").then().statusCode(400);
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"n\": \"4\"}").post("/generate").then().statusCode(400);
        given().contentType(ContentType.JSON).body("{\"prompt\": \"x\", \"colour\": 1}").post("/generate").then().statusCode(400);
        assertEquals(before + 3, invalidRejections(), "each refused body counts once");
    }

    @Test
    void anOversizedOrNonJsonGenerateBodyCountsAsAnInvalidRejection() {
        double before = invalidRejections();
        given().contentType(ContentType.JSON).body("{\"prompt\": \"" + "a".repeat(100_000) + "\"}").post("/generate")
                .then().statusCode(413);
        given().contentType(ContentType.TEXT).body("a red circle").post("/generate").then().statusCode(415);
        assertEquals(before + 2, invalidRejections());
    }

    @Test
    void refusedTokenizeBodiesAreNotCountedAsRejectedGenerations() {
        double before = invalidRejections();
        given().contentType(ContentType.JSON).body("{\"prompt\": ").post("/tokenize").then().statusCode(400);
        assertEquals(before, invalidRejections());
    }

    private static void assertProblem413(RawResponse r) {
        assertEquals(413, r.status, r.toString());
        assertTrue(r.headers.contains("content-type: application/problem+json"), r.toString());
        assertTrue(r.body.contains("\"type\":\"https://winnow.dev/problems/body-too-large\""), r.toString());
        assertTrue(r.body.contains("\"status\":413"), r.toString());
    }

    static double invalidRejections() {
        for (String line : given().get("/q/metrics").asString().split("\n")) {
            if (line.startsWith("winnow_rejected_total{reason=\"invalid\"")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }

    /** One HTTP/1.1 POST of {@code bytes} bytes of JSON-ish body; the response is read while the body may still be going out. */
    private RawResponse post(String path, int bytes, boolean chunked) throws Exception {
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            String head = "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + (chunked ? "Transfer-Encoding: chunked\r\n" : "Content-Length: " + bytes + "\r\n") + "\r\n";
            out.write(head.getBytes(StandardCharsets.US_ASCII));
            out.flush();
            CompletableFuture<Void> sending = CompletableFuture.runAsync(() -> {
                try {
                    byte[] chunk = "aaaaaaaa".repeat(1024).getBytes(StandardCharsets.US_ASCII);
                    for (int sent = 0; sent < bytes; sent += chunk.length) {
                        int n = Math.min(chunk.length, bytes - sent);
                        if (chunked) {
                            out.write((Integer.toHexString(n) + "\r\n").getBytes(StandardCharsets.US_ASCII));
                        }
                        out.write(chunk, 0, n);
                        if (chunked) {
                            out.write("\r\n".getBytes(StandardCharsets.US_ASCII));
                        }
                    }
                    if (chunked) {
                        out.write("0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    }
                    out.flush();
                } catch (IOException e) {
                    // the server answered and closed before the body was through: expected
                }
            });
            RawResponse r = RawResponse.read(socket.getInputStream());
            sending.cancel(true);
            return r;
        }
    }

    record RawResponse(int status, String headers, String body) {
        static RawResponse read(InputStream in) throws IOException {
            ByteArrayOutputStream head = new ByteArrayOutputStream();
            int b;
            while ((b = in.read()) >= 0) {
                head.write(b);
                byte[] h = head.toByteArray();
                int n = h.length;
                if (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n' && h[n - 2] == '\r' && h[n - 1] == '\n') {
                    break;
                }
            }
            String headers = head.toString(StandardCharsets.ISO_8859_1);
            String[] lines = headers.split("\r\n");
            int status = lines.length > 0 && lines[0].startsWith("HTTP/") ? Integer.parseInt(lines[0].split(" ")[1]) : -1;
            int length = 0;
            for (String line : lines) {
                if (line.toLowerCase(Locale.ROOT).startsWith("content-length:")) {
                    length = Integer.parseInt(line.substring(line.indexOf(':') + 1).trim());
                }
            }
            byte[] body = in.readNBytes(length);
            return new RawResponse(status, headers.toLowerCase(Locale.ROOT), new String(body, StandardCharsets.UTF_8));
        }
    }
}
