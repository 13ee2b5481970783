package dev.winnow.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.winnow.feedback.FeedbackLedger;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.Map;
import org.eclipse.microprofile.openapi.annotations.Operation;
import org.eclipse.microprofile.openapi.annotations.media.Schema;

/**
 * {@code POST /feedback}: a person's pick among the candidates a generation showed them. Ids are
 * signed by the service and accepted once; anything forged, unknown or repeated is a 4xx problem
 * and writes nothing. Off (404) unless {@code winnow.feedback.dir} is set.
 */
@Path(FeedbackResource.PATH)
public class FeedbackResource {

    static final String PATH = "/feedback";

    @Schema(name = "FeedbackRequest", example = "{\"generation_id\": \"…\", \"chosen\": 2, \"shown\": [0, 2, 3]}")
    public record FeedbackRequest(
            @JsonProperty("generation_id") @Schema(required = true, description = "The id /generate returned") String generationId,
            @Schema(required = true, description = "The candidate index the person preferred") Integer chosen,
            @Schema(required = true, description = "Every candidate index the person saw (safe ones with images)")
            List<Integer> shown) {
    }

    @Inject
    Feedback feedback;

    @POST
    @Consumes(MediaType.APPLICATION_JSON)
    @Operation(summary = "Record which candidate a person preferred (preference data for reward models and DPO)")
    public Response record(FeedbackRequest body) {
        if (!feedback.enabled()) {
            return Problems.response(404, "feedback-off", "Feedback capture is off",
                    "this service records no feedback (set winnow.feedback.dir to turn it on)");
        }
        if (body == null || body.generationId() == null || body.chosen() == null || body.shown() == null) {
            String field = body == null ? "body" : body.generationId() == null ? "generation_id"
                    : body.chosen() == null ? "chosen" : "shown";
            throw new InvalidRequestException(field, "generation_id, chosen and shown are required");
        }
        String uuid = feedback.verify(body.generationId());
        if (uuid == null) {
            throw new InvalidRequestException("generation_id", "generation_id was not issued by this service");
        }
        try {
            feedback.record(uuid, body.chosen(), body.shown());
        } catch (FeedbackLedger.WriteFailed e) {
            Response r = Problems.response(503, "feedback-not-stored", "Feedback not stored", "the pick could not be "
                    + "written, so nothing was stored and the generation still waits for its pick; retry later");
            return Response.fromResponse(r).header("Retry-After", 5).build();
        } catch (FeedbackLedger.Refused e) {
            String type = switch (e.status()) {
                case 404 -> "unknown-generation";
                case 409 -> "feedback-already-recorded";
                default -> "invalid-request";
            };
            return Problems.response(e.status(), type, e.status() == 400 ? "Invalid request" : "Feedback refused",
                    e.getMessage(), Map.of("field", e.field()));
        }
        return Response.noContent().build();
    }
}
