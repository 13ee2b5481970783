package dev.winnow.engine;

import dev.winnow.judge.Verdict;

/**
 * What the engine reports as it works; {@code ops} turns it into metrics. Keeps the engine
 * free of any metrics library. Implementations must be cheap and never throw.
 */
public interface EngineObserver {

    default void unetBatch(int rows) {
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
