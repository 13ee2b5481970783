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

    /**
     * Whether this observer wants {@link #ranked}: the engine builds a ranking (copying the final
     * latents) only when some observer does.
     */
    default boolean wantsRankings() {
        return false;
    }

    /**
     * A finished job's ranking and final latents, on the finishing thread that judged it (hand
     * any I/O to a thread of your own). Jobs that were cancelled, expired or failed have none.
     */
    default void ranked(RankedGeneration generation) {
    }

    /** A live swap's outcome: swapped, refused (memory budget) or failed (did not load or warm up). */
    default void modelSwap(String outcome) {
    }

    /** The models in service (or in memory) changed: a swap, or a replaced set closed. */
    default void modelsChanged() {
    }

    /** A finished request: ok, no_safe_candidate, deadline, error, invalid, queue_full, not_ready. */
    default void request(String outcome, long nanos) {
    }
}
