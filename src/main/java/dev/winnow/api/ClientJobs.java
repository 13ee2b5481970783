package dev.winnow.api;

import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.JobEvents;
import dev.winnow.engine.WinnowEngine;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.infrastructure.Infrastructure;
import io.vertx.ext.web.RoutingContext;
import jakarta.ws.rs.sse.OutboundSseEvent;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/**
 * A job handed to the engine on behalf of one HTTP exchange, the same way for every route that
 * generates ({@code /generate} and {@code /v1/images/generations}, plain or streamed): a client
 * that goes away cancels its job (its slots leave the batch at the next step), and the answer is
 * shaped (PNG, base64, JSON) on a worker thread, never on the engine's finishing thread.
 */
final class ClientJobs {

    private ClientJobs() {
    }

    /** A plain answer: the result shaped by {@code shape} once the job finishes. */
    static <T> Uni<T> answer(WinnowEngine engine, GenerationRequest job, RoutingContext http,
                             Function<GenerationResult, T> shape) {
        CompletableFuture<GenerationResult> pending = engine.submit(job);
        http.response().closeHandler(closed -> pending.cancel(true));
        return Uni.createFrom().completionStage(pending)
                .onCancellation().invoke(() -> pending.cancel(true))
                .emitOn(Infrastructure.getDefaultWorkerPool())
                .map(shape);
    }

    /** What a stream sends last: the result's events, or the failure's (never null), when the client is still there. */
    interface LastEvents {
        void send(GenerationResult result, Throwable failure);
    }

    /**
     * A streamed answer: the watcher's events as they happen, then {@code last}'s, then the end of
     * the stream, whatever {@code last} did. A cancelled job (the client has gone) sends nothing last.
     */
    static Multi<OutboundSseEvent> stream(WinnowEngine engine, GenerationRequest job, JobEvents watcher,
                                          EventStream events, RoutingContext http, LastEvents last) {
        CompletableFuture<GenerationResult> pending = engine.submit(job, watcher);
        http.response().closeHandler(closed -> pending.cancel(true));
        pending.whenCompleteAsync((result, failure) -> {
            try {
                Throwable cause = failure instanceof CompletionException && failure.getCause() != null
                        ? failure.getCause() : failure;
                if (!(cause instanceof CancellationException)) {
                    last.send(result, cause);
                }
            } finally {
                events.end(); // a stream never stays open without its end
            }
        }, Infrastructure.getDefaultWorkerPool());
        return events.multi(() -> pending.cancel(true));
    }
}
