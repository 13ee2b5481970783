package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasSize;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
class TokenizeResourceTest {

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void aShortPromptIsStartWordsEndAndNotTruncated() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\"}")
                .when().post("/tokenize")
                .then().statusCode(200)
                .body("input_ids", hasSize(5))
                .body("token_count", equalTo(5))
                .body("truncated", equalTo(false))
                .body("max_length", equalTo(32)); // the default pack's window (tokenizer_config model_max_length)
    }

    @Test
    void aPromptPastTheWindowIsReportedTruncated() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"" + "red circle ".repeat(50) + "\"}")
                .when().post("/tokenize")
                .then().statusCode(200)
                .body("token_count", equalTo(32))
                .body("truncated", equalTo(true));
    }

    @Test
    void aPromptThatIsNotAStringIsAProblemNotCoercedToText() {
        given().contentType(ContentType.JSON).body("{\"prompt\": 42}")
                .when().post("/tokenize")
                .then().statusCode(400).contentType("application/problem+json").body("field", equalTo("prompt"));
    }

    @Test
    void aMissingPromptIsAProblem() {
        given().contentType(ContentType.JSON).body("{}")
                .when().post("/tokenize")
                .then().statusCode(400).body("field", equalTo("prompt"));
    }
}
