package dev.winnow.capacity;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import org.junit.jupiter.api.Test;

/** The simulated device's two ways of sharing itself, on schedules worked out by hand. */
class SimDeviceTest {

    /** A clock that runs the device's events in time order, ties in the order they were scheduled. */
    static final class Clock implements SimDevice.Clock {
        record Event(long at, long seq, Runnable action) {
        }

        final PriorityQueue<Event> events = new PriorityQueue<>((a, b) -> a.at != b.at ? Long.compare(a.at, b.at)
                : Long.compare(a.seq, b.seq));
        long now;
        long seq;

        @Override
        public long now() {
            return now;
        }

        @Override
        public void at(long nanos, Runnable action) {
            events.add(new Event(nanos, seq++, action));
        }

        void runAll() {
            while (!events.isEmpty()) {
                Event e = events.poll();
                now = e.at;
                e.action.run();
            }
        }
    }

    static final long MS = 1_000_000L;

    /** Issues each call at its time and returns when each ended, in ms, by name. */
    static Map<String, Double> ends(DeviceProfile.Overlap overlap, long[] busyOut, Object... calls) {
        Clock clock = new Clock();
        SimDevice device = new SimDevice(clock, overlap);
        Map<String, Double> ends = new LinkedHashMap<>();
        for (int i = 0; i < calls.length; i += 4) {
            String name = (String) calls[i];
            SimDevice.Lane lane = (SimDevice.Lane) calls[i + 1];
            long at = Math.round(((Number) calls[i + 2]).doubleValue() * MS);
            long nanos = Math.round(((Number) calls[i + 3]).doubleValue() * MS);
            clock.at(at, () -> device.call(lane, nanos, () -> ends.put(name, clock.now() / (double) MS)));
        }
        clock.runAll();
        busyOut[0] = device.busyNanos();
        assertEquals(ends.values().stream().mapToDouble(Double::doubleValue).max().orElse(0) * MS, device.lastEndNanos(), 1);
        return ends;
    }

    static final SimDevice.Lane LOOP = SimDevice.Lane.LOOP;
    static final SimDevice.Lane FINISHING = SimDevice.Lane.FINISHING;

    @Test
    void withoutOverlapCallsFromBothLanesRunOneAtATimeFirstIssuedFirstServed() {
        long[] busy = new long[1];
        Map<String, Double> end = ends(null, busy, "unet", LOOP, 0, 10, "judge", FINISHING, 2, 6, "unet2", LOOP, 3, 1);
        assertEquals(Map.of("unet", 10.0, "judge", 16.0, "unet2", 17.0), end);
        assertEquals(17 * MS, busy[0]);
    }

    @Test
    void twoCallsAtOnceEachRunAtTheirSlowedRateUntilTheOtherEnds() {
        long[] busy = new long[1];
        // Slowdowns 2 and 2, both from 0: the 4 ms judge ends at 8; the UNet has done 4 of its 10 ms
        // by then and runs the other 6 alone: it ends at 14.
        Map<String, Double> end = ends(new DeviceProfile.Overlap(2, 2), busy, "unet", LOOP, 0, 10, "judge", FINISHING, 0, 4);
        assertEquals(8.0, end.get("judge"), 1e-6);
        assertEquals(14.0, end.get("unet"), 1e-6);
        assertEquals(14 * MS, busy[0], 1);
    }

    @Test
    void aCallThatJoinsLaterSlowsTheRunningOneOnlyFromThen() {
        long[] busy = new long[1];
        // The UNet (10 ms) alone 0-2: 8 left. From 2 the UNet at 1/1.5 and the judge (6 ms) at 1/3:
        // the UNet ends at 2 + 8 x 1.5 = 14, when the judge has done 4; its last 2 alone: 16.
        Map<String, Double> end = ends(new DeviceProfile.Overlap(1.5, 3), busy, "unet", LOOP, 0, 10, "judge", FINISHING, 2, 6);
        assertEquals(14.0, end.get("unet"), 1e-6);
        assertEquals(16.0, end.get("judge"), 1e-6);
        assertEquals(16 * MS, busy[0], 1);
    }

    @Test
    void callsOfOneLaneStillQueueBehindEachOther() {
        long[] busy = new long[1];
        // Slowdowns 1 (the lanes are independent): two judges queue on the finishing lane, the UNet runs beside them.
        Map<String, Double> end = ends(new DeviceProfile.Overlap(1, 1), busy,
                "judge1", FINISHING, 0, 3, "judge2", FINISHING, 1, 3, "unet", LOOP, 1, 4);
        assertEquals(Map.of("judge1", 3.0, "judge2", 6.0, "unet", 5.0), end);
        assertEquals(6 * MS, busy[0], 1);
    }

    @Test
    void busyTimeIsWhenAnyLaneRunsSoAGapIsNotCounted() {
        long[] busy = new long[1];
        Map<String, Double> end = ends(new DeviceProfile.Overlap(1.2, 1.2), busy, "a", LOOP, 0, 2, "b", FINISHING, 5, 1);
        assertEquals(List.of(2.0, 6.0), new ArrayList<>(end.values()));
        assertEquals(3 * MS, busy[0], 1);
    }
}
