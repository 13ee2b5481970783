package dev.winnow.engine;

import java.util.function.Consumer;

/**
 * A {@link BestOfN} as the engine loop serves it: how many admitted jobs run on it and how many
 * model calls are inside it now. A live swap retires it; once retired it takes no new job, and
 * when its last job has been answered and its last call has returned it is released (its
 * models may then be closed: no thread will touch them again). Thread-safe.
 */
final class Served {

    final BestOfN bestOfN;
    private final Consumer<BestOfN> onReleased;
    /** Guarded by this. */
    private int jobs;
    private int calls;
    private boolean retired;
    private boolean released;

    Served(BestOfN bestOfN, Consumer<BestOfN> onReleased) {
        this.bestOfN = bestOfN;
        this.onReleased = onReleased;
    }

    /** A model call on this set's models; close it when the call returns. */
    final class Call implements AutoCloseable {
        private Call() {
        }

        @Override
        public void close() {
            boolean release;
            synchronized (Served.this) {
                calls--;
                release = releasable();
            }
            if (release) {
                onReleased.accept(bestOfN);
            }
        }
    }

    /**
     * Begins a model call on this set.
     *
     * @throws IllegalStateException when the set was released: only a job already answered (a
     *                               cancelled one whose slots were still in a batch) can get here
     */
    synchronized Call call() {
        if (released) {
            throw new IllegalStateException("the models of " + bestOfN.pipeline().id() + " were replaced and closed");
        }
        calls++;
        return new Call();
    }

    /** A job admitted on this set. */
    synchronized void jobAdmitted() {
        jobs++;
    }

    /** A job of this set answered. */
    void jobAnswered() {
        boolean release;
        synchronized (this) {
            jobs--;
            release = releasable();
        }
        if (release) {
            onReleased.accept(bestOfN);
        }
    }

    /** No new job will come: released as soon as nothing runs on it (at once when idle). */
    void retire() {
        boolean release;
        synchronized (this) {
            retired = true;
            release = releasable();
        }
        if (release) {
            onReleased.accept(bestOfN);
        }
    }

    /** Jobs admitted on this set and not yet answered. */
    synchronized int jobs() {
        return jobs;
    }

    /** Guarded by this: marks it released when that is due, exactly once. */
    private boolean releasable() {
        if (retired && !released && jobs == 0 && calls == 0) {
            released = true;
            return true;
        }
        return false;
    }
}
