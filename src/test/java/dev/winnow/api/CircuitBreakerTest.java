package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.anyOf;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.PromptEmbedding;
import dev.winnow.engine.GuardedUnetStepper;
import dev.winnow.engine.RequestFaultException;
import dev.winnow.engine.WinnowEngine;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Repeated device failures open the circuit: readiness goes DOWN and requests get 503 instead of
 * spinning. Failures that a request causes while the device works do not: a few bad requests
 * never take the pod out of readiness.
 */
@QuarkusTest
@TestProfile(CircuitBreakerTest.OwnInstance.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CircuitBreakerTest {

    /** A separate application instance, so the open circuit does not leak into other tests. */
    public static class OwnInstance implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.engine.queue-capacity", "3");
        }
    }

    @Inject
    GuardedUnetStepper stepper;

    @Inject
    WinnowEngine engine;

    @Test
    @Order(1)
    void requestDependentUnetFailuresLeaveTheCircuitClosedAndThePodReady() throws Exception {
        ServiceReady.await();
        DiffusionPipeline pipeline = engine.pipeline();
        PromptEmbedding prompt = pipeline.encodePrompt("a red circle", "");
        for (int i = 0; i < 6; i++) {
            // A size this UNet cannot take (it is fixed to 64 px): ONNX Runtime refuses the call, the device is fine.
            List<DenoisingSlot> slots = List.of(pipeline.newSlot(i, prompt, "ddim", 2, 5.0, 72, 72));
            Exception e = assertThrows(Exception.class, () -> stepper.step(pipeline, slots));
            assertInstanceOf(RequestFaultException.class, e, "classified as the request's fault: " + e);
        }
        assertFalse(engine.isCircuitOpen(), "six request faults in a row did not open the circuit");
        given().get("/q/health/ready").then().statusCode(200);
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\", \"n\": 1, \"steps\": 2}")
                .when().post("/generate")
                .then().statusCode(anyOf(equalTo(200), equalTo(422)));
    }

    @Test
    @Order(2)
    void repeatedUnetFailuresOpenTheCircuitAndTurnReadinessDown() {
        ServiceReady.await();
        for (int i = 0; i < 4; i++) {
            // A call that fails inside the guarded UNet step, as a lost device would.
            assertThrows(Exception.class, () -> stepper.step(null, List.of()));
        }
        assertTrue(engine.isCircuitOpen());
        given().get("/q/health/ready").then().statusCode(503)
                .body("checks.find { it.name == 'engine' }.data.state", equalTo("circuit-open"));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\"}")
                .when().post("/generate")
                .then().statusCode(503).contentType("application/problem+json")
                .body("type", equalTo("https://winnow.dev/problems/not-ready"));
    }
}
