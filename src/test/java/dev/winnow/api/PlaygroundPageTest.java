package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.not;

import io.quarkus.test.junit.QuarkusTest;
import org.junit.jupiter.api.Test;

/** The playground at {@code /}: one static page, no build step, nothing fetched from elsewhere. */
@QuarkusTest
class PlaygroundPageTest {

    @Test
    void thePlaygroundIsServedAtTheRootAsOneSelfContainedPage() {
        given().when().get("/").then().statusCode(200).contentType(containsString("text/html"))
                .body(containsString("<title>Winnow playground</title>"))
                .body(containsString("Accept\": \"text/event-stream\""))
                .body(containsString("return_candidate_images: true"))
                .body(containsString("<label class=\"wide\">Prompt"))
                .body(not(containsString("<script src=")))
                .body(not(containsString("<link rel=\"stylesheet\"")));
    }
}
