package dev.winnow.engine;

import dev.winnow.judge.Verdict;

/**
 * What the engine reports as it works; {@code ops} turns it into metrics. Keeps the engine
 * free of any metrics library. Implementations must be cheap and never throw.
 */
public interface EngineObserver {

    /** One UNet call that completed, with its rows. */
    default void unetBatch(int rows) {
    }

    /**
     * The UNet calls one engine step took: 1, or one per distinct timestep when the UNet takes a
     * single (rank-0) timestep and the step's rows were at several.
     */
    default void unetCallsPerStep(int calls) {
    }

    /** How long a job waited between admission and the start of its work. */
    default void queued(long nanos) {
    }

    default void stage(String stage, long nanos) {
    }

    default void candidate(Verdict verdict) {
    }

    default void noSafeCandidate() {
    }

    /** A request refused before generation: queue_full, deadline, policy, invalid. */
    default void rejected(String reason) {
    }

    /** A finished request: ok, no_safe_candidate, deadline, error, invalid, queue_full, not_ready. */
    default void request(String outcome, long nanos) {
    }
}
