package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.testing.Determinism;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A UNet with a rank-0 timestep (SD 1.5 as Optimum's exporter writes it: the fixture is SD 1.5's
 * real classes at tiny widths, exported by optimum-cli) under concurrent load: jobs at different
 * steps cannot share a call, so each engine step runs one call per timestep, the metrics say so,
 * and every image is exactly the one the job makes alone. The same UNet after
 * models/tools/batch_timestep.py takes a timestep per row: the same jobs then share every call
 * across their steps, and make the same images.
 */
class ScalarTimestepBatchingTest {

    static OnnxSessions sessions;
    static DiffusionPipeline scalar;
    static DiffusionPipeline batched;
    static SafetyJudge nsfw;
    static BestOfN scalarBestOfN;
    static BestOfN batchedBestOfN;

    final List<Integer> callsPerStep = Collections.synchronizedList(new ArrayList<>());
    final List<Integer> rowsPerCall = Collections.synchronizedList(new ArrayList<>());
    final List<Set<Integer>> stepsInACall = Collections.synchronizedList(new ArrayList<>());
    final EngineObserver recorder = new EngineObserver() {
        @Override
        public void unetBatch(int rows) {
            rowsPerCall.add(rows);
        }

        @Override
        public void unetCallsPerStep(int calls) {
            callsPerStep.add(calls);
        }
    };
    EngineLoop loop;

    @BeforeAll
    static void load() {
        sessions = OnnxSessions.create(DeviceChoice.CPU, 2, 0);
        scalar = DiffusionPipeline.load(Path.of("src/test/fixture-packs/sd15-optimum-scalar-fixture"), sessions);
        batched = DiffusionPipeline.load(Path.of("src/test/fixture-packs/sd15-optimum-batched-fixture"), sessions);
        // The fixture's images mean nothing, so the NSFW judge's verdict on them does not either:
        // at threshold 1.0 nothing is unsafe, and the test is about the images.
        nsfw = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, 1.0);
        scalarBestOfN = new BestOfN(scalar, nsfw, List.of(), new RankingPolicy(Map.of()));
        batchedBestOfN = new BestOfN(batched, nsfw, List.of(), new RankingPolicy(Map.of()));
    }

    @AfterAll
    static void close() {
        scalar.close();
        batched.close();
        nsfw.close();
    }

    @AfterEach
    void stop() {
        if (loop != null) {
            loop.stop();
        }
    }

    static GenerationRequest job(long seed, int n, int steps, String scheduler) {
        return new GenerationRequest("a red circle on a white background", "", n, steps, 5.0, seed, 128, 128, scheduler,
                true, Map.of(), System.nanoTime() + 120_000_000_000L);
    }

    /** Jobs at different steps: DDIM at 8 and 6 steps and Euler at 6 walk different timesteps. */
    static final List<GenerationRequest> JOBS = List.of(job(10, 2, 8, "ddim"), job(20, 1, 8, "ddim"),
            job(30, 2, 6, "euler"), job(40, 1, 8, "ddim"));

    @Test
    void theFixturesUnetTakesOneTimestepForTheWholeBatchAndTheRewrittenOneATimestepPerRow() {
        assertEquals(dev.winnow.diffusion.UNet.TimestepKind.SCALAR_FLOAT, scalar.unet().timestepKind());
        assertTrue(!scalar.unet().acceptsPerRowTimesteps());
        assertEquals(dev.winnow.diffusion.UNet.TimestepKind.FLOAT_PER_ROW, batched.unet().timestepKind());
        assertTrue(batched.unet().acceptsPerRowTimesteps());
    }

    @Test
    void concurrentJobsAtDifferentStepsRunOneCallPerTimestepAndEachGetsTheImageItMakesAlone() throws Exception {
        List<GenerationResult> results = runConcurrently(scalarBestOfN);
        assertTrue(callsPerStep.stream().anyMatch(c -> c > 1),
                "some engine step needed more than one UNet call: " + callsPerStep);
        assertTrue(stepsInACall.stream().allMatch(s -> s.size() == 1),
                "every call held rows at one step (one timestep) only: " + stepsInACall);
        assertEquals(stepsInACall.size(), rowsPerCall.size(), "winnow_unet_batch_rows counts each real call");
        assertEquals(callsPerStep.stream().mapToInt(Integer::intValue).sum(), rowsPerCall.size(),
                "the calls per step add up to the calls made");
        for (int i = 0; i < JOBS.size(); i++) {
            GenerationResult alone = EngineLoop.runAlone(scalarBestOfN, JOBS.get(i), 16);
            Determinism.assertSameImage(sessions.device(), alone.png(), results.get(i).png(),
                    "job " + i + " alone vs sharing steps with jobs at other timesteps");
        }
    }

    @Test
    void afterBatchTimestepTheSameJobsShareEveryCallAcrossStepsAndMakeTheSameImages() throws Exception {
        List<GenerationResult> results = runConcurrently(batchedBestOfN);
        assertTrue(callsPerStep.stream().allMatch(c -> c == 1), "every engine step took one UNet call: " + callsPerStep);
        assertTrue(stepsInACall.stream().anyMatch(s -> s.size() > 1),
                "some call held rows at different steps (timesteps): " + stepsInACall);
        for (int i = 0; i < JOBS.size(); i++) {
            GenerationResult aloneOnTheOriginal = EngineLoop.runAlone(scalarBestOfN, JOBS.get(i), 16);
            // pixels, not PNG bytes: the PNG's metadata names the pack, and the two packs' names differ
            Determinism.assertSameImage(sessions.device(), Determinism.decode(aloneOnTheOriginal.png()),
                    Determinism.decode(results.get(i).png()),
                    "job " + i + " alone on the scalar-timestep UNet vs sharing calls on the rewritten one");
        }
    }

    /**
     * Submits {@link #JOBS} so that the first is in its first step when the others arrive (from
     * other threads), recording each call's step indexes; the results in the order of JOBS.
     */
    List<GenerationResult> runConcurrently(BestOfN bestOfN) throws Exception {
        CountDownLatch firstStepBegun = new CountDownLatch(1);
        CountDownLatch othersAdmitted = new CountDownLatch(1);
        loop = new EngineLoop(bestOfN, 8, 16, true, (p, slots) -> {
            firstStepBegun.countDown();
            othersAdmitted.await(10, TimeUnit.SECONDS); // the first job's first step waits for the others' admission
            Set<Integer> stepIndexes = new HashSet<>();
            for (DenoisingSlot s : slots) {
                stepIndexes.add(s.stepIndex());
            }
            stepsInACall.add(stepIndexes);
            return p.step(slots);
        }, recorder);
        List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
        futures.add(loop.submit(JOBS.get(0)));
        assertTrue(firstStepBegun.await(60, TimeUnit.SECONDS), "the first job began denoising");
        List<Thread> clients = new ArrayList<>();
        for (GenerationRequest j : JOBS.subList(1, JOBS.size())) {
            CompletableFuture<GenerationResult> f = new CompletableFuture<>();
            futures.add(f);
            Thread t = new Thread(() -> loop.submit(j).whenComplete((r, e) -> {
                if (e != null) {
                    f.completeExceptionally(e);
                } else {
                    f.complete(r);
                }
            }));
            clients.add(t);
            t.start();
        }
        for (Thread t : clients) {
            t.join(10_000);
        }
        othersAdmitted.countDown();
        List<GenerationResult> results = new ArrayList<>();
        for (CompletableFuture<GenerationResult> f : futures) {
            results.add(f.get(120, TimeUnit.SECONDS));
        }
        return results;
    }
}
