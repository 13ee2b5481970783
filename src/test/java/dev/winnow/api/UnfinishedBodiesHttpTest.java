package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.api.RequestLimitsHttpTest.RawResponse;
import dev.winnow.engine.WinnowEngine;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * No request hangs: a JSON body that is empty, cut short or trickling in gets an answer, or a
 * timeout that the server decides ({@code winnow.http.body-timeout}), at once; and none of them
 * holds a worker thread or a place in the engine's queue afterwards. Raw sockets, because an HTTP
 * client would not send such bodies.
 */
@QuarkusTest
class UnfinishedBodiesHttpTest {

    /** Every route that reads a JSON body. */
    static final String[] JSON_ROUTES = {"/generate", "/v1/images/generations", "/feedback", "/tokenize"};

    @TestHTTPResource("/")
    URL base;

    @Inject
    WinnowEngine engine;

    @ConfigProperty(name = "winnow.http.body-timeout")
    Duration bodyTimeout;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @AfterEach
    void nothingIsHeld() throws Exception {
        // A worker blocked reading a body that never comes would show here (RESTEasy's VertxInputStream).
        long until = System.currentTimeMillis() + 5_000;
        List<String> blocked = blockedReaders();
        while (!blocked.isEmpty() && System.currentTimeMillis() < until) {
            Thread.sleep(50);
            blocked = blockedReaders();
        }
        assertTrue(blocked.isEmpty(), "threads still waiting for a request body: " + blocked);
        assertEquals(0, engine.queueDepth(), "no place in the engine's queue is held");
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\"}").post("/tokenize")
                .then().statusCode(200);
    }

    @ParameterizedTest(name = "an empty JSON body on {0} is a 400 problem at once")
    @ValueSource(strings = {"/generate", "/v1/images/generations", "/feedback", "/tokenize"})
    void anEmptyJsonBodyIsA400ProblemAtOnce(String path) throws Exception {
        try (Socket socket = open()) {
            send(socket, head(path, 0));
            RawResponse r = RawResponse.read(socket.getInputStream());
            assertEquals(400, r.status(), r.toString());
            if (path.startsWith("/v1/")) {
                assertTrue(r.headers().contains("content-type: application/json"), r.toString());
                assertTrue(r.body().contains("\"param\":\"body\""), r.toString());
                assertTrue(r.body().contains("\"code\":\"invalid_request\""), r.toString());
            } else {
                assertTrue(r.headers().contains("content-type: application/problem+json"), r.toString());
                assertTrue(r.body().contains("\"field\":\"body\""), r.toString());
                assertTrue(r.body().contains("\"type\":\"https://winnow.dev/problems/invalid-request\""), r.toString());
            }
        }
    }

    @Test
    void anEmptyGenerateBodyCountsAsAnInvalidRejection() throws Exception {
        double before = RequestLimitsHttpTest.invalidRejections();
        try (Socket socket = open()) {
            send(socket, head("/generate", 0));
            assertEquals(400, RawResponse.read(socket.getInputStream()).status());
        }
        assertEquals(before + 1, RequestLimitsHttpTest.invalidRejections());
    }

    @Test
    void anEmptyBodyThatIsNotJsonIsStillA415() throws Exception {
        try (Socket socket = open()) {
            send(socket, "POST /generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
                    + "Content-Length: 0\r\n\r\n");
            assertEquals(415, RawResponse.read(socket.getInputStream()).status());
        }
    }

    @Test
    void aBodyCutShortByAClosedConnectionHoldsNothing() throws Exception {
        for (String path : JSON_ROUTES) {
            try (Socket socket = open()) {
                send(socket, head(path, 100) + "{\"prompt\": ");
            } // closed with 89 bytes unsent; nothing can answer it, and nothing may wait for it
        }
        // nothingIsHeld() checks the workers and the queue
    }

    @Test
    void aBodyShorterThanItsLengthIsA408ProblemWhenTheServersBodyTimeoutPasses() throws Exception {
        for (String path : JSON_ROUTES) {
            try (Socket socket = open()) {
                long start = System.nanoTime();
                send(socket, head(path, 100) + "{\"prompt\": ");
                RawResponse r = RawResponse.read(socket.getInputStream());
                long tookMs = (System.nanoTime() - start) / 1_000_000;
                assertEquals(408, r.status(), path + ": " + r);
                assertTrue(tookMs >= bodyTimeout.toMillis() - 100 && tookMs < bodyTimeout.toMillis() + 3_000,
                        path + " answered after " + tookMs + " ms");
                assertTrue(r.body().contains(path.startsWith("/v1/") ? "\"code\":\"body_timeout\""
                        : "\"type\":\"https://winnow.dev/problems/body-timeout\""), r.toString());
                assertTrue(r.headers().contains("connection: close"), r.toString());
                assertEquals(-1, socket.getInputStream().read(), "the server closed the connection");
            }
        }
    }

    @Test
    void aBodyThatTricklesInAByteASecondIsCutAtTheBodyTimeoutNotServedForever() throws Exception {
        byte[] body = "{\"prompt\": \"a red circle on a white background\"}".getBytes(StandardCharsets.US_ASCII);
        try (Socket socket = open()) {
            long start = System.nanoTime();
            send(socket, head("/generate", body.length));
            Thread trickle = new Thread(() -> {
                try {
                    OutputStream out = socket.getOutputStream();
                    for (byte b : body) {
                        out.write(b);
                        out.flush();
                        Thread.sleep(1_000);
                    }
                } catch (Exception e) {
                    // the server answered and closed: expected
                }
            });
            trickle.setDaemon(true);
            trickle.start();
            RawResponse r = RawResponse.read(socket.getInputStream());
            long tookMs = (System.nanoTime() - start) / 1_000_000;
            trickle.interrupt();
            assertEquals(408, r.status(), r.toString());
            assertTrue(r.headers().contains("content-type: application/problem+json"), r.toString());
            assertTrue(tookMs < bodyTimeout.toMillis() + 3_000, "answered after " + tookMs + " ms");
        }
    }

    private Socket open() throws Exception {
        Socket socket = new Socket(base.getHost(), base.getPort());
        socket.setSoTimeout(15_000); // far past the body timeout: a hang fails here, not forever
        return socket;
    }

    private static String head(String path, int contentLength) {
        return "POST " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + contentLength + "\r\n\r\n";
    }

    private static void send(Socket socket, String text) throws Exception {
        OutputStream out = socket.getOutputStream();
        out.write(text.getBytes(StandardCharsets.US_ASCII));
        out.flush();
    }

    /** Threads inside RESTEasy Reactive's blocking body read. */
    private static List<String> blockedReaders() {
        List<String> out = new ArrayList<>();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            if (Arrays.stream(e.getValue()).anyMatch(f -> f.getClassName().contains("VertxInputStream"))) {
                out.add(e.getKey().getName());
            }
        }
        return out;
    }
}
