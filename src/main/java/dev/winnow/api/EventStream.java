package dev.winnow.api;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.operators.multi.processors.UnicastProcessor;
import jakarta.ws.rs.sse.OutboundSseEvent;
import jakarta.ws.rs.sse.Sse;

/**
 * One response's Server-Sent Events: each event's data is JSON on one line; events from several
 * threads (the engine's, a worker's) are serialised, so they never interleave, and kept until the
 * client subscribes. Once {@link #end()} is called nothing more is sent.
 */
final class EventStream {

    private final Sse sse;
    private final ObjectMapper json;
    private final UnicastProcessor<OutboundSseEvent> events = UnicastProcessor.create();
    /** Guarded by {@link #events}. */
    private boolean ended;

    EventStream(Sse sse, ObjectMapper json) {
        this.sse = sse;
        this.json = json;
    }

    /** Sends one event, its data written as JSON; nothing once the stream has ended. */
    void send(String name, Object data) {
        String text;
        try {
            text = json.writeValueAsString(data);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("an event that cannot be written as JSON: " + name, e);
        }
        OutboundSseEvent event = sse.newEventBuilder().name(name).data(text).build();
        synchronized (events) {
            if (!ended) {
                events.onNext(event);
            }
        }
    }

    /** Ends the stream (idempotent): a stream never stays open without its end. */
    void end() {
        synchronized (events) {
            if (!ended) {
                ended = true;
                events.onComplete();
            }
        }
    }

    /** The events for the response; {@code onCancel} runs when the client goes away. */
    Multi<OutboundSseEvent> multi(Runnable onCancel) {
        return events.onCancellation().invoke(onCancel);
    }
}
