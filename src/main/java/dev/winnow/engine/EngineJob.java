package dev.winnow.engine;

import java.util.concurrent.CompletableFuture;

/**
 * An admitted job as the engine loop sees it: the request, the future the caller waits on,
 * and (once the loop has encoded its prompt) its slots. Any thread may complete the future;
 * {@code prepared} belongs to the loop thread, then to the finisher.
 */
final class EngineJob {

    final GenerationRequest request;
    final CompletableFuture<GenerationResult> future = new CompletableFuture<>();
    final long admittedNanos = System.nanoTime();
    final long sequence;
    /** Who watches the job (a streaming client), or {@link JobEvents#NONE}. */
    final JobEvents events;
    /** Loop thread only: the last step reported to {@link #events}. */
    int reportedStep;
    /** Where the job is, for a deadline's message. */
    volatile String stage = "waiting in the queue";
    PreparedJob prepared;
    /** The models the job runs on, start to end (a live swap serves later jobs on others). */
    final Served served;

    EngineJob(GenerationRequest request, long sequence, JobEvents events, Served served) {
        this.request = request;
        this.sequence = sequence;
        this.events = events;
        this.served = served;
    }
}
