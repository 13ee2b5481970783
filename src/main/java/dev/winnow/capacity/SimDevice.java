package dev.winnow.capacity;

import java.util.ArrayDeque;

/**
 * The simulated device: model calls from the engine loop and from the finishing threads, each
 * taking its profile time, in the {@link Simulator}'s virtual time.
 * <ul>
 * <li>Without {@link DeviceProfile.Overlap}: one call at a time, first issued first served,
 *     whichever thread issued it (kernels from several threads share one GPU). Busy time is the
 *     sum of the calls.</li>
 * <li>With it: the loop's calls and the finishing threads' calls each queue on their own lane
 *     (first issued first served within it), and the two lanes' calls run at once, each slowed by
 *     its lane's factor while the other lane is busy (processor sharing: a call's remaining work
 *     is its time alone, done at rate 1, or 1/slowdown while both run). Busy time is the time
 *     when at least one lane runs, so it never exceeds the clock either.</li>
 * </ul>
 */
final class SimDevice {

    /** Who issued a call. */
    enum Lane {
        /** The engine loop (or a baseline's single worker): text encoder and UNet calls. */
        LOOP,
        /** A finishing thread: VAE decodes and judges. */
        FINISHING
    }

    /** The simulation's clock and event queue, as the device sees them. */
    interface Clock {
        long now();

        void at(long nanos, Runnable action);
    }

    private record Call(long nanos, Runnable then) {
    }

    /** One lane's queue and its running call's remaining work (in nanoseconds of the call alone). */
    private static final class Queue {
        final ArrayDeque<Call> waiting = new ArrayDeque<>();
        final double slowdown;
        Call running;
        double remaining;
        long token;

        Queue(double slowdown) {
            this.slowdown = slowdown;
        }
    }

    private final Clock clock;
    private final DeviceProfile.Overlap overlap;
    private final Queue loop;
    private final Queue finishing;
    private final Queue[] lanes;
    private long freeAt;      // without overlap: when the last issued call ends
    private long lastUpdate;  // with overlap: when the lanes' remaining work was last brought up to date
    private long busy;
    private long lastEnd;

    SimDevice(Clock clock, DeviceProfile.Overlap overlap) {
        this.clock = clock;
        this.overlap = overlap;
        this.loop = new Queue(overlap == null ? 1 : overlap.loopSlowdown());
        this.finishing = new Queue(overlap == null ? 1 : overlap.finishingSlowdown());
        this.lanes = new Queue[] {loop, finishing};
    }

    /** Issues a call of {@code nanos} (its time alone) from {@code lane}; {@code then} runs when it ends. */
    void call(Lane lane, long nanos, Runnable then) {
        long now = clock.now();
        if (overlap == null) {
            long start = Math.max(now, freeAt);
            freeAt = start + nanos;
            busy += nanos;
            lastEnd = Math.max(lastEnd, freeAt);
            clock.at(freeAt, then);
            return;
        }
        Queue q = lane == Lane.LOOP ? loop : finishing;
        q.waiting.add(new Call(nanos, then));
        if (q.running != null) {
            return; // it waits its turn; no running call's rate changes
        }
        advance(now);
        startNext(q);
        reschedule(now);
    }

    /** Busy time so far: the sum of the calls, or with overlap the time any lane was running. */
    long busyNanos() {
        return busy;
    }

    /** When the last call ended (without overlap: when the last call issued so far ends). */
    long lastEndNanos() {
        return lastEnd;
    }

    private boolean both() {
        return loop.running != null && finishing.running != null;
    }

    /** Brings the running calls' remaining work up to {@code now}, at the rates that held since the last update. */
    private void advance(long now) {
        long dt = now - lastUpdate;
        if (dt > 0) {
            boolean both = both();
            for (Queue q : lanes) {
                if (q.running != null) {
                    q.remaining -= both ? dt / q.slowdown : dt;
                }
            }
            if (loop.running != null || finishing.running != null) {
                busy += dt;
            }
        }
        lastUpdate = now;
    }

    private static void startNext(Queue q) {
        q.running = q.waiting.poll();
        q.remaining = q.running == null ? 0 : q.running.nanos();
    }

    /** Schedules each running call's end at the current rates; an earlier schedule of it goes stale. */
    private void reschedule(long now) {
        boolean both = both();
        for (Queue q : lanes) {
            if (q.running != null) {
                long token = ++q.token;
                long end = now + (long) Math.ceil(Math.max(0, q.remaining) * (both ? q.slowdown : 1));
                clock.at(end, () -> ended(q, token));
            }
        }
    }

    private void ended(Queue q, long token) {
        if (token != q.token) {
            return; // rescheduled since: the rates changed
        }
        long now = clock.now();
        advance(now);
        Runnable then = q.running.then();
        startNext(q);
        reschedule(now);
        lastEnd = Math.max(lastEnd, now);
        then.run();
    }
}
