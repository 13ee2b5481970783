package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.StepCalls;
import dev.winnow.engine.GuardedUnetStepper;
import io.quarkus.test.junit.QuarkusMock;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Liveness tells whether the engine works, not just whether the JVM runs: a loop wedged in a
 * call that no terminate flag reaches (a hung device) turns liveness DOWN, so the kubelet
 * restarts the pod; its clients still get their 504 at the deadline.
 */
@QuarkusTest
@TestProfile(WedgedEngineLivenessTest.ShortDeadlines.class)
class WedgedEngineLivenessTest {

    /** Short deadlines so that the test need not wait minutes; an own instance for the wedged loop. */
    public static class ShortDeadlines implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("winnow.engine.default-deadline", "5s", "winnow.engine.liveness-timeout", "6s");
        }
    }

    /** A UNet call that hangs until released, ignoring deadlines and terminate flags alike. */
    static final class HungDevice extends GuardedUnetStepper {
        final CountDownLatch release = new CountDownLatch(1);

        @Override
        public StepCalls step(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception {
            release.await(60, TimeUnit.SECONDS);
            return pipeline.step(slots);
        }

        @Override
        public StepCalls stepShared(DiffusionPipeline pipeline, List<DenoisingSlot> slots) throws Exception {
            return step(pipeline, slots);
        }
    }

    @Test
    void livenessGoesDownWhileTheEngineIsWedgedInACallAndUpWhenItMovesAgain() throws Exception {
        ServiceReady.await();
        given().get("/q/health/live").then().statusCode(200);
        HungDevice hung = new HungDevice();
        QuarkusMock.installMockForType(hung, GuardedUnetStepper.class);
        CompletableFuture<Integer> client = CompletableFuture.supplyAsync(() -> given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"a red circle\", \"n\": 1, \"steps\": 2}").post("/generate").statusCode());
        try {
            assertEquals(504, client.get(20, TimeUnit.SECONDS), "the client gets its 504 at the deadline");
            Response live = awaitLiveness(503);
            assertTrue(live.asString().contains("engine-alive"), live.asString());
        } finally {
            hung.release.countDown();
        }
        awaitLiveness(200);
    }

    private static Response awaitLiveness(int status) throws InterruptedException {
        long until = System.currentTimeMillis() + 20_000;
        Response r = given().get("/q/health/live");
        while (r.statusCode() != status && System.currentTimeMillis() < until) {
            Thread.sleep(100);
            r = given().get("/q/health/live");
        }
        assertEquals(status, r.statusCode(), r.asString());
        return r;
    }
}
