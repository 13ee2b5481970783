package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.modelpack.ModelVersion;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * A finished job as preference data: every candidate's verdict and scores, the judges' ranking
 * and the finished candidates' final latents, with the versions of the models that made and
 * judged them. Made only when an observer asks for it ({@link EngineObserver#wantsRankings()}),
 * since it copies the latents. Also made when no candidate was safe (then {@code ranking} is
 * empty and {@code chosen} is -1).
 *
 * @param id         the generation's id (the response's, and so the feedback's)
 * @param ranking    the safe candidates' indices, best first
 * @param latents    the finished (not pruned) candidates' final latents, by candidate index, in the
 *                   UNet's latent space: what the last scheduler step returned, before the VAE's
 *                   scaling factor is divided out
 */
public record RankedGeneration(String id, Instant time, GenerationRequest request, ModelVersion pipeline,
                               Map<String, ModelVersion> judges, Map<String, Double> rankingWeights,
                               List<CandidateResult> candidates, List<Integer> ranking, Latents latents) {

    /** @param values one array of {@code channels × height × width} floats per finished candidate, by index */
    public record Latents(int channels, int height, int width, double scalingFactor, Map<Integer, float[]> values) {
    }

    /**
     * The ranking of a finished job: {@code result} when it had a safe candidate, else null with
     * {@code candidates} the verdicts of a job with none.
     */
    static RankedGeneration of(BestOfN bestOfN, PreparedJob job, GenerationResult result, List<CandidateResult> candidates) {
        Map<Integer, float[]> values = new LinkedHashMap<>();
        int height = 0;
        int width = 0;
        int channels = 0;
        for (DenoisingSlot slot : job.liveSlots()) {
            float[] x = slot.latents();
            height = slot.latentHeight();
            width = slot.latentWidth();
            channels = x.length / (height * width);
            values.put(job.slots().indexOf(slot), Arrays.copyOf(x, x.length));
        }
        GenerationRequest request = job.request();
        return new RankedGeneration(
                result != null ? result.id() : UUID.randomUUID().toString(), Instant.now(), request,
                result != null ? result.pipeline() : bestOfN.pipeline().id(),
                result != null ? result.judges() : bestOfN.judges(job.previewsJudged()),
                bestOfN.ranking().withOverrides(request.rankingWeights()).weights(),
                result != null ? result.candidates() : candidates, result != null ? result.ranking() : List.of(),
                new Latents(channels, height, width, bestOfN.pipeline().scalingFactor(), values));
    }

    /** The returned candidate's index, or -1 when none was safe. */
    public int chosen() {
        return ranking.isEmpty() ? -1 : ranking.get(0);
    }
}
