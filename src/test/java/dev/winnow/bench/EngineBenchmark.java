package dev.winnow.bench;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.engine.BestOfN;
import dev.winnow.engine.EngineLoop;
import dev.winnow.engine.EngineObserver;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.NoSafeCandidateException;
import dev.winnow.engine.UnetStepper;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.OnnxSessions;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The engine's speed, as ratios measured in one process (the machines are noisy, so only
 * ratios from the same run are compared). Not a test: run it with
 *
 * <pre>./mvnw -B test-compile exec:java -Pbench [-Dbench.args="--heap-requests 10000"]</pre>
 *
 * on the embedded tiny-shapes pack and judges, and paste its printout into docs/PERFORMANCE.md.
 */
public final class EngineBenchmark {

    static final String PROMPT = "a red circle on a white background";

    public static void main(String[] args) throws Exception {
        int heapRequests = intArg(args, "--heap-requests", 10_000);
        int steps = intArg(args, "--steps", 20);
        OnnxSessions sessions = OnnxSessions.create(DeviceChoice.CPU, 0, 0);
        DiffusionPipeline pipeline = DiffusionPipeline.load(Path.of("models/tiny-shapes"), sessions);
        SafetyJudge safety = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, null);
        List<ScoreJudge> scorers = List.of(ScoreJudge.load(Path.of("models/judges/aesthetic-tiny"), sessions),
                ScoreJudge.load(Path.of("models/judges/faithfulness-tiny"), sessions));
        BestOfN bestOfN = new BestOfN(pipeline, safety, scorers,
                new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0)), 32);
        System.out.printf(Locale.ROOT, "Winnow engine benchmark — %s, %d cores, JDK %s, %s%n", pipeline.name(),
                Runtime.getRuntime().availableProcessors(), Runtime.version(), System.getProperty("os.arch"));
        System.out.printf(Locale.ROOT, "jobs: \"%s\", DDIM %d steps, guidance 5 (2 UNet rows per candidate)%n%n", PROMPT, steps);

        warm(bestOfN, steps);
        unetCostPerRow(pipeline);
        batchedVersusSequential(bestOfN, steps);
        engineOverhead(bestOfN, steps);
        stepLevelBatching(bestOfN, steps);
        heapFlatness(bestOfN, heapRequests);

    }

    static GenerationRequest job(int n, long seed, int steps) {
        return new GenerationRequest(PROMPT, "", n, steps, 5.0, seed, 64, 64, "ddim", false, Map.of(),
                System.nanoTime() + 3_600_000_000_000L);
    }

    static void run(BestOfN b, GenerationRequest job) {
        try {
            b.generate(job, rows -> { });
        } catch (NoSafeCandidateException e) {
            // judged and refused: the work was done all the same
        }
    }

    static void warm(BestOfN b, int steps) {
        for (int i = 0; i < 5; i++) {
            run(b, job(4, i, steps));
        }
    }

    /** The ceiling on any batching gain here: the UNet's time per row as the batch grows. */
    static void unetCostPerRow(DiffusionPipeline p) throws Exception {
        System.out.println("0. UNet time per call and per row by batch size (raw model calls)");
        System.out.println("   rows   ms/call   ms/row");
        int latent = p.defaultSize() / p.vaeScale();
        int tokens = p.tokenizer().maxLength();
        for (int rows : new int[] {1, 2, 4, 8, 16, 32}) {
            float[] sample = new float[rows * p.unet().channels() * latent * latent];
            float[] states = new float[rows * tokens * p.unet().textWidth()];
            double[] t = new double[rows];
            java.util.Arrays.fill(t, 500);
            for (int i = 0; i < 5; i++) {
                p.unet().predict(sample, rows, latent, latent, t, states, tokens);
            }
            int reps = 50;
            long t0 = System.nanoTime();
            for (int i = 0; i < reps; i++) {
                p.unet().predict(sample, rows, latent, latent, t, states, tokens);
            }
            double ms = (System.nanoTime() - t0) / 1e6 / reps;
            System.out.printf(Locale.ROOT, "   %4d  %8.2f  %7.3f%n", rows, ms, ms / rows);
        }
        System.out.println();
    }

    /** Images/s with N candidates in one job vs N one-candidate jobs in a row. */
    static void batchedVersusSequential(BestOfN b, int steps) {
        System.out.println("1. N candidates in one job vs N sequential one-candidate jobs (images/s)");
        System.out.println("   N   one job   sequential   ratio");
        for (int n : new int[] {1, 4, 8, 16}) {
            int reps = Math.max(2, 16 / n);
            long t0 = System.nanoTime();
            for (int r = 0; r < reps; r++) {
                run(b, job(n, 100 + r, steps));
            }
            double batched = (double) n * reps / seconds(t0);
            long t1 = System.nanoTime();
            for (int r = 0; r < reps; r++) {
                for (int i = 0; i < n; i++) {
                    run(b, job(1, 100 + r + i, steps));
                }
            }
            double sequential = (double) n * reps / seconds(t1);
            System.out.printf(Locale.ROOT, "  %2d  %8.1f  %11.1f  %5.2fx%n", n, batched, sequential, batched / sequential);
        }
        System.out.println();
    }

    /** A job's wall time vs the time spent inside ONNX Runtime's run calls for it. */
    static void engineOverhead(BestOfN b, int steps) {
        System.out.println("2. end-to-end job time vs the sum of the raw OrtSession.run times inside it");
        System.out.println("   N   job ms   ort ms   ratio");
        for (int n : new int[] {1, 4, 8}) {
            int reps = 10;
            long ort0 = ModelSession.totalRunNanos();
            long t0 = System.nanoTime();
            for (int r = 0; r < reps; r++) {
                run(b, job(n, 200 + r, steps));
            }
            double wall = (System.nanoTime() - t0) / 1e6 / reps;
            double ort = (ModelSession.totalRunNanos() - ort0) / 1e6 / reps;
            System.out.printf(Locale.ROOT, "  %2d  %7.1f  %7.1f  %5.3fx%n", n, wall, ort, wall / ort);
        }
        System.out.println();
    }

    /** 8 clients, each sending N=2 jobs back to back, with step-level batching on and off. */
    static void stepLevelBatching(BestOfN b, int steps) throws Exception {
        System.out.println("3. 8 concurrent clients (N = 2 each): step-level batching across jobs on vs off");
        double on = clients(b, steps, true);
        double off = clients(b, steps, false);
        System.out.printf(Locale.ROOT, "   on %.1f images/s, off %.1f images/s, ratio %.2fx%n%n", on, off, on / off);
    }

    static double clients(BestOfN b, int steps, boolean acrossJobs) throws Exception {
        int clients = 8;
        int jobsEach = 6;
        EngineLoop loop = new EngineLoop(b, 64, 32, acrossJobs, UnetStepper.DIRECT, new EngineObserver() { });
        ExecutorService pool = Executors.newFixedThreadPool(clients);
        try {
            long t0 = System.nanoTime();
            List<Future<?>> done = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                done.add(pool.submit(() -> {
                    for (int j = 0; j < jobsEach; j++) {
                        try {
                            loop.submit(job(2, 1000L * client + j, steps)).join();
                        } catch (CompletionException e) {
                            if (!(e.getCause() instanceof NoSafeCandidateException)) {
                                throw e;
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
            return clients * jobsEach * 2 / seconds(t0);
        } finally {
            pool.shutdownNow();
            loop.close();
        }
    }

    /** Used heap after a full GC, after 1,000 and after N requests. */
    static void heapFlatness(BestOfN b, int requests) {
        System.out.printf(Locale.ROOT, "4. heap after %d requests vs after 1,000 (N = 1, 4 steps, through the engine loop)%n", requests);
        EngineLoop loop = new EngineLoop(b, 8, 32, true, UnetStepper.DIRECT, new EngineObserver() { });
        long after1000 = 0;
        long t0 = System.nanoTime();
        for (int i = 1; i <= requests; i++) {
            try {
                GenerationResult r = loop.submit(job(1, i, 4)).join();
                if (r.png().length == 0) {
                    throw new IllegalStateException();
                }
            } catch (CompletionException e) {
                if (!(e.getCause() instanceof NoSafeCandidateException)) {
                    throw e;
                }
            }
            if (i == 1000) {
                after1000 = usedHeapAfterGc();
            }
        }
        long afterAll = usedHeapAfterGc();
        loop.close();
        System.out.printf(Locale.ROOT, "   after 1,000: %.1f MiB, after %d: %.1f MiB, ratio %.3f (%.0f s)%n", after1000 / 1048576.0,
                requests, afterAll / 1048576.0, (double) afterAll / after1000, seconds(t0));
    }

    static long usedHeapAfterGc() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    static double seconds(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    static int intArg(String[] args, String name, int dflt) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return Integer.parseInt(args[i + 1]);
            }
        }
        return dflt;
    }
}
