package dev.winnow.engine;

import dev.winnow.image.PngEncoder;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.ModelVersion;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The answer to a job: the chosen safe candidate's image and every candidate's verdict (and, when
 * the job asked for them, the next best safe candidates' images). What {@link BestOfN} makes of a
 * judged {@link PreparedJob}; the api shapes it into an {@code api.GenerateResponse}.
 *
 * <p>Each PNG is encoded on first use, by whichever thread asks for it — the HTTP layer's, not
 * the engine's — and kept; the pixels are let go once it is encoded. Thread-safe.
 */
public final class GenerationResult {

    private final String id;
    private final ModelVersion pipeline;
    /** The judges that judged this job, by role: {@code safety}, each score name, {@code preview} when it pruned. */
    private final Map<String, ModelVersion> judges;
    /** The safe candidates' indices in the ranking's order, best first. */
    private final List<Integer> ranking;
    private final int width;
    private final int height;
    private final List<CandidateResult> candidates;
    private final Map<String, Long> timingsMs;
    private final Picture chosen;
    /** The next best safe candidates after the chosen one, when the job kept more than one image. */
    private final List<Picture> runnersUp;

    /** A safe candidate's image, encoded as a PNG (with its settings in text chunks) on first use. */
    public static final class Picture {
        private final CandidateResult candidate;
        private final Map<String, String> pngText;
        /** Guarded by this: the pixels until the PNG is encoded, then null. */
        private RgbImage image;
        private byte[] png;

        public Picture(CandidateResult candidate, RgbImage image, Map<String, String> pngText) {
            this.candidate = candidate;
            this.image = image;
            this.pngText = Collections.unmodifiableMap(new LinkedHashMap<>(pngText)); // chunk order is byte order
        }

        public CandidateResult candidate() {
            return candidate;
        }

        public synchronized byte[] png() {
            if (png == null) {
                png = PngEncoder.encode(image, pngText);
                image = null;
            }
            return png;
        }
    }

    /**
     * @param pipeline  the pack (and version) that made the candidates
     * @param judges    the judges that judged them, by role
     * @param ranking   the safe candidates' indices, best first (the chosen one first)
     * @param runnersUp the next best safe candidates' images, best first (the job asked for them)
     * @param timingsMs per stage: queue, text_encode, denoise, decode, safety, score, total
     */
    public GenerationResult(String id, ModelVersion pipeline, Map<String, ModelVersion> judges, Picture chosen,
                            List<CandidateResult> candidates, List<Integer> ranking, Map<String, Long> timingsMs,
                            List<Picture> runnersUp, int width, int height) {
        this.id = id;
        this.pipeline = pipeline;
        this.judges = Collections.unmodifiableMap(new LinkedHashMap<>(judges));
        this.chosen = chosen;
        this.width = width;
        this.height = height;
        this.candidates = List.copyOf(candidates);
        this.ranking = List.copyOf(ranking);
        this.timingsMs = timingsMs;
        this.runnersUp = List.copyOf(runnersUp);
    }

    public String id() {
        return id;
    }

    /** The pipeline pack's name. */
    public String model() {
        return pipeline.name();
    }

    /** The pipeline pack that made the image, with its version. */
    public ModelVersion pipeline() {
        return pipeline;
    }

    /** The judges that judged the candidates, by role ({@code safety}, score names, {@code preview}), with their versions. */
    public Map<String, ModelVersion> judges() {
        return judges;
    }

    /** The safe candidates' indices, best first: the chosen one, then the runners-up in order. */
    public List<Integer> ranking() {
        return ranking;
    }

    public CandidateResult chosen() {
        return chosen.candidate();
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** The chosen image as a PNG with its settings in a {@code parameters} chunk (encoded once, on the first call). */
    public byte[] png() {
        return chosen.png();
    }

    public List<CandidateResult> candidates() {
        return candidates;
    }

    /** The safe candidates ranked after the chosen one whose images were kept, best first (empty unless asked for). */
    public List<Picture> runnersUp() {
        return runnersUp;
    }

    /** Per stage, in milliseconds. */
    public Map<String, Long> timingsMs() {
        return timingsMs;
    }
}
