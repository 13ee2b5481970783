package dev.winnow.api;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasSize;
import static org.hamcrest.Matchers.notNullValue;
import static org.hamcrest.Matchers.nullValue;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.quarkus.test.junit.QuarkusTest;
import io.restassured.http.ContentType;
import io.restassured.response.Response;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code POST /v1/images/generations} over plain HTTP (the official SDK's view is OpenAiSdkTest's). */
@QuarkusTest
class OpenAiImagesTest {

    @BeforeEach
    void ready() {
        ServiceReady.await();
    }

    @Test
    void nImagesAreTheTopNSafeCandidatesOfBestOfDrawnBestFirst() {
        Response r = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"two green triangles\", \"n\": 2, \"best_of\": 4, \"seed\": 77, \"size\": \"64x64\", "
                        + "\"response_format\": \"b64_json\", \"user\": \"u-1\", \"quality\": \"high\", \"style\": \"vivid\"}")
                .when().post("/v1/images/generations");
        r.then().statusCode(200).contentType("application/json")
                .body("created", notNullValue())
                .body("data", hasSize(2))
                .body("data[0].revised_prompt", nullValue())
                .body("size", equalTo("64x64"));
        // the same job through /generate: its chosen image is the first one here
        String plain = given().contentType(ContentType.JSON)
                .body("{\"prompt\": \"two green triangles\", \"n\": 4, \"seed\": 77}").when().post("/generate")
                .path("image.png_base64");
        assertArrayEquals(Base64.getDecoder().decode(plain), Base64.getDecoder().decode((String) r.path("data[0].b64_json")));
        List<String> images = r.path("data.b64_json");
        assertEquals(2, images.stream().distinct().count(), "two different candidates");
    }

    @Test
    void theBodysStreamFieldDecidesWhetherTheAnswerStreamsWhateverTheAcceptHeaderSays() {
        String body = "{\"prompt\": \"two green triangles\", \"best_of\": 2, \"seed\": 77, \"partial_images\": 1, \"stream\": ";
        // the SDKs' Accept: application/json, and a stream asked for in the body
        Response streamed = given().contentType(ContentType.JSON).accept(ContentType.JSON).body(body + "true}")
                .when().post("/v1/images/generations");
        assertEquals(200, streamed.statusCode());
        assertTrue(streamed.contentType().startsWith("text/event-stream"), streamed.contentType());
        assertTrue(streamed.asString().contains("event:image_generation.completed"), streamed.asString());
        // Accept: text/event-stream without stream: true is the plain answer
        given().contentType(ContentType.JSON).accept("text/event-stream").body(body + "false}")
                .when().post("/v1/images/generations").then().statusCode(200).contentType("application/json")
                .body("data", hasSize(1));
    }

    @Test
    void theLoadedPipelinesNameIsTheOnlyModel() {
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\", \"model\": \"shapes-scenes\"}")
                .when().post("/v1/images/generations").then().statusCode(200).body("data", hasSize(1));
        given().contentType(ContentType.JSON).body("{\"prompt\": \"a red circle\", \"model\": \"dall-e-3\"}")
                .when().post("/v1/images/generations").then().statusCode(404)
                .contentType("application/json")
                .body("error.code", equalTo("model_not_found"))
                .body("error.param", equalTo("model"))
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.message", notNullValue());
    }

    @ParameterizedTest(name = "{0} is a 400 in OpenAI's shape naming {1}")
    @CsvSource(delimiter = '|', value = {
        "{}|prompt",
        "{\"prompt\": \"x\", \"size\": \"1024x1024\"}|size",
        "{\"prompt\": \"x\", \"size\": \"big\"}|size",
        "{\"prompt\": \"x\", \"n\": 0}|n",
        "{\"prompt\": \"x\", \"n\": 3, \"best_of\": 2}|best_of",
        "{\"prompt\": \"x\", \"best_of\": 99}|best_of",
        "{\"prompt\": \"x\", \"response_format\": \"url\"}|response_format",
        "{\"prompt\": \"x\", \"output_format\": \"webp\"}|output_format",
        "{\"prompt\": \"x\", \"stream\": true, \"partial_images\": 4}|partial_images",
        "{\"prompt\": \"x\", \"stream\": true, \"partial_images\": -1}|partial_images",
        "{\"prompt\": \"x\", \"partial_images\": 9}|partial_images",
        "{\"prompt\": \"x\", \"stream\": true, \"size\": \"1024x1024\"}|size",
        "{\"prompt\": \"x\", \"n\": \"2\"}|n",
        "{\"prompt\": \"x\", \"colour\": 1}|colour",
        "{\"prompt\": \"x\",|body"})
    void badInputIsA400InOpenAisErrorShape(String body, String param) {
        given().contentType(ContentType.JSON).body(body).when().post("/v1/images/generations")
                .then().statusCode(400).contentType("application/json")
                .body("error.param", equalTo(param))
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.message", notNullValue())
                .body("error.code", notNullValue());
    }

    @Test
    void noSafeCandidateKeepsItsStatusInOpenAisShape() {
        // a body that is not JSON keeps /generate's 415 too
        given().contentType(ContentType.TEXT).body("a red circle").when().post("/v1/images/generations")
                .then().statusCode(415).body("error.code", equalTo("unsupported_media_type"));
    }
}
