package dev.winnow.engine;

import java.util.List;
import java.util.Map;

/**
 * The answer to a job: the chosen safe candidate's PNG and every candidate's verdict.
 *
 * @param timingsMs per stage: queue, text_encode, denoise, decode, safety, score, total
 */
public record GenerationResult(
        String id,
        String model,
        CandidateResult chosen,
        int width,
        int height,
        byte[] png,
        List<CandidateResult> candidates,
        Map<String, Long> timingsMs) {
}
