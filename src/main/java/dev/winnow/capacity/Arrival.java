package dev.winnow.capacity;

/**
 * A request arriving at a moment of the simulated run.
 *
 * @param atNanos when, from the run's start
 * @param request what it asks
 * @param body    the {@code POST /generate} body it stands for (what a load generator sends), or null
 */
public record Arrival(long atNanos, SimRequest request, String body) {
}
