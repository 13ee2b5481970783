package dev.winnow.api;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.WinnowEngine;
import dev.winnow.judge.Verdict;
import dev.winnow.modelpack.ModelVersion;
import io.quarkus.runtime.LaunchMode;
import io.quarkus.runtime.StartupEvent;
import io.quarkus.vertx.http.HttpServerStart;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;
import org.eclipse.microprofile.config.ConfigProvider;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Readiness;

/**
 * Warms the HTTP side before readiness says UP, as the engine's warm-up warms the models: the
 * first request after readiness used to pay about 180 ms beyond its own {@code total} on this
 * machine (the server's first POST through its routing and RESTEasy's handler chain, Jackson's
 * first (de)serializers for the request and the response), against 6–8 ms for every request
 * after it. Once the engine is warm it sends one request to {@code POST /tokenize} over the
 * loopback (no job, no feedback, no traffic record; only the server's own request metrics see
 * it), reads a {@code /generate} body and validates it, and writes a response of the shape
 * {@code /generate} answers with. Readiness waits for it ({@code api-warm-up}); a warm-up that
 * fails only logs: it never keeps the service from becoming ready.
 */
@Readiness
@ApplicationScoped
public class ApiWarmUp implements HealthCheck {

    private static final Logger LOG = Logger.getLogger(ApiWarmUp.class.getName());
    /** How long it waits for the engine's own warm-up (a pack that does not load never gets ready anyway). */
    private static final Duration ENGINE_WAIT = Duration.ofMinutes(30);

    @Inject
    WinnowEngine engine;
    @Inject
    ObjectMapper json;
    @Inject
    RequestValidator validator;

    private volatile boolean done;
    private volatile int port = -1;

    void onHttpStart(@Observes HttpServerStart start) {
        if (!start.options().isSsl()) {
            port = start.options().getPort();
        }
    }

    void onStart(@Observes StartupEvent event) {
        Thread t = new Thread(this::warmUp, "winnow-api-warm-up");
        t.setDaemon(true);
        t.start();
    }

    @Override
    public HealthCheckResponse call() {
        return HealthCheckResponse.named("api-warm-up").status(done).build();
    }

    private void warmUp() {
        try {
            long until = System.nanoTime() + ENGINE_WAIT.toNanos();
            while (!engine.isReady() && System.nanoTime() < until) {
                Thread.sleep(10);
            }
            long t = System.nanoTime();
            inProcess();
            int http = port > 0 ? port : configuredPort();
            String loopback = http > 0 ? loopback(http) : "no HTTP port to call";
            LOG.info("startup: HTTP warm-up took " + (System.nanoTime() - t) / 1_000_000 + " ms (" + loopback + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception | LinkageError e) {
            LOG.warning("HTTP warm-up failed (the service becomes ready without it): " + e);
        } finally {
            done = true;
        }
    }

    /** The HTTP port as configured (the server's start event names it where it is fired; 0: a random port, unknown). */
    private static int configuredPort() {
        String key = LaunchMode.current() == LaunchMode.TEST ? "quarkus.http.test-port" : "quarkus.http.port";
        return ConfigProvider.getConfig().getOptionalValue(key, Integer.class)
                .orElse(LaunchMode.current() == LaunchMode.TEST ? 8081 : 8080);
    }

    /** A /generate body read and validated, and a response of its shape written, with the server's own mapper. */
    private void inProcess() throws Exception {
        GenerateRequest body = json.readValue("{\"prompt\": \"a red circle\", \"n\": 2, \"seed\": 1}", GenerateRequest.class);
        validator.validate(body, engine.capabilities());
        GenerateResponse answer = new GenerateResponse("warm-up", "warm-up", "v0",
                new GenerateResponse.Image(0, 1, 8, 8, new byte[64]), Map.of("combined", 0.5),
                List.of(new GenerateResponse.Candidate(0, 1, Verdict.SAFE, Map.of("combined", 0.5), null, null),
                        new GenerateResponse.Candidate(1, 2, Verdict.UNSAFE, Map.of("unsafe_probability", 0.9), null, null),
                        new GenerateResponse.Candidate(2, 3, Verdict.PRUNED, Map.of("preview", 0.1), null, 4)),
                Map.of("total", 1L), false, 4, Map.of("safety", new ModelVersion("warm-up", "v0")));
        json.writeValueAsBytes(answer);
    }

    /**
     * One POST over the loopback: the server's routing, body handling and JSON on the way in and
     * out. Written as plain HTTP/1.1 on a socket (as curl and most clients speak it in the clear)
     * rather than with java.net.http, whose own first use costs about as much as it would save.
     */
    private static String loopback(int http) throws Exception {
        byte[] body = "{\"prompt\": \"a red circle\"}".getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), http), 5_000);
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("POST " + TokenizeResource.PATH + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + body.length + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(body);
            out.flush();
            String status = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII)).readLine();
            socket.getInputStream().transferTo(OutputStream.nullOutputStream()); // the whole answer, as a client reads it
            return "POST " + TokenizeResource.PATH + " over the loopback: " + status;
        }
    }
}
