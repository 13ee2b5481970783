package dev.winnow.api;

import static io.restassured.RestAssured.given;

/** Waits for the warm-up generation: readiness is DOWN until it has run. */
final class ServiceReady {

    private ServiceReady() {
    }

    static void await() {
        long until = System.currentTimeMillis() + 60_000;
        while (System.currentTimeMillis() < until) {
            if (given().get("/q/health/ready").statusCode() == 200) {
                return;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        throw new AssertionError("the service did not become ready within 60 s");
    }
}
