package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.RateLimitException;
import com.openai.models.images.ImageGenCompletedEvent;
import com.openai.models.images.ImageGenPartialImageEvent;
import com.openai.models.images.ImageGenStreamEvent;
import com.openai.models.images.ImageGenerateParams;
import com.openai.models.images.ImagesResponse;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * OpenAI's official Java SDK ({@code com.openai:openai-java}) as a Java client app would use it
 * against {@code /v1/images/generations}: generate, two images, a stream of partial images and
 * completed images, a bad size, a wrong model and a 429, each parsed by the SDK into its own
 * type. And a stream the client cuts cancels its job.
 */
@QuarkusTest
@TestProfile(OpenAiJavaSdkTest.SmallQueueLongRuns.class)
class OpenAiJavaSdkTest {

    /** Two jobs admitted at a time (for the 429), and 60 steps by default, so a job outlasts a cut stream. */
    public static class SmallQueueLongRuns implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.engine.queue-capacity", "2", "winnow.engine.max-batch-rows", "8",
                    "winnow.defaults.steps", "60");
        }
    }

    static final byte[] PNG = {(byte) 0x89, 'P', 'N', 'G'};

    @TestHTTPResource("/v1")
    URL v1;

    @TestHTTPResource("/")
    URL base;

    OpenAIClient client;

    @BeforeEach
    void connect() {
        ServiceReady.await();
        client = OpenAIOkHttpClient.builder().baseUrl(v1.toString()).apiKey("unused-by-winnow").maxRetries(0)
                .timeout(Duration.ofSeconds(120)).build();
    }

    @AfterEach
    void close() {
        client.close();
    }

    static byte[] png(String b64) {
        byte[] bytes = Base64.getDecoder().decode(b64);
        assertArrayEquals(PNG, Arrays.copyOf(bytes, 4), "a PNG");
        return bytes;
    }

    @Test
    void theJavaSdkGeneratesAnImage() {
        ImagesResponse r = client.images().generate(ImageGenerateParams.builder()
                .prompt("a red circle to the left of a blue square")
                .responseFormat(ImageGenerateParams.ResponseFormat.B64_JSON)
                .putAdditionalBodyProperty("seed", JsonValue.from(15))
                .putAdditionalBodyProperty("best_of", JsonValue.from(4)).build());
        assertEquals(1, r.data().orElseThrow().size());
        png(r.data().orElseThrow().get(0).b64Json().orElseThrow());
        assertTrue(r.created() > 1_600_000_000L);
    }

    @Test
    void theJavaSdkGetsTwoDifferentImages() {
        ImagesResponse r = client.images().generate(ImageGenerateParams.builder().model("shapes-scenes")
                .prompt("two green triangles").n(2).size("64x64").build());
        assertEquals(2, r.data().orElseThrow().size());
        assertFalse(r.data().orElseThrow().get(0).b64Json().equals(r.data().orElseThrow().get(1).b64Json()),
                "two different candidates");
    }

    @Test
    void theJavaSdkStreamsPartialImagesThenOneCompletedImagePerImage() {
        List<ImageGenStreamEvent> events = new ArrayList<>();
        try (StreamResponse<ImageGenStreamEvent> stream = client.images().generateStreaming(ImageGenerateParams.builder()
                .prompt("two green triangles").n(2).partialImages(2L)
                .putAdditionalBodyProperty("best_of", JsonValue.from(4))
                .putAdditionalBodyProperty("seed", JsonValue.from(7)).build())) {
            stream.stream().forEach(events::add);
        }
        List<ImageGenPartialImageEvent> partials = events.stream().filter(ImageGenStreamEvent::isGenerationPartialImage)
                .map(ImageGenStreamEvent::asGenerationPartialImage).toList();
        List<ImageGenCompletedEvent> completed = events.stream().filter(ImageGenStreamEvent::isGenerationCompleted)
                .map(ImageGenStreamEvent::asGenerationCompleted).toList();
        assertEquals(events.size(), partials.size() + completed.size(), "every event is one of the SDK's types");
        assertTrue(!partials.isEmpty() && partials.size() <= 2, partials.size() + " partial images of 2 asked for");
        for (int i = 0; i < partials.size(); i++) {
            ImageGenPartialImageEvent p = partials.get(i).validate(); // every field the SDK requires is there
            assertEquals(i, p.partialImageIndex());
            assertEquals("64x64", p.size().asString());
            assertEquals("png", p.outputFormat().asString());
            png(p.b64Json());
            assertTrue(events.indexOf(ImageGenStreamEvent.ofGenerationPartialImage(p)) < events.size() - 2,
                    "partial images come before the completed ones");
        }
        assertEquals(2, completed.size(), "one completed event per image");
        for (ImageGenCompletedEvent c : completed) {
            c.validate();
            png(c.b64Json());
            assertTrue(c.usage().inputTokens() > 0);
        }
        assertFalse(completed.get(0).b64Json().equals(completed.get(1).b64Json()), "two different candidates");
    }

    @Test
    void aBadSizeIsTheSdksBadRequestException() {
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.images().generate(
                ImageGenerateParams.builder().prompt("a red circle").size(ImageGenerateParams.Size._1024X1024).build()));
        assertEquals(400, e.statusCode());
        assertEquals("invalid_request", e.code().orElseThrow());
        assertEquals("size", e.param().orElseThrow());
        assertEquals("invalid_request_error", e.type().orElseThrow());
    }

    @Test
    void aBadSizeOnAStreamIsTheSameBadRequestException() {
        BadRequestException e = assertThrows(BadRequestException.class, () -> {
            try (StreamResponse<ImageGenStreamEvent> s = client.images().generateStreaming(ImageGenerateParams.builder()
                    .prompt("a red circle").size("1024x1024").build())) {
                s.stream().count();
            }
        });
        assertEquals("size", e.param().orElseThrow());
    }

    @Test
    void aWrongModelIsTheSdksNotFoundException() {
        NotFoundException e = assertThrows(NotFoundException.class, () -> client.images().generate(
                ImageGenerateParams.builder().model("dall-e-3").prompt("a red circle").build()));
        assertEquals(404, e.statusCode());
        assertEquals("model_not_found", e.code().orElseThrow());
        assertEquals("model", e.param().orElseThrow());
    }

    @Test
    void overloadIsTheSdksRateLimitExceptionWithRetryAfter() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<ImagesResponse>> calls = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                calls.add(pool.submit(() -> client.images().generate(ImageGenerateParams.builder()
                        .prompt("two blue squares").putAdditionalBodyProperty("best_of", JsonValue.from(4)).build())));
            }
            int refused = 0;
            int answered = 0;
            for (Future<ImagesResponse> f : calls) {
                try {
                    f.get();
                    answered++;
                } catch (java.util.concurrent.ExecutionException e) {
                    RateLimitException limit = assertInstanceOf429(e.getCause());
                    assertEquals("queue_full", limit.code().orElseThrow());
                    assertTrue(Integer.parseInt(limit.headers().values("retry-after").get(0)) >= 1, "Retry-After");
                    refused++;
                }
            }
            assertTrue(refused >= 1, "six at once against two places: at least one 429");
            assertTrue(answered >= 1, "the admitted ones are answered");
        } finally {
            pool.shutdownNow();
        }
    }

    private static RateLimitException assertInstanceOf429(Throwable t) {
        assertTrue(t instanceof RateLimitException, "a RateLimitException, got " + t);
        assertEquals(429, ((RateLimitException) t).statusCode());
        return (RateLimitException) t;
    }

    @Test
    void aStreamTheClientCutsCancelsItsJob() throws Exception {
        double cancelledBefore = metric("winnow_requests_seconds_count{outcome=\"cancelled\"}");
        String body = "{\"prompt\": \"a red circle\", \"best_of\": 8, \"stream\": true, \"partial_images\": 3}";
        try (Socket s = new Socket(base.getHost(), base.getPort())) {
            s.setSoTimeout(60_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/images/generations HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                    + "Content-Type: application/json\r\nContent-Length: " + body.getBytes(StandardCharsets.UTF_8).length
                    + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8));
            boolean partial = false;
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.startsWith("event:") && line.contains("image_generation.partial_image")) {
                    partial = true;
                    break; // the first partial image is here (step 15 of 60); now go away
                }
            }
            assertTrue(partial, "a partial image arrived before the cut");
        }
        long until = System.currentTimeMillis() + 10_000;
        while (metric("winnow_requests_seconds_count{outcome=\"cancelled\"}") <= cancelledBefore
                && System.currentTimeMillis() < until) {
            Thread.sleep(20);
        }
        assertTrue(metric("winnow_requests_seconds_count{outcome=\"cancelled\"}") > cancelledBefore, "the job was cancelled");
        until = System.currentTimeMillis() + 10_000;
        while (metric("winnow_active_slots") > 0 && System.currentTimeMillis() < until) {
            Thread.sleep(20);
        }
        assertEquals(0.0, metric("winnow_active_slots"), "its slots left the batch");
    }

    private static double metric(String series) {
        for (String line : given().get("/q/metrics").asString().split("\n")) {
            if (line.startsWith(series + " ")) {
                return Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return 0;
    }
}
