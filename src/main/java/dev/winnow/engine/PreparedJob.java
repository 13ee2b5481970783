package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A job whose prompt is encoded and whose candidates are slots, on its way through the
 * denoising loop. Timings accumulate per stage (milliseconds).
 */
public final class PreparedJob {

    private final GenerationRequest request;
    private final List<DenoisingSlot> slots;
    private final long startNanos;
    private final long denoiseStartNanos;
    private final Map<String, Long> timings = new LinkedHashMap<>();

    PreparedJob(GenerationRequest request, List<DenoisingSlot> slots, long startNanos) {
        this.request = request;
        this.slots = List.copyOf(slots);
        this.startNanos = startNanos;
        this.denoiseStartNanos = System.nanoTime();
        timings.put("queue", 0L);
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
