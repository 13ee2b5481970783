package dev.winnow.capacity;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a simulated run did: every request's answer, the queue depth over time, and how busy the
 * device was.
 *
 * @param answers    one per request, in the order they were answered (rejected ones at arrival)
 * @param depth      the jobs admitted and not answered, at every change
 * @param wallNanos  the run's span: from its start to the last answer or the device's last call, whichever is later
 * @param busyNanos  the device's time inside model calls (with a profile's overlap: while any call ran)
 * @param unetCalls  UNet calls made
 * @param unetRows   UNet rows in them
 */
public record SimReport(List<Answer> answers, List<DepthPoint> depth, long wallNanos, long busyNanos, long unetCalls,
                        long unetRows) {

    public SimReport {
        answers = List.copyOf(answers);
        depth = List.copyOf(depth);
    }

    /** How a request ended: answered (200 or a judged 422), refused at the door (429), or past its deadline (504). */
    public enum Outcome {
        ANSWERED, REJECTED, EXPIRED
    }

    /** One request's end; {@code answeredNanos} includes the host's per-job cost (the PNG). */
    public record Answer(long job, long arrivedNanos, long answeredNanos, Outcome outcome) {
        public double latencyMillis() {
            return (answeredNanos - arrivedNanos) / 1e6;
        }
    }

    public record DepthPoint(long atNanos, int depth) {
    }

    public long count(Outcome o) {
        return answers.stream().filter(a -> a.outcome() == o).count();
    }

    /** Answered requests per second, from the first arrival to the last answer. */
    public double throughput() {
        long first = answers.stream().mapToLong(Answer::arrivedNanos).min().orElse(0);
        long last = answers.stream().filter(a -> a.outcome() == Outcome.ANSWERED).mapToLong(Answer::answeredNanos).max()
                .orElse(first);
        return last > first ? count(Outcome.ANSWERED) / ((last - first) / 1e9) : 0;
    }

    /** The {@code p}-th percentile (nearest rank) of the answered requests' latency, in ms; NaN when none. */
    public double latencyPercentile(double p) {
        double[] ms = answers.stream().filter(a -> a.outcome() == Outcome.ANSWERED).mapToDouble(Answer::latencyMillis)
                .sorted().toArray();
        return percentile(ms, p);
    }

    /** Nearest-rank percentile of sorted values. */
    public static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(p / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    /** The device's busy share of the run's span. */
    public double busyShare() {
        return wallNanos == 0 ? 0 : (double) busyNanos / wallNanos;
    }

    /** The queue depth's time-weighted mean over the run. */
    public double meanDepth() {
        double area = 0;
        for (int i = 0; i + 1 < depth.size(); i++) {
            area += depth.get(i).depth() * (double) (depth.get(i + 1).atNanos() - depth.get(i).atNanos());
        }
        return wallNanos == 0 ? 0 : area / wallNanos;
    }

    public int maxDepth() {
        return depth.stream().mapToInt(DepthPoint::depth).max().orElse(0);
    }

    /** The deepest queue in each {@code bucketSeconds} of the run: queue depth over time. */
    public List<Integer> depthOverTime(double bucketSeconds) {
        long bucket = Math.max(1, Math.round(bucketSeconds * 1e9));
        List<Integer> out = new ArrayList<>();
        int current = 0;
        int at = 0;
        for (long start = 0; start < wallNanos; start += bucket) {
            int max = current;
            while (at < depth.size() && depth.get(at).atNanos() < start + bucket) {
                current = depth.get(at).depth();
                max = Math.max(max, current);
                at++;
            }
            out.add(max);
        }
        return out;
    }

    /** A few lines for a person. */
    public String summary() {
        return String.format(Locale.ROOT,
                "requests %d: answered %d, rejected (429) %d, expired (504) %d%n"
                        + "throughput %.3f req/s; latency p50 %.0f ms, p95 %.0f ms, p99 %.0f ms%n"
                        + "device busy %.1f%% of %.1f s; queue depth mean %.2f, max %d; UNet calls %d, mean rows %.1f",
                answers.size(), count(Outcome.ANSWERED), count(Outcome.REJECTED), count(Outcome.EXPIRED), throughput(),
                latencyPercentile(50), latencyPercentile(95), latencyPercentile(99), 100 * busyShare(), wallNanos / 1e9,
                meanDepth(), maxDepth(), unetCalls, unetCalls == 0 ? 0 : (double) unetRows / unetCalls);
    }
}
