package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.TestProfile;
import io.restassured.http.ContentType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * SD 1.5 as current Optimum exports it (a rank-0 timestep) through HTTP: it generates, and
 * concurrent requests at different steps show in winnow_unet_calls_per_step as steps that
 * took more than one UNet call.
 */
@QuarkusTest
@TestProfile(Sd15OptimumScalarFixtureHttpTest.Profile.class)
class Sd15OptimumScalarFixtureHttpTest extends FixturePackHttpBase {

    public static class Profile extends Pack {
        @Override
        String name() {
            return "sd15-optimum-scalar-fixture";
        }
    }

    @Override
    String scheduler() {
        return "ddim";
    }

    @Override
    double guidance() {
        return 7.5;
    }

    /** Steps counted so far, and those that took a single call: {count, at most one call}. */
    static double[] callsPerStep() {
        String metrics = given().get("/q/metrics").asString();
        return new double[] {value(metrics, "winnow_unet_calls_per_step_count\\{?[^ ]*"),
                value(metrics, "winnow_unet_calls_per_step_bucket\\{le=\"1\\.0\"[^ ]*")};
    }

    static double value(String metrics, String series) {
        Matcher m = Pattern.compile("(?m)^" + series + " ([0-9.eE+-]+)$").matcher(metrics);
        if (!m.find()) {
            throw new AssertionError("no series " + series + " on /q/metrics");
        }
        return Double.parseDouble(m.group(1));
    }

    @Test
    void concurrentRequestsAtDifferentStepsShowAsStepsOfSeveralUnetCalls() throws Exception {
        ServiceReady.await();
        double[] before = callsPerStep();
        // Different step counts put the two jobs at different timesteps from their first step on
        // (DDIM's leading spacing), so whenever they denoise at once, a step takes two calls.
        for (int attempt = 0; attempt < 5; attempt++) {
            List<CompletableFuture<Integer>> pair = new ArrayList<>();
            for (int steps : new int[] {40, 50}) {
                pair.add(CompletableFuture.supplyAsync(() -> given().contentType(ContentType.JSON)
                        .body("{\"prompt\": \"a red circle\", \"n\": 4, \"steps\": " + steps + ", \"width\": 128, \"height\": 128}")
                        .when().post("/generate").statusCode()));
            }
            for (CompletableFuture<Integer> f : pair) {
                assertTrue(f.get() == 200, "generated");
            }
            double[] after = callsPerStep();
            double steps = after[0] - before[0];
            double singleCall = after[1] - before[1];
            System.out.println("calls per step: " + steps + " steps, " + singleCall + " of them in one call");
            if (steps > singleCall) {
                return; // some step took more than one call
            }
        }
        throw new AssertionError("no step took more than one UNet call in five tries: " + java.util.Arrays.toString(callsPerStep()));
    }
}
