package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;

import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

/** Readiness waits for the HTTP warm-up as well as the engine's: the first request does not pay for the server's first use. */
@QuarkusTest
class ApiWarmUpTest {

    @Test
    void readinessHoldsTheHttpWarmUpCheckAndItIsUpOnceTheServiceIsReady() {
        ServiceReady.await();
        given().get("/q/health/ready").then().statusCode(200)
                .body("checks.find { it.name == 'api-warm-up' }.status", equalTo("UP"))
                .body("checks.find { it.name == 'engine' }.status", equalTo("UP"));
    }
}
