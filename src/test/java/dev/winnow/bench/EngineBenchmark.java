package dev.winnow.bench;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.diffusion.PromptEmbedding;
import dev.winnow.engine.BestOfN;
import dev.winnow.engine.EngineLoop;
import dev.winnow.engine.EngineObserver;
import dev.winnow.engine.GenerationRequest;
import dev.winnow.engine.GenerationResult;
import dev.winnow.engine.NoSafeCandidateException;
import dev.winnow.engine.Prune;
import dev.winnow.engine.UnetStepper;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.SafetyVerdict;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.ModelSession;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.onnx.RunBudget;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The engine's speed, as ratios measured in one process (the machines are noisy, so only
 * ratios from the same run are compared). Not a test: run it with
 *
 * <pre>./mvnw -B test-compile exec:java -Pbench [-Dbench.args="--sections 0,1,5 --heap-requests 0"]</pre>
 *
 * on the embedded pack and judges (sections 0–4) and on the SD-1.5-shaped fixture pack at
 * 512² (section 5), and paste its printout into docs/PERFORMANCE.md. It uses only APIs that the
 * engine had before issue 11 (and, where issue 24 changed one, reaches both forms: {@link #bestOfN}),
 * so {@code bench/compare.sh} runs this same file against an older commit for a before/after in
 * one sitting. Every job runs through an {@link EngineLoop} (since issue 24 there is no other way to
 * denoise one): sections 1 and 2 through a one-job engine, one job at a time. The {@code SUMMARY}
 * lines at the end are the figures compare.sh lines up.
 */
public final class EngineBenchmark {

    static final String PROMPT = "a red circle on a white background";
    /**
     * The checkout's own default packs, read from its application.properties, so that
     * bench/compare.sh, which copies this file into an older checkout, measures that checkout's
     * packs (the embedded pack and its judges changed with issue 9).
     */
    static final java.util.Properties DEFAULTS = loadDefaults();
    static final String EMBEDDED = defaultPath("winnow.pipeline.path");

    private static java.util.Properties loadDefaults() {
        java.util.Properties p = new java.util.Properties();
        try (java.io.Reader r = java.nio.file.Files.newBufferedReader(Path.of("src/main/resources/application.properties"))) {
            p.load(r);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("run the benchmark from the repository root (it reads the default packs "
                    + "from src/main/resources/application.properties)", e);
        }
        return p;
    }

    /** A default pack folder from application.properties. */
    static String defaultPath(String key) {
        String path = DEFAULTS.getProperty(key);
        if (path == null) {
            throw new IllegalStateException("application.properties has no " + key);
        }
        return path;
    }
    static final String FIXTURE = "src/test/fixture-packs/sd15-optimum-fixture";
    static final Map<String, Double> SUMMARY = new LinkedHashMap<>();

    public static void main(String[] args) throws Exception {
        int heapRequests = intArg(args, "--heap-requests", 10_000);
        int steps = intArg(args, "--steps", 20);
        String pack = stringArg(args, "--pack", EMBEDDED);
        String fixture = stringArg(args, "--fixture", FIXTURE);
        Set<Integer> sections = new TreeSet<>();
        for (String s : stringArg(args, "--sections", "0,1,2,3,4,5,6").split(",")) {
            sections.add(Integer.parseInt(s.trim()));
        }
        OnnxSessions sessions = OnnxSessions.create(DeviceChoice.CPU, 0, 0);
        System.out.printf(Locale.ROOT, "Winnow engine benchmark — %d cores, JDK %s, %s, load average at start %s%n",
                Runtime.getRuntime().availableProcessors(), Runtime.version(), System.getProperty("os.arch"), loadAverage());
        System.out.printf(Locale.ROOT, "jobs: \"%s\", DDIM %d steps, guidance 5 (2 UNet rows per candidate)%n%n", PROMPT, steps);
        if (sections.stream().anyMatch(s -> s <= 4 || s == 6)) {
            DiffusionPipeline pipeline = DiffusionPipeline.load(Path.of(pack), sessions);
            BestOfN bestOfN = bestOfN(pipeline, defaultSafety(sessions), defaultScorers(sessions),
                    new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0)));
            System.out.printf(Locale.ROOT, "Sections 0-4: pack %s (%s), its default size, the embedded judges%n%n",
                    pipeline.name(), pack);
            warm(bestOfN, steps);
            double[] curve = null;
            if (sections.contains(0) || sections.contains(1)) {
                curve = unetCostPerRow(pipeline);
            }
            if (sections.contains(1)) {
                batchedVersusSequential(bestOfN, steps, curve);
            }
            if (sections.contains(2)) {
                engineOverhead(bestOfN, steps);
            }
            if (sections.contains(3)) {
                stepLevelBatching(bestOfN, steps);
            }
            if (sections.contains(4) && heapRequests > 0) {
                heapFlatness(bestOfN, heapRequests);
            }
            if (sections.contains(6)) {
                pruningUnderLoad(bestOfN.withPreviewJudge(previewJudge(sessions, bestOfN)), steps);
            }
        }
        if (sections.contains(5)) {
            fixtureCosts(sessions, Path.of(fixture), steps);
        }
        System.out.println("Summary (the figures bench/compare.sh puts side by side)");
        SUMMARY.forEach((k, v) -> System.out.printf(Locale.ROOT, "SUMMARY %s %.4f%n", k, v));
        System.exit(0); // the engine loops' daemon threads and ONNX Runtime's pools need not linger
    }

    /**
     * A best-of-N on these models, by whichever constructor the checkout has: the one without a
     * row count (issue 24: best-of-N no longer denoises), or before it the one whose rows (32, the
     * engines' row budget here) sized its own denoising loop.
     */
    static BestOfN bestOfN(DiffusionPipeline p, SafetyJudge safety, List<ScoreJudge> scorers, RankingPolicy ranking) {
        try {
            return BestOfN.class.getConstructor(DiffusionPipeline.class, SafetyJudge.class, List.class, RankingPolicy.class)
                    .newInstance(p, safety, scorers, ranking);
        } catch (NoSuchMethodException e) {
            try {
                return BestOfN.class.getConstructor(DiffusionPipeline.class, SafetyJudge.class, List.class,
                        RankingPolicy.class, int.class).newInstance(p, safety, scorers, ranking, 32);
            } catch (ReflectiveOperationException older) {
                throw new IllegalStateException(older);
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    static SafetyJudge defaultSafety(OnnxSessions sessions) {
        return SafetyJudge.load(Path.of(defaultPath("winnow.judges.safety.path")), sessions, null);
    }

    static List<ScoreJudge> defaultScorers(OnnxSessions sessions) {
        return List.of(ScoreJudge.load(Path.of(defaultPath("winnow.judges.aesthetic.path")), sessions),
                ScoreJudge.load(Path.of(defaultPath("winnow.judges.faithfulness.path")), sessions));
    }

    /** The configured preview judge (winnow.prune.judge-path), or the faithfulness scorer when none is set. */
    static ScoreJudge previewJudge(OnnxSessions sessions, BestOfN b) {
        String path = DEFAULTS.getProperty("winnow.prune.judge-path", "").trim();
        if (!path.isEmpty()) {
            return ScoreJudge.load(Path.of(path), sessions);
        }
        return b.scorers().stream().filter(j -> j.scoreName().equals("faithfulness")).findFirst().orElseThrow();
    }

    /**
     * Speculative best-of-N under load: 4 clients sending N = 8 jobs back to back, pruned 8 → 2 at
     * 0.2 against unpruned, interleaved rounds; requests per second (each answers one image).
     */
    static void pruningUnderLoad(BestOfN b, int steps) throws Exception {
        Prune prune = new Prune(0.2, 2);
        System.out.printf(Locale.ROOT, "6. speculative best-of-N under load: 4 clients x N = 8, pruned %d -> %d at %.1f "
                + "(%.0f%% of the UNet rows) vs unpruned, 3 interleaved rounds%n", 8, prune.keep(), prune.at(),
                100 * prune.rowShare(8, steps));
        List<Double> full = new ArrayList<>();
        List<Double> pruned = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            full.add(clients(b, 4, 4, 8, steps, 64, true, null) / 8);
            pruned.add(clients(b, 4, 4, 8, steps, 64, true, prune) / 8);
        }
        double f = median(full);
        double p = median(pruned);
        System.out.printf(Locale.ROOT, "   unpruned %.2f requests/s, pruned %.2f requests/s, ratio %.2fx%n%n", f, p, p / f);
        SUMMARY.put("embedded.prune8to2.requests_ratio", p / f);
    }

    static GenerationRequest job(int n, long seed, int steps, int size) {
        return job(n, seed, steps, size, "ddim");
    }

    static GenerationRequest job(int n, long seed, int steps, int size, String scheduler) {
        return new GenerationRequest(PROMPT, "", n, steps, 5.0, seed, size, size, scheduler, false, Map.of(),
                System.nanoTime() + 3_600_000_000_000L);
    }

    static GenerationRequest job(int n, long seed, int steps) {
        return job(n, seed, steps, 64);
    }

    /** The one-job engine of each best-of-N that {@link #run} sends its jobs through, one at a time. */
    static final Map<BestOfN, EngineLoop> ALONE = new java.util.IdentityHashMap<>();

    /**
     * One job to its answer through an engine that runs nothing else, PNG included (encoded when
     * asked for since issue 11: asked for here, so both sides pay it).
     */
    static void run(BestOfN b, GenerationRequest job) {
        EngineLoop alone = ALONE.computeIfAbsent(b, k -> new EngineLoop(k, 1, 32, true, UnetStepper.DIRECT,
                new EngineObserver() { }));
        java.util.concurrent.CompletableFuture<dev.winnow.engine.GenerationResult> answer;
        while (true) {
            try {
                answer = alone.submit(job);
                break;
            } catch (dev.winnow.engine.QueueFullException e) {
                // the last job's answer is out, but its admission is released just after: a moment
                Thread.onSpinWait();
            }
        }
        try {
            answer.join().png();
        } catch (CompletionException e) {
            if (!(e.getCause() instanceof NoSafeCandidateException)) {
                throw e; // judged and refused: the work was done all the same; anything else is not
            }
        }
    }

    /** A job's candidates as slots, its prompt encoded once, straight from the pipeline (no engine). */
    static List<DenoisingSlot> slots(DiffusionPipeline p, GenerationRequest job) throws Exception {
        PromptEmbedding prompt = p.encodePrompt(job.prompt(), job.negativePrompt());
        List<DenoisingSlot> slots = new ArrayList<>(job.n());
        for (int i = 0; i < job.n(); i++) {
            slots.add(p.newSlot(job.seed() + i, prompt, job.scheduler(), job.steps(), job.guidanceScale(), job.width(),
                    job.height()));
        }
        return slots;
    }

    static void warm(BestOfN b, int steps) {
        int size = b.pipeline().defaultSize();
        for (int i = 0; i < 5; i++) {
            run(b, job(4, i, steps, size));
        }
    }

    /**
     * The UNet's time per call by rows, and from it the batching ceiling: the most that N guided
     * candidates in one call can gain over N calls of one candidate, N·t(2) / t(2N).
     *
     * @return ms per call, indexed by rows (0 where not measured)
     */
    static double[] unetCostPerRow(DiffusionPipeline p) throws Exception {
        System.out.println("0. UNet time per call and per row by batch size (raw model calls, medians of interleaved rounds), "
                + "and the batching ceiling");
        System.out.println("   rows   ms/call   ms/row");
        int[] sizes = {1, 2, 4, 8, 16, 32};
        double[] msPerCall = new double[33];
        int latent = p.defaultSize() / p.vaeScale();
        int tokens = p.tokenizer().maxLength();
        List<List<Double>> samples = new ArrayList<>();
        for (int rows : sizes) {
            samples.add(new ArrayList<>());
            for (int i = 0; i < 5; i++) {
                predict(p, rows, latent, tokens);
            }
        }
        // Every size in every round, so that a busy spell of the machine falls on all sizes alike.
        for (int round = 0; round < 9; round++) {
            for (int k = 0; k < sizes.length; k++) {
                int reps = 10;
                long t0 = System.nanoTime();
                for (int i = 0; i < reps; i++) {
                    predict(p, sizes[k], latent, tokens);
                }
                samples.get(k).add((System.nanoTime() - t0) / 1e6 / reps);
            }
        }
        for (int k = 0; k < sizes.length; k++) {
            double ms = median(samples.get(k));
            msPerCall[sizes[k]] = ms;
            System.out.printf(Locale.ROOT, "   %4d  %8.2f  %7.3f%n", sizes[k], ms, ms / sizes[k]);
        }
        System.out.println("   batching ceiling (N guided candidates in one call vs N calls of one): N·t(2)/t(2N)");
        for (int n : new int[] {4, 8, 16}) {
            double c = ceiling(msPerCall, n);
            System.out.printf(Locale.ROOT, "   N = %2d: %.2fx%n", n, c);
            SUMMARY.put("embedded.ceiling.n" + n, c);
        }
        System.out.println();
        return msPerCall;
    }

    /** One raw UNet call of {@code rows} zero rows at timestep 500. */
    static void predict(DiffusionPipeline p, int rows, int latent, int tokens) throws Exception {
        float[] sample = new float[rows * p.unet().channels() * latent * latent];
        float[] states = new float[rows * tokens * p.unet().textWidth()];
        double[] t = new double[rows];
        Arrays.fill(t, 500);
        p.unet().predict(sample, rows, latent, latent, t, states, tokens);
    }

    static double ceiling(double[] msPerCall, int n) {
        return n * msPerCall[2] / msPerCall[2 * n];
    }

    /**
     * Images/s with N candidates in one job vs N one-candidate jobs in a row, end to end (both
     * judged) and denoising alone, beside the batching ceiling. Interleaved rounds, medians.
     */
    static void batchedVersusSequential(BestOfN b, int steps, double[] msPerCall) throws Exception {
        System.out.println("1. N candidates in one job vs N sequential one-candidate jobs (images/s, medians of interleaved rounds)");
        System.out.println("   N | end to end, judged: one job  sequential  speed-up | denoising only: one job  sequential  speed-up"
                + " | ceiling | share of ceiling (judged / denoising)");
        for (int n : new int[] {1, 4, 8, 16}) {
            List<Double> oneJob = new ArrayList<>();
            List<Double> sequential = new ArrayList<>();
            List<Double> oneJobDenoise = new ArrayList<>();
            List<Double> sequentialDenoise = new ArrayList<>();
            int rounds = 5;
            int images = Math.max(8, n);
            for (int r = 0; r < rounds; r++) {
                long t0 = System.nanoTime();
                for (int done = 0; done < images; done += n) {
                    run(b, job(n, 100 + r + done, steps));
                }
                oneJob.add(images / seconds(t0));
                long t1 = System.nanoTime();
                for (int i = 0; i < images; i++) {
                    run(b, job(1, 100 + r + i, steps));
                }
                sequential.add(images / seconds(t1));
                oneJobDenoise.add(denoiseImagesPerSecond(b, n, images, steps, 64));
                sequentialDenoise.add(denoiseImagesPerSecond(b, 1, images, steps, 64));
            }
            double speedUp = median(oneJob) / median(sequential);
            double denoiseSpeedUp = median(oneJobDenoise) / median(sequentialDenoise);
            double c = n == 1 ? 1.0 : ceiling(msPerCall, n);
            System.out.printf(Locale.ROOT, "  %2d | %27.1f  %10.1f  %7.2fx | %23.1f  %10.1f  %7.2fx | %6.2fx | %.2f / %.2f%n",
                    n, median(oneJob), median(sequential), speedUp, median(oneJobDenoise), median(sequentialDenoise),
                    denoiseSpeedUp, c, speedUp / c, denoiseSpeedUp / c);
            SUMMARY.put("embedded.n" + n + ".speedup.judged", speedUp);
            SUMMARY.put("embedded.n" + n + ".speedup.denoise", denoiseSpeedUp);
            if (n > 1) {
                SUMMARY.put("embedded.n" + n + ".share_of_ceiling.judged", speedUp / c);
                SUMMARY.put("embedded.n" + n + ".share_of_ceiling.denoise", denoiseSpeedUp / c);
            }
        }
        System.out.println();
    }

    /** Denoising only: {@code images} candidates in jobs of {@code n}, every step of a job in one call. */
    static double denoiseImagesPerSecond(BestOfN b, int n, int images, int steps, int size) throws Exception {
        return denoiseImagesPerSecond(b, n, images, steps, size, "ddim");
    }

    static double denoiseImagesPerSecond(BestOfN b, int n, int images, int steps, int size, String scheduler)
            throws Exception {
        long t0 = System.nanoTime();
        for (int done = 0; done < images; done += n) {
            List<DenoisingSlot> slots = slots(b.pipeline(), job(n, 300 + done, steps, size, scheduler));
            while (!slots.get(0).isDone()) {
                b.pipeline().step(slots);
            }
        }
        return images / seconds(t0);
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
            SUMMARY.put("embedded.n" + n + ".job_over_ort", wall / ort);
        }
        System.out.println();
    }

    /** 8 clients, each sending N=2 jobs back to back, with step-level batching on and off. */
    static void stepLevelBatching(BestOfN b, int steps) throws Exception {
        System.out.println("3. 8 concurrent clients (N = 2 each): step-level batching across jobs on vs off");
        double on = clients(b, 8, 6, 2, steps, 64, true);
        double off = clients(b, 8, 6, 2, steps, 64, false);
        System.out.printf(Locale.ROOT, "   on %.1f images/s, off %.1f images/s, ratio %.2fx%n%n", on, off, on / off);
        SUMMARY.put("embedded.clients8.on_over_off", on / off);
    }

    /** Images/s of {@code clients} clients each sending {@code jobsEach} jobs of N = {@code n} back to back through an engine loop. */
    static double clients(BestOfN b, int clients, int jobsEach, int n, int steps, int size, boolean acrossJobs)
            throws Exception {
        return clients(b, clients, jobsEach, n, steps, size, acrossJobs, null);
    }

    /** @param prune each job's pruning, or null for none */
    static double clients(BestOfN b, int clients, int jobsEach, int n, int steps, int size, boolean acrossJobs,
                          Prune prune) throws Exception {
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
                            loop.submit(job(n, 1000L * client + j, steps, size).withPrune(prune)).join().png();
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
            return (double) clients * jobsEach * n / seconds(t0);
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
        System.out.printf(Locale.ROOT, "   after 1,000: %.1f MiB, after %d: %.1f MiB, ratio %.3f (%.0f s)%n%n", after1000 / 1048576.0,
                requests, afterAll / 1048576.0, (double) afterAll / after1000, seconds(t0));
        SUMMARY.put("embedded.heap_ratio", (double) afterAll / after1000);
    }

    /**
     * The SD-1.5-shaped fixture pack (real interfaces, trivial model bodies) at 512²: what Winnow
     * itself costs per candidate, since the models cost next to nothing.
     */
    static void fixtureCosts(OnnxSessions sessions, Path pack, int steps) throws Exception {
        DiffusionPipeline p = DiffusionPipeline.load(pack, sessions);
        int size = p.defaultSize();
        System.out.printf(Locale.ROOT, "5. SD-1.5-shaped fixture %s at %dx%d (trivial model bodies: the engine's own costs), "
                + "DDIM %d steps, guidance 5%n", p.name(), size, size, steps);
        // the pack's noise generator draws with SIMD only where the JVM has the Vector API
        // (docs/DETERMINISM.md); asked of the JVM, not of NoiseGenerator: bench/compare.sh compiles
        // this file against older commits too
        System.out.println("   (the Vector API module is " + (ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
                ? "present" : "absent: a pack naming vector-box-muller draws its noise scalar") + " in this JVM)");
        BestOfN generationOnly = bestOfN(p, new AllSafe(), List.of(), new RankingPolicy(Map.of()));
        // (a) host time per UNet row: a step's wall time less the time inside OrtSession.run, over its rows
        System.out.println("   a. host overhead per UNet row: (step wall time - time inside OrtSession.run) / rows, steady state");
        System.out.println("      rows   step ms   in run ms   host ms/row");
        for (int n : new int[] {1, 2, 4, 8}) {
            int rows = 2 * n;
            double[] r = hostOverhead(generationOnly, n, steps, size);
            System.out.printf(Locale.ROOT, "      %4d  %8.3f  %10.3f  %12.4f%n", rows, r[0], r[1], r[2]);
            SUMMARY.put("fixture.host_ms_per_row.rows" + rows, r[2]);
        }
        // (b) ms per image-step, generation only (denoising), N = 1 / 4 / 8
        System.out.println("   b. denoising, ms per image-step (wall / (N x steps)), medians of 5");
        for (int n : new int[] {1, 4, 8}) {
            denoiseImagesPerSecond(generationOnly, n, n, steps, size);
            List<Double> ms = new ArrayList<>();
            for (int r = 0; r < 5; r++) {
                double ips = denoiseImagesPerSecond(generationOnly, n, n, steps, size);
                ms.add(1000.0 / ips / steps);
            }
            System.out.printf(Locale.ROOT, "      N = %d: %.3f ms%n", n, median(ms));
            SUMMARY.put("fixture.ms_per_image_step.n" + n, median(ms));
        }
        // (c) decode + to-image per image, 8 images
        List<DenoisingSlot> denoised = slots(p, job(8, 5, steps, size));
        while (!denoised.get(0).isDone()) {
            p.step(denoised);
        }
        p.decode(denoised, 8);
        List<Double> decodeMs = new ArrayList<>();
        for (int r = 0; r < 5; r++) {
            long t0 = System.nanoTime();
            List<RgbImage> images = p.decode(denoised, 8);
            decodeMs.add((System.nanoTime() - t0) / 1e6 / images.size());
        }
        System.out.printf(Locale.ROOT, "   c. decode + to-image: %.2f ms per image (8 images)%n", median(decodeMs));
        SUMMARY.put("fixture.decode_ms_per_image", median(decodeMs));
        // (d) images/s at N = 8 through the engine loop, one client: with the embedded judges, and without judges
        BestOfN judged = bestOfN(p, defaultSafety(sessions), defaultScorers(sessions),
                new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0)));
        clients(judged, 1, 2, 8, steps, size, true);
        clients(generationOnly, 1, 2, 8, steps, size, true);
        List<Double> withJudges = new ArrayList<>();
        List<Double> without = new ArrayList<>();
        for (int r = 0; r < 5; r++) {
            withJudges.add(clients(judged, 1, 3, 8, steps, size, true));
            without.add(clients(generationOnly, 1, 3, 8, steps, size, true));
        }
        System.out.printf(Locale.ROOT, "   d. N = 8, one client, through the engine loop: %.1f images/s with the embedded judges, "
                + "%.1f images/s generation only (no judges)%n%n", median(withJudges), median(without));
        SUMMARY.put("fixture.n8.images_per_s.judged", median(withJudges));
        SUMMARY.put("fixture.n8.images_per_s.generation_only", median(without));
        schedulerCosts(generationOnly, steps, size);
        judgingCosts(sessions, denoised, p);
    }

    /**
     * (e) ms per image-step by scheduler at N = 8, interleaved rounds: an ancestral sampler draws
     * a latent of fresh noise per candidate and step, the others none after the first.
     */
    static void schedulerCosts(BestOfN b, int steps, int size) throws Exception {
        String[] schedulers = {"ddim", "euler", "euler_a", "dpmpp_2m"};
        Map<String, List<Double>> ms = new LinkedHashMap<>();
        // Warm-up: 6 jobs (960 candidate-steps) per scheduler. C2 compiles a method only after 600
        // calls (HotSpot's Tier4MinInvocationThreshold); one job each (160 steps), as before
        // 2026-12-04, left the schedulers other than DDIM (which sections a-d had already run)
        // in C1 code through some of the timed rounds, in about half of the JVMs.
        for (String s : schedulers) {
            denoiseImagesPerSecond(b, 8, 48, steps, size, s);
            ms.put(s, new ArrayList<>());
        }
        for (int r = 0; r < 5; r++) {
            for (String s : schedulers) {
                ms.get(s).add(1000.0 / denoiseImagesPerSecond(b, 8, 8, steps, size, s) / steps);
            }
        }
        System.out.print("   e. denoising by scheduler, N = 8, ms per image-step (medians of 5 interleaved):");
        for (String s : schedulers) {
            System.out.printf(Locale.ROOT, " %s %.3f", s, median(ms.get(s)));
        }
        double ratio = median(ms.get("euler_a")) / median(ms.get("ddim"));
        System.out.printf(Locale.ROOT, "; euler_a / ddim %.2fx%n", ratio);
        SUMMARY.put("fixture.ms_per_image_step.euler_a", median(ms.get("euler_a")));
        SUMMARY.put("fixture.euler_a_over_ddim", ratio);
    }

    /**
     * (f) judging 8 decoded 512² images with the embedded judges (safety, then each scorer, as the
     * engine does): wall time against the time inside their OrtSession.run calls, medians of 7.
     */
    static void judgingCosts(OnnxSessions sessions, List<DenoisingSlot> denoised, DiffusionPipeline p) throws Exception {
        SafetyJudge safety = defaultSafety(sessions);
        List<ScoreJudge> scorers = defaultScorers(sessions);
        List<Double> wall = new ArrayList<>();
        List<Double> inRun = new ArrayList<>();
        for (int r = 0; r < 10; r++) {
            List<RgbImage> images = p.decode(denoised, 8); // new images each round, as every job's are
            long ort0 = ModelSession.totalRunNanos();
            long t0 = System.nanoTime();
            List<SafetyVerdict> verdicts = safety.judge(images);
            for (ScoreJudge s : scorers) {
                s.score(images, PROMPT);
            }
            long took = System.nanoTime() - t0;
            if (verdicts.size() != 8) {
                throw new IllegalStateException("verdicts for " + verdicts.size() + " of 8 images");
            }
            if (r >= 3) { // the first rounds warm the JIT
                wall.add(took / 1e6);
                inRun.add((ModelSession.totalRunNanos() - ort0) / 1e6);
            }
        }
        double ratio = median(wall) / median(inRun);
        System.out.printf(Locale.ROOT, "   f. judging 8 images (safety + %d scorers): %.1f ms, %.1f ms of it inside "
                + "OrtSession.run: %.2fx the judges' own runs%n%n", scorers.size(), median(wall), median(inRun), ratio);
        SUMMARY.put("fixture.n8.judging_ms", median(wall));
        SUMMARY.put("fixture.n8.judging_over_raw", ratio);
    }

    /**
     * Steady-state UNet steps of {@code n} guided candidates, each under a run budget as in the
     * engine loop: {step wall ms, ms inside OrtSession.run, host ms per row}, medians of rounds.
     */
    static double[] hostOverhead(BestOfN b, int n, int steps, int size) throws Exception {
        List<DenoisingSlot> slots = slots(b.pipeline(), job(n, 7, steps, size));
        int rows = 2 * n;
        long warmUntil = System.nanoTime() + 2_000_000_000L; // the JIT compiles the step's loops first
        while (System.nanoTime() < warmUntil) {
            slots = stepOnce(b, slots, steps, size);
        }
        List<Double> wall = new ArrayList<>();
        List<Double> inRun = new ArrayList<>();
        List<Double> host = new ArrayList<>();
        for (int round = 0; round < 7; round++) {
            long wallNanos = 0;
            long runNanos = 0;
            int reps = 10;
            for (int i = 0; i < reps; i++) {
                if (slots.get(0).isDone()) {
                    slots = slots(b.pipeline(), job(n, 7 + i, steps, size)); // not timed: a new job's setup
                }
                long ort0 = ModelSession.totalRunNanos();
                long t0 = System.nanoTime();
                try (RunBudget budget = RunBudget.open(System.nanoTime() + 3_600_000_000_000L)) {
                    b.pipeline().step(slots);
                }
                wallNanos += System.nanoTime() - t0;
                runNanos += ModelSession.totalRunNanos() - ort0;
            }
            wall.add(wallNanos / 1e6 / reps);
            inRun.add(runNanos / 1e6 / reps);
            host.add((wallNanos - runNanos) / 1e6 / reps / rows);
        }
        return new double[] {median(wall), median(inRun), median(host)};
    }

    static List<DenoisingSlot> stepOnce(BestOfN b, List<DenoisingSlot> slots, int steps, int size) throws Exception {
        if (slots.get(0).isDone()) {
            slots = slots(b.pipeline(), job(slots.size(), 9, steps, size));
        }
        b.pipeline().step(slots);
        return slots;
    }

    /**
     * A safety judge that judges nothing: every candidate safe, for the generation-only figures.
     * It carries the default safety judge's manifest (never its model), because a result names its
     * judges (since model versions came, a judge without a manifest fails the job).
     */
    static final class AllSafe extends SafetyJudge {
        AllSafe() {
            super(JudgeManifests.read(Path.of(defaultPath("winnow.judges.safety.path"))), null, 0.5);
        }

        @Override
        public List<SafetyVerdict> judge(List<RgbImage> images) {
            return Collections.nCopies(images.size(), new SafetyVerdict(Verdict.SAFE, 0.0, null));
        }
    }

    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "unknown";
        }
    }

    static double median(List<Double> values) {
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int m = sorted.size() / 2;
        return sorted.size() % 2 == 1 ? sorted.get(m) : (sorted.get(m - 1) + sorted.get(m)) / 2;
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
        return Integer.parseInt(stringArg(args, name, String.valueOf(dflt)));
    }

    static String stringArg(String[] args, String name, String dflt) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return dflt;
    }
}
