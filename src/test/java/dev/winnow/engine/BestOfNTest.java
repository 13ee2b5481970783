package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.image.RgbImage;
import dev.winnow.modelpack.JudgeManifest;
import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.testing.Determinism;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Best-of-N on the real embedded models: the choice, and fail-closed safety. */
class BestOfNTest {

    static OnnxSessions sessions;
    static DiffusionPipeline pipeline;
    static SafetyJudge nsfw;
    static ScoreJudge aesthetic;
    static ScoreJudge faithfulness;

    @BeforeAll
    static void load() {
        sessions = OnnxSessions.create(DeviceChoice.CPU, 2, 0);
        pipeline = DiffusionPipeline.load(Path.of("models/shapes-scenes"), sessions);
        nsfw = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, null);
        aesthetic = ScoreJudge.load(Path.of("models/judges/aesthetic-scenes"), sessions);
        faithfulness = ScoreJudge.load(Path.of("models/judges/scenes-verifier"), sessions);
    }

    @AfterAll
    static void close() {
        pipeline.close();
        nsfw.close();
        aesthetic.close();
        faithfulness.close();
    }

    static GenerationRequest job(int n) {
        return new GenerationRequest("a yellow triangle on a black background", "", n, 12, 5.0, 300, 64, 64, "ddim",
                true, Map.of(), System.nanoTime() + 60_000_000_000L);
    }

    @Test
    void theChosenCandidateHasTheHighestCombinedScoreAmongTheSafe() {
        BestOfN b = new BestOfN(pipeline, nsfw, List.of(aesthetic, faithfulness),
                new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0)));
        GenerationResult r = EngineLoop.runAlone(b, job(6), 16);
        assertEquals(6, r.candidates().size());
        r.candidates().forEach(c -> System.out.println("candidate " + c));
        double best = r.candidates().stream().filter(c -> c.verdict() == Verdict.SAFE)
                .mapToDouble(c -> c.scores().get("combined")).max().orElseThrow();
        assertEquals(best, r.chosen().scores().get("combined"), 0.0);
        assertEquals(Verdict.SAFE, r.chosen().verdict());
        assertEquals(300 + r.chosen().index(), r.chosen().seed());
        for (CandidateResult c : r.candidates().stream().filter(c -> c.verdict() == Verdict.SAFE).toList()) {
            double expected = c.scores().get("aesthetic") + c.scores().get("faithfulness");
            assertEquals(expected, c.scores().get("combined"), 1e-9);
        }
    }

    @Test
    void whenTheSafetyJudgeThrowsNothingIsReturned() {
        BestOfN b = new BestOfN(pipeline, new ThrowingSafetyJudge(), List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)));
        NoSafeCandidateException e = assertThrows(NoSafeCandidateException.class, () -> EngineLoop.runAlone(b, job(3), 16));
        assertEquals(3, e.candidates().size());
        assertTrue(e.candidates().stream().allMatch(c -> c.verdict() == Verdict.SAFETY_ERROR));
    }

    @Test
    void splittingIntoSmallerUnetCallsChangesNothing() {
        BestOfN models = new BestOfN(pipeline, nsfw, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)));
        List<Integer> rows = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
        EngineObserver recorder = new EngineObserver() {
            @Override
            public void unetBatch(int r) {
                rows.add(r);
            }
        };
        GenerationResult a = EngineLoop.runAlone(models, job(4), 16, recorder);
        assertEquals(8, rows.get(0));
        rows.clear();
        GenerationResult b = EngineLoop.runAlone(models, job(4), 2, recorder);
        assertTrue(rows.stream().allMatch(r -> r <= 2));
        assertEquals(a.chosen().index(), b.chosen().index());
        Determinism.assertSameImage(sessions.device(), a.png(), b.png(), "8-row call vs 2-row calls");
    }

    static GenerationRequest job(String prompt, long seed, int n) {
        return new GenerationRequest(prompt, "", n, 8, 5.0, seed, 64, 64, "euler_a", true, Map.of(),
                System.nanoTime() + 60_000_000_000L);
    }

    static List<GenerationRequest> threeJobs() {
        return List.of(job("a red circle on a white background", 10, 2), job("a blue square on a black background", 20, 3),
                job("a green triangle on a gray background", 30, 1));
    }

    /** Prepared and denoised, ready to be finished. */
    static PreparedJob denoised(BestOfN b, GenerationRequest request) throws Exception {
        PreparedJob p = PreparedJob.encode(b.pipeline(), request);
        List<DenoisingSlot> slots = p.slots();
        while (!slots.get(0).isDone()) {
            b.pipeline().step(slots);
        }
        return p;
    }

    static void assertSameOutcome(BestOfN.Finished alone, BestOfN.Finished together, String what) {
        if (alone.failure() != null) {
            assertEquals(alone.failure().getClass(), together.failure().getClass(), what);
            return;
        }
        GenerationResult a = alone.result();
        GenerationResult t = together.result();
        assertEquals(a.candidates(), t.candidates(), what + ": every candidate's verdict and scores");
        assertEquals(a.chosen(), t.chosen(), what + ": the choice");
        Determinism.assertSameImage(sessions.device(), a.png(), t.png(), what + ": the chosen image");
    }

    @Test
    void jobsFinishedTogetherGetExactlyWhatEachGetsFinishedAlone() throws Exception {
        BestOfN b = new BestOfN(pipeline, nsfw, List.of(aesthetic, faithfulness),
                new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0))).withDecodeBatchImages(4);
        List<PreparedJob> together = new ArrayList<>();
        for (GenerationRequest r : threeJobs()) {
            together.add(denoised(b, r));
        }
        List<BestOfN.Finished> shared = b.finishAll(together);
        assertEquals(3, shared.size());
        for (int i = 0; i < 3; i++) {
            BestOfN.Finished alone = b.finishAll(List.of(denoised(b, threeJobs().get(i)))).get(0);
            assertSameOutcome(alone, shared.get(i), "job " + i);
        }
    }

    @Test
    void aSharedSafetyCallThatFailsIsMadeAgainJobByJobSoNoJobLosesItsVerdicts() throws Exception {
        JudgeManifest m = JudgeManifests.read(Path.of("models/judges/nsfw-mobilenet-v2"));
        AtomicInteger sharedCalls = new AtomicInteger();
        try (var model = sessions.open(Path.of("models/judges/nsfw-mobilenet-v2").resolve(m.model()))) {
            // Fails any call of more than three images: the three jobs' shared call (six images), not theirs alone.
            SafetyJudge fussy = new SafetyJudge(m, model, m.threshold()) {
                @Override
                protected float[][] classify(List<RgbImage> images) throws Exception {
                    if (images.size() > 3) {
                        sharedCalls.incrementAndGet();
                        throw new IllegalStateException("this batch is too large for the device");
                    }
                    return super.classify(images);
                }
            };
            BestOfN b = new BestOfN(pipeline, fussy, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)));
            BestOfN reference = new BestOfN(pipeline, nsfw, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)));
            List<PreparedJob> together = new ArrayList<>();
            for (GenerationRequest r : threeJobs()) {
                together.add(denoised(b, r));
            }
            List<BestOfN.Finished> shared = b.finishAll(together);
            assertEquals(1, sharedCalls.get(), "the shared call was tried once");
            for (int i = 0; i < 3; i++) {
                BestOfN.Finished alone = reference.finishAll(List.of(denoised(reference, threeJobs().get(i)))).get(0);
                assertSameOutcome(alone, shared.get(i), "job " + i);
            }
        }
    }

    /** A fixture judge whose model call always fails. */
    static final class ThrowingSafetyJudge extends SafetyJudge {
        ThrowingSafetyJudge() {
            super(null, null, 0.5);
        }

        @Override
        protected float[][] classify(List<RgbImage> images) {
            throw new IllegalStateException("device lost");
        }
    }
}
