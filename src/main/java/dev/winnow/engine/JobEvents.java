package dev.winnow.engine;

/**
 * What happens to one job as it happens, for a client that watches it (Server-Sent Events).
 * Called from the engine's threads (the loop, a finishing thread), each kind of event one at a
 * time per job and in order; a live {@link #preview} (a finishing thread) may be told while the
 * loop tells {@link #progress}, so implementations must be thread-safe. They must be quick and
 * never block or throw — they hand the event on.
 */
public interface JobEvents {

    /** Admitted: {@code ahead} jobs were admitted before it and are not answered yet. */
    default void queued(int ahead) {
    }

    /**
     * Denoising advanced: every candidate still alive has taken at least {@code step} of
     * {@code steps} steps; {@code alive} are still being denoised (fewer once pruned).
     */
    default void progress(int step, int steps, int alive) {
    }

    /** A candidate's outcome: pruned (with its preview score) as it is pruned, the others as they are judged. */
    default void candidate(CandidateResult candidate) {
    }

    /**
     * A live preview at one of the evenly spread steps the job asked for
     * ({@link GenerationRequest#previews()}), one at a time, in step order and before the job is
     * answered: sent
     * (judged safe) or withheld (nothing judged safe; then it carries no pixels).
     */
    default void preview(LivePreview preview) {
    }

    JobEvents NONE = new JobEvents() {
    };
}
