package dev.winnow.engine;

import ai.onnxruntime.OrtException;
import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.PromptEmbedding;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A job's denoising work: its candidates as slots (its prompt encoded once), how far its pruning
 * has got, and its timings per stage (milliseconds). Where the job is in its life is its
 * {@link JobState}, kept by its {@link EngineJob}; this holds what that life works on. Judged,
 * it becomes a {@link GenerationResult}.
 *
 * <p>A job with {@link Prune} holds each slot at {@link #holdAtStep()} steps until all its slots
 * are there; the engine then judges their x̂₀ previews and {@link #prune} keeps the best (or
 * {@link #keepAll} when the previews could not be judged), which lifts the hold.
 * Owned by one thread at a time (the engine loop, then the finisher).
 */
public final class PreparedJob {

    private final GenerationRequest request;
    private final List<DenoisingSlot> slots;
    private final long startNanos;
    private final long denoiseStartNanos;
    private final Map<String, Long> timings = new LinkedHashMap<>();
    /** The preview judge's normalised score of each candidate's x̂₀ preview; NaN where none was judged. */
    private final double[] previewScores;
    /** The prune point while pruning is undecided (not judged, nor given up on), then no limit. */
    private int holdAt;

    PreparedJob(GenerationRequest request, List<DenoisingSlot> slots, long startNanos) {
        this.request = request;
        this.slots = List.copyOf(slots);
        this.startNanos = startNanos;
        this.denoiseStartNanos = System.nanoTime();
        timings.put("queue", 0L);
        this.previewScores = new double[slots.size()];
        Arrays.fill(previewScores, Double.NaN);
        this.holdAt = request.prune() != null ? request.prune().afterStep(request.steps()) : Integer.MAX_VALUE;
    }

    /**
     * Encodes the prompt once and creates the job's N slots (candidate i with seed + i).
     *
     * @throws GenerationFailedException when the text encoder fails
     */
    static PreparedJob encode(DiffusionPipeline pipeline, GenerationRequest job) {
        long t0 = System.nanoTime();
        try {
            PromptEmbedding prompt = pipeline.encodePrompt(job.prompt(), job.negativePrompt());
            List<DenoisingSlot> slots = new ArrayList<>(job.n());
            for (int i = 0; i < job.n(); i++) {
                slots.add(pipeline.newSlot(job.seed() + i, prompt, job.scheduler(), job.steps(), job.guidanceScale(),
                        job.width(), job.height()));
            }
            PreparedJob prepared = new PreparedJob(job, slots, t0);
            prepared.timings().put("text_encode", (System.nanoTime() - t0) / 1_000_000);
            return prepared;
        } catch (OrtException | RuntimeException e) {
            throw new GenerationFailedException("encoding the prompt failed: " + e.getMessage(), e);
        }
    }

    public GenerationRequest request() {
        return request;
    }

    public List<DenoisingSlot> slots() {
        return slots;
    }

    long startNanos() {
        return startNanos;
    }

    Map<String, Long> timings() {
        return timings;
    }

    /** The candidates still being denoised or denoised: all but the pruned ones, in index order. */
    public List<DenoisingSlot> liveSlots() {
        return slots.stream().filter(s -> !s.isPruned()).toList();
    }

    /**
     * The step count a slot may not go past yet: the prune point while pruning is undecided (the
     * previews are judged when every slot is there), else no limit.
     */
    public int holdAtStep() {
        return holdAt;
    }

    /** Copies of every slot's x̂₀ preview, in index order, to be judged while the slots wait at the prune point. */
    public List<float[]> takePreviews() {
        return slots.stream().map(DenoisingSlot::predictedOriginal).toList();
    }

    /**
     * Keeps the {@code keep} candidates whose previews scored highest (the lower index first on a
     * tie; a NaN score ranks last) and prunes the rest.
     *
     * @param scores the preview judge's normalised score per candidate, in index order
     * @return the indices pruned
     */
    public List<Integer> prune(double[] scores) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < slots.size(); i++) {
            order.add(i);
            previewScores[i] = scores[i];
        }
        order.sort(Comparator.comparingDouble((Integer i) -> Double.isNaN(scores[i]) ? Double.NEGATIVE_INFINITY : scores[i])
                .reversed().thenComparingInt(i -> i));
        List<Integer> dropped = new ArrayList<>(order.subList(Math.min(request.prune().keep(), order.size()), order.size()));
        dropped.sort(null);
        dropped.forEach(i -> slots.get(i).prune());
        holdAt = Integer.MAX_VALUE;
        return dropped;
    }

    /** The previews could not be judged: every candidate goes on (pruning only saves work; it never decides safety). */
    public void keepAll() {
        holdAt = Integer.MAX_VALUE;
    }

    /** Records the time its previews took to decode and judge. */
    void previewTook(long nanos) {
        timings.merge("preview", nanos / 1_000_000, Long::sum);
    }

    /** The preview score of candidate {@code index}; NaN when its preview was not judged. */
    public double previewScore(int index) {
        return previewScores[index];
    }

    /** Whether this job's previews were judged (some candidates may have been pruned). */
    public boolean previewsJudged() {
        return Arrays.stream(previewScores).anyMatch(v -> !Double.isNaN(v));
    }

    public boolean isDenoised() {
        return slots.stream().allMatch(DenoisingSlot::isDone);
    }

    /** Records the denoising stage's wall time (from slot creation until now). */
    void denoiseDone() {
        timings.put("denoise", (System.nanoTime() - denoiseStartNanos) / 1_000_000);
    }

    /** Adds time spent waiting for admission before the prompt was encoded. */
    void queued(long nanos) {
        timings.put("queue", nanos / 1_000_000);
    }
}
