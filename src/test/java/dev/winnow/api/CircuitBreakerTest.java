package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.engine.GuardedUnetStepper;
import dev.winnow.engine.WinnowEngine;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import jakarta.inject.Inject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Repeated device failures open the circuit: readiness goes DOWN and requests get 503 instead of spinning. */
@QuarkusTest
@TestProfile(CircuitBreakerTest.OwnInstance.class)
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
