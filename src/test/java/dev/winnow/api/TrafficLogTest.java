package dev.winnow.api;

import dev.winnow.testing.EmbeddedPack;
import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.winnow.engine.WinnowEngine;
import dev.winnow.image.RgbImage;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * With {@code winnow.traffic.dir} set, every answered generation leaves its judges' ranking and its
 * candidates' final latents behind, as the response told them, with the versions of the models.
 */
@QuarkusTest
@TestProfile(TrafficLogTest.Keep.class)
class TrafficLogTest {

    static final Path DIR = Path.of("target/traffic-test-" + ProcessHandle.current().pid());
    static final ObjectMapper JSON = new ObjectMapper();

    public static class Keep implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.traffic.dir", DIR.toString());
        }
    }

    @Inject
    WinnowEngine engine;

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    /** The ranking row of generation {@code id}, once the writer has written it. */
    static JsonNode row(String id) throws Exception {
        long until = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < until) {
            if (Files.isDirectory(DIR.resolve("rankings"))) {
                try (Stream<Path> parts = Files.list(DIR.resolve("rankings"))) {
                    for (Path part : parts.toList()) {
                        for (String line : Files.readAllLines(part)) {
                            JsonNode row = JSON.readTree(line);
                            if (row.get("id").asText().equals(id)) {
                                return row;
                            }
                        }
                    }
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no ranking row for " + id + " in " + DIR);
    }

    /** An .npy file's float32 values (the header is numpy's version 1.0). */
    static float[] npy(Path file, List<Integer> shapeOut) throws Exception {
        byte[] bytes = Files.readAllBytes(file);
        assertEquals("\u0093NUMPY", new String(bytes, 0, 6, StandardCharsets.ISO_8859_1));
        int headerLength = (bytes[8] & 0xff) | (bytes[9] & 0xff) << 8;
        assertEquals(0, (10 + headerLength) % 64, "numpy aligns the data to 64 bytes");
        String header = new String(bytes, 10, headerLength, StandardCharsets.US_ASCII);
        assertTrue(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), header);
        String dims = header.substring(header.indexOf("'shape': (") + 10, header.indexOf(')'));
        for (String d : dims.split(",")) {
            if (!d.isBlank()) {
                shapeOut.add(Integer.parseInt(d.strip()));
            }
        }
        float[] values = new float[(bytes.length - 10 - headerLength) / 4];
        ByteBuffer.wrap(bytes, 10 + headerLength, values.length * 4).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(values);
        return values;
    }

    @Test
    void aGenerationsRankingAndFinalLatentsAreKeptAsTheResponseToldThem() throws Exception {
        JsonNode r = JSON.readTree(given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a red circle to the left of a blue square\", \"n\": 4, \"steps\": 6, \"seed\": 4200,"
                        + " \"return_candidates\": true}")
                .when().post("/generate").then().statusCode(200).extract().asString());
        JsonNode row = row(r.get("id").asText());
        assertEquals("a red circle to the left of a blue square", row.get("prompt").asText());
        assertEquals(r.get("model").asText(), row.at("/pipeline/name").asText());
        assertEquals(r.get("model_version").asText(), row.at("/pipeline/version").asText());
        assertEquals(EmbeddedPack.VERSION, row.at("/pipeline/version").asText(), "the version the embedded pack declares");
        assertEquals(r.at("/judges/safety/version").asText(), row.at("/judges/safety/version").asText());
        assertEquals(r.at("/judges/faithfulness/name").asText(), row.at("/judges/faithfulness/name").asText());
        assertEquals(4, row.at("/settings/n").asInt());
        assertEquals(4200, row.at("/settings/seed").asLong());
        assertEquals(r.at("/image/index").asInt(), row.get("chosen").asInt());
        for (int i = 0; i < 4; i++) {
            JsonNode served = r.get("candidates").get(i);
            JsonNode kept = row.get("candidates").get(i);
            assertEquals(served.get("verdict").asText(), kept.get("verdict").asText());
            assertEquals(served.get("seed").asLong(), kept.get("seed").asLong());
            if (served.get("verdict").asText().equals("safe")) {
                assertEquals(served.at("/scores/combined").asDouble(), kept.at("/scores/combined").asDouble(), 1e-12);
            }
        }
        assertEquals(0, row.get("candidates").get(row.get("chosen").asInt()).get("rank").asInt(), "the chosen one ranks first");

        // The chosen candidate's latents decode, with the pack's own VAE, to the very image that was served.
        List<Integer> shape = new ArrayList<>();
        float[] latents = npy(DIR.resolve(row.at("/latents/file").asText()), shape);
        assertEquals(List.of(4, 4, 16, 16), shape);
        int latentRow = row.get("candidates").get(row.get("chosen").asInt()).get("latent_row").asInt();
        float[] chosen = new float[4 * 16 * 16];
        System.arraycopy(latents, latentRow * chosen.length, chosen, 0, chosen.length);
        RgbImage decoded = engine.pipeline().decodeLatents(List.of(chosen), 16, 16, 1).get(0);
        BufferedImage served = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(
                r.at("/image/png_base64").asText())));
        for (int y = 0; y < 64; y += 7) {
            for (int x = 0; x < 64; x += 5) {
                int rgb = decoded.channel(x, y, 0) << 16 | decoded.channel(x, y, 1) << 8 | decoded.channel(x, y, 2);
                assertEquals(served.getRGB(x, y) & 0xffffff, rgb, "pixel " + x + "," + y);
            }
        }
    }

    @Test
    void theVersionsOfTheModelsTravelWithEveryAnswer() {
        given().contentType(ContentType.JSON).accept("image/png").body("{\"prompt\": \"a red circle\", \"n\": 2, \"steps\": 2, \"seed\": 7}")
                .when().post("/generate").then().statusCode(200)
                .header("X-Winnow-Model", "shapes-scenes").header("X-Winnow-Model-Version", EmbeddedPack.VERSION)
                .body(org.hamcrest.Matchers.containsString("Model: shapes-scenes, Model version: " + EmbeddedPack.VERSION));
        String metrics = given().get("/q/metrics").asString();
        assertTrue(metrics.matches("(?s).*winnow_model_info\\{[^}]*pipeline=\"shapes-scenes\"[^}]*version=\"" + EmbeddedPack.VERSION + "\"[^}]*\\} 1\\.0.*"),
                "winnow_model_info names the version");
        assertTrue(metrics.matches("(?s).*winnow_judge_info\\{[^}]*judge=\"nsfw-mobilenet-v2\"[^}]*role=\"safety\"[^}]*version=\"v1\".*"),
                "winnow_judge_info names each judge's version");
        assertTrue(metrics.contains("winnow_traffic_rows_total"), "the rows written are counted");
    }
}
