package dev.winnow.engine;

import dev.winnow.diffusion.DenoisingSlot;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * An admitted job inside the engine: its request, the future its caller waits on, the models it
 * is pinned to, its {@link JobState}, and (once its prompt is encoded) its {@link PreparedJob}.
 * Made by {@link Admission} from a {@link GenerationRequest}; its answer is a {@link GenerationResult}.
 *
 * <p>Threads: any thread may complete the future (a client's cancel, the deadline timer, a drain's
 * cut); the job's state then ends by itself. The engine loop moves the job through its early
 * states and owns {@code prepared} until it hands the job to the finisher, which owns it after.
 */
final class EngineJob {

    private static final Logger LOG = Logger.getLogger(EngineJob.class.getName());

    final GenerationRequest request;
    final CompletableFuture<GenerationResult> future = new CompletableFuture<>();
    final long admittedNanos = System.nanoTime();
    /** Admission order: older jobs come first. */
    final long sequence;
    /** Who watches the job (a streaming client), or {@link JobEvents#NONE}. */
    final JobEvents events;
    /** The models the job runs on, start to end (a live swap serves later jobs on others). */
    final Served served;
    private final AtomicReference<JobState> state = new AtomicReference<>(JobState.QUEUED);
    /** Loop thread only: the last step reported to {@link #events}. */
    private int reportedStep;
    /** Its slots once the prompt is encoded: the loop's, then the finisher's. */
    PreparedJob prepared;
    /**
     * Done when every live preview handed to the finisher so far is judged (and told, or
     * withheld): the loop chains each new one on; the finisher waits for it before it judges the
     * finished job, so that every preview reaches the watcher before the answer.
     */
    volatile CompletableFuture<Void> livePreviews = CompletableFuture.completedFuture(null);

    EngineJob(GenerationRequest request, long sequence, JobEvents events, Served served) {
        this.request = request;
        this.sequence = sequence;
        this.events = events;
        this.served = served;
        future.whenComplete((result, failure) -> end(JobState.endOf(failure)));
    }

    /** Where the job is now; an end as soon as its future is complete. */
    JobState state() {
        JobState now = state.get();
        if (!now.isTerminal() && future.isDone()) {
            return future.handle((r, e) -> JobState.endOf(e)).join(); // completed, its end not recorded yet
        }
        return now;
    }

    /** Whether the job's caller has its answer (a result, a refusal, or why there is none). */
    boolean isAnswered() {
        return future.isDone();
    }

    /**
     * Moves the job on in its life.
     *
     * @return false, without moving it, when the job was answered meanwhile
     * @throws IllegalStateException when its state does not lead to {@code next} (a bug)
     */
    boolean moveTo(JobState next) {
        while (true) {
            JobState now = state.get();
            if (now.isTerminal() || future.isDone()) {
                return false;
            }
            if (!now.canMoveTo(next)) {
                throw new IllegalStateException("a job cannot go from " + now + " to " + next);
            }
            if (state.compareAndSet(now, next)) {
                return true;
            }
        }
    }

    /** Records the end its completed future stands for. */
    private void end(JobState end) {
        while (true) {
            JobState now = state.get();
            if (now.isTerminal()) {
                return;
            }
            if (!now.canMoveTo(end)) {
                LOG.warning("a job " + now.description() + " was answered as " + end + "; recorded as failed");
                end = JobState.FAILED;
            }
            if (state.compareAndSet(now, end)) {
                return;
            }
        }
    }

    /** What the {@link StepScheduler} sees of the job: its state, its models and its candidates' progress. */
    JobView view() {
        // Built as an array wrapped by List.of, which JobView's List.copyOf keeps as it is (no second copy
        // at every step).
        JobView.Slot[] slots = new JobView.Slot[prepared == null ? 0 : prepared.slots().size()];
        if (prepared != null) {
            List<DenoisingSlot> all = prepared.slots();
            for (int i = 0; i < slots.length; i++) {
                DenoisingSlot s = all.get(i);
                boolean done = s.isDone();
                slots[i] = new JobView.Slot(i, s.shapeKey(), s.rows(), s.stepIndex(), s.totalSteps(),
                        done ? Double.NaN : s.currentTimestep(), done, s.isPruned());
            }
        }
        return new JobView(sequence, state(), served, served.bestOfN.pipeline().unet().acceptsPerRowTimesteps(),
                request.deadlineNanos(), prepared == null ? Integer.MAX_VALUE : prepared.holdAtStep(), List.of(slots));
    }

    /** Loop thread: its candidates still taking steps. */
    int slotsDenoising() {
        if (prepared == null) {
            return 0;
        }
        int n = 0;
        for (DenoisingSlot s : prepared.slots()) {
            n += s.isDone() ? 0 : 1;
        }
        return n;
    }

    /** Loop thread: tells a watcher how far the slowest live candidate has come, when that changed. */
    void reportProgress() {
        if (events == JobEvents.NONE || prepared == null) {
            return;
        }
        List<DenoisingSlot> live = prepared.liveSlots();
        int step = live.stream().mapToInt(DenoisingSlot::stepIndex).min().orElse(0);
        if (step > reportedStep) {
            reportedStep = step;
            int alive = live.size();
            tell(e -> e.progress(step, request.steps(), alive));
        }
    }

    /** Hands an event to the job's watcher; a watcher that throws is not the job's problem. */
    void tell(Consumer<JobEvents> event) {
        if (events == JobEvents.NONE) {
            return;
        }
        try {
            event.accept(events);
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "a job's event listener failed", e);
        }
    }
}
