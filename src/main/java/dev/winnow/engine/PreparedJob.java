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
 * <p>A job with {@link Prune} holds each live slot at {@link #holdAtStep()} steps until all of
 * them are there; the engine then judges their x̂₀ previews and {@link #prune} keeps the best (or
 * {@link #keepAll} when the previews could not be judged), which lifts the hold, or moves it to
 * the next decision's step when the rule has stages.
 * Owned by one thread at a time (the engine loop, then the finisher).
 */
public final class PreparedJob {

    private final GenerationRequest request;
    private final List<DenoisingSlot> slots;
    private final long startNanos;
    private final long denoiseStartNanos;
    private final Map<String, Long> timings = new LinkedHashMap<>();
    /** The preview judge's normalised score of each candidate's last judged x̂₀ preview; NaN where none was judged. */
    private final double[] previewScores;
    /** The step after which each pruned candidate was dropped; 0 for the others. */
    private final int[] prunedAtStep;
    /** The next pruning decision not taken yet (a stage of the request's {@link Prune}); null when none is left. */
    private Prune pending;
    /** The prune point of {@link #pending} while it is undecided (not judged, nor given up on), then no limit. */
    private int holdAt;
    /** The steps after which a live preview is taken ({@link #livePreviewSteps}); loop thread. */
    private final int[] livePreviewSteps;
    /** The next of {@link #livePreviewSteps} not taken yet; loop thread. */
    private int nextLivePreview;
    /** Time spent on live previews (decode, safety, scoring, PNG), by any finishing thread. */
    private final java.util.concurrent.atomic.AtomicLong livePreviewNanos = new java.util.concurrent.atomic.AtomicLong();

    /** The x̂₀ previews of a job's live candidates after one step, copied on the loop thread for a live preview. */
    record LivePreviewWork(int step, int steps, List<Integer> candidates, List<float[]> latents) {
    }

    PreparedJob(GenerationRequest request, List<DenoisingSlot> slots, long startNanos) {
        this.request = request;
        this.slots = List.copyOf(slots);
        this.startNanos = startNanos;
        this.denoiseStartNanos = System.nanoTime();
        timings.put("queue", 0L);
        this.previewScores = new double[slots.size()];
        Arrays.fill(previewScores, Double.NaN);
        this.prunedAtStep = new int[slots.size()];
        this.pending = request.prune();
        this.holdAt = pending != null ? pending.afterStep(request.steps()) : Integer.MAX_VALUE;
        this.livePreviewSteps = livePreviewSteps(request.steps(), request.previews());
    }

    /**
     * The steps after which live previews are taken: {@code count} steps spread evenly over the
     * run, {@code round(i · steps / (count + 1))} for {@code i = 1..count}, each at least 1 (a
     * preview needs one prediction) and before the last step (the final image follows it), without
     * repeats; so a short run gets fewer (1 step: none).
     */
    static int[] livePreviewSteps(int steps, int count) {
        return java.util.stream.IntStream.rangeClosed(1, count)
                .map(i -> (int) Math.round((double) i * steps / (count + 1)))
                .filter(s -> s >= 1 && s < steps).distinct().toArray();
    }

    /**
     * Loop thread: when the job's live candidates have all reached its next live-preview step, a
     * copy of each one's x̂₀ (in index order) to be judged, and that step is done (steps passed
     * meanwhile are skipped: one preview per call); else null.
     */
    LivePreviewWork takeLivePreview() {
        if (nextLivePreview >= livePreviewSteps.length) {
            return null;
        }
        List<DenoisingSlot> live = liveSlots();
        int step = live.stream().mapToInt(DenoisingSlot::stepIndex).min().orElse(0);
        if (live.isEmpty() || step < livePreviewSteps[nextLivePreview] || step >= request.steps()) {
            return null;
        }
        while (nextLivePreview < livePreviewSteps.length && livePreviewSteps[nextLivePreview] <= step) {
            nextLivePreview++;
        }
        List<Integer> indices = new ArrayList<>(live.size());
        List<float[]> latents = new ArrayList<>(live.size());
        for (int i = 0; i < slots.size(); i++) {
            if (!slots.get(i).isPruned()) {
                indices.add(i);
                latents.add(slots.get(i).predictedOriginal());
            }
        }
        return new LivePreviewWork(step, request.steps(), indices, latents);
    }

    /** Records the time one live preview took (any thread). */
    void livePreviewTook(long nanos) {
        livePreviewNanos.addAndGet(nanos);
    }

    /** The time live previews took so far, in milliseconds. */
    long livePreviewMillis() {
        return livePreviewNanos.get() / 1_000_000;
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
     * The step count a slot may not go past yet: the next prune point while that decision is
     * undecided (the previews are judged when every live slot is there), else no limit.
     */
    public int holdAtStep() {
        return holdAt;
    }

    /**
     * Copies of every live (not yet pruned) slot's x̂₀ preview, in index order, to be judged while
     * the slots wait at the prune point; {@link #prune} takes their scores in the same order.
     */
    public List<float[]> takePreviews() {
        List<float[]> previews = new ArrayList<>(slots.size());
        for (DenoisingSlot s : slots) {
            if (!s.isPruned()) {
                previews.add(s.predictedOriginal());
            }
        }
        return previews;
    }

    /**
     * Takes the pending decision ({@link Prune}): of the live candidates, keeps the {@code keep}
     * whose previews scored highest (the lower index first on a tie; a NaN score ranks last) and
     * every other one whose score is within {@code margin} of the best, and prunes the rest. The
     * next decision, if any, becomes pending.
     *
     * @param scores the preview judge's normalised score per live candidate, in index order (as
     *               {@link #takePreviews} gave their previews)
     * @return the indices pruned, ascending
     */
    public List<Integer> prune(double[] scores) {
        Prune decision = pending;
        List<Integer> live = new ArrayList<>(scores.length);
        for (int i = 0; i < slots.size(); i++) {
            if (!slots.get(i).isPruned()) {
                live.add(i);
            }
        }
        if (live.size() != scores.length) {
            throw new IllegalArgumentException(scores.length + " preview scores for " + live.size() + " live candidates");
        }
        double[] byIndex = new double[slots.size()];
        double best = Double.NEGATIVE_INFINITY;
        for (int k = 0; k < scores.length; k++) {
            byIndex[live.get(k)] = scores[k];
            previewScores[live.get(k)] = scores[k];
            if (!Double.isNaN(scores[k])) {
                best = Math.max(best, scores[k]);
            }
        }
        List<Integer> order = new ArrayList<>(live);
        order.sort(Comparator.comparingDouble((Integer i) -> Double.isNaN(byIndex[i]) ? Double.NEGATIVE_INFINITY : byIndex[i])
                .reversed().thenComparingInt(i -> i));
        List<Integer> dropped = new ArrayList<>();
        for (int r = decision.keep(); r < order.size(); r++) {
            int i = order.get(r);
            // Within the margin of the best, the judge cannot tell them apart yet: the candidate goes on.
            // Margin 0 is the original rule: exactly `keep` go on, even past a tie (the lower index wins it).
            boolean close = decision.margin() > 0 && !Double.isNaN(byIndex[i]) && byIndex[i] >= best - decision.margin();
            if (!close) {
                dropped.add(i);
            }
        }
        dropped.sort(null);
        int step = decision.afterStep(request.steps());
        for (int i : dropped) {
            slots.get(i).prune();
            prunedAtStep[i] = step;
        }
        pending = decision.next(request.steps());
        holdAt = pending == null ? Integer.MAX_VALUE : pending.afterStep(request.steps());
        return dropped;
    }

    /**
     * The previews could not be judged: every candidate goes on, and no later decision is taken
     * (pruning only saves work; it never decides safety).
     */
    public void keepAll() {
        pending = null;
        holdAt = Integer.MAX_VALUE;
    }

    /** The step after which candidate {@code index} was pruned; null when it was not. */
    public Integer prunedAtStep(int index) {
        return prunedAtStep[index] == 0 ? null : prunedAtStep[index];
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
