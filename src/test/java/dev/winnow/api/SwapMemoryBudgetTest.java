package dev.winnow.api;

import dev.winnow.testing.EmbeddedPack;
import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A new version that the memory budget cannot hold beside the one in service is refused, and says why. */
@QuarkusTest
@TestProfile(SwapMemoryBudgetTest.SmallBudget.class)
class SwapMemoryBudgetTest {

    static final Path ROOT = Path.of("target/swap-budget-" + ProcessHandle.current().pid()).toAbsolutePath();
    static final Path PIPELINE = ROOT.resolve("pipeline");

    public static class SmallBudget implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            try {
                Files.createDirectories(ROOT);
                LiveSwapTest.link(PIPELINE, Path.of("models/shapes-scenes").toAbsolutePath());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            // the embedded pack and judges take about 35 MB: room for a judge swap, not for a second pipeline
            return Map.of("winnow.pipeline.path", PIPELINE.toString(), "winnow.models.memory-budget", "40M");
        }
    }

    @Inject
    AdminPort admin;

    @Test
    void aVersionOverTheBudgetIsRefusedWithTheNumbersAndTheOneInServiceStays() throws Exception {
        ServiceReady.await();
        Path v2 = ROOT.resolve("v2");
        LiveSwapTest.copyTree(Path.of("models/shapes-scenes"), v2);
        LiveSwapTest.link(PIPELINE, v2);
        given().baseUri("http://127.0.0.1").port(admin.port()).when().post("/models/reload").then()
                .statusCode(409)
                .body("outcome", equalTo("refused"))
                .body("detail", containsString("winnow.models.memory-budget"))
                .body("serving.pipeline.version", equalTo(EmbeddedPack.VERSION));
        given().contentType(ContentType.JSON).body(Map.of("prompt", "a red circle", "n", 1, "steps", 2, "seed", 7)).when()
                .post("/generate").then().statusCode(200).body("model_version", equalTo(EmbeddedPack.VERSION));
        given().get("/q/metrics").then().body(containsString("winnow_model_swaps_total{outcome=\"refused\"} 1.0"));
    }
}
