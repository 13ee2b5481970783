package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DenoisingSlot;
import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Speculative best-of-N on the real embedded models: what is pruned, what is kept, and where the freed rows go. */
class PruningTest {

    static final String PROMPT = "a red circle to the left of a blue square";

    static DiffusionPipeline pipeline;
    static SafetyJudge nsfw;
    static ScoreJudge verifier;
    /** Ranks by faithfulness; judges previews with the same verifier (the service's fallback preview judge). */
    static BestOfN pruning;
    static String device;

    /** The seeds of each UNet call's slots, in call order. */
    final List<List<Long>> calls = Collections.synchronizedList(new ArrayList<>());
    final UnetStepper recording = (p, slots) -> {
        calls.add(slots.stream().map(DenoisingSlot::seed).toList());
        return p.step(slots);
    };
    EngineLoop loop;

    @BeforeAll
    static void load() {
        OnnxSessions sessions = OnnxSessions.create(DeviceChoice.CPU, 2, 0);
        device = sessions.device();
        pipeline = DiffusionPipeline.load(Path.of("models/shapes-scenes"), sessions);
        nsfw = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, null);
        verifier = ScoreJudge.load(Path.of("models/judges/scenes-verifier"), sessions);
        pruning = new BestOfN(pipeline, nsfw, List.of(verifier), new RankingPolicy(Map.of("faithfulness", 1.0)))
                .withPreviewJudge(verifier);
    }

    @AfterAll
    static void close() {
        pipeline.close();
        nsfw.close();
        verifier.close();
    }

    @AfterEach
    void stop() {
        if (loop != null) {
            loop.stop();
        }
    }

    static GenerationRequest job(long seed, int n, int steps, Prune prune) {
        return new GenerationRequest(PROMPT, "", n, steps, 5.0, seed, 64, 64, "ddim", true, Map.of(),
                System.nanoTime() + 120_000_000_000L, prune, 1);
    }

    static List<CandidateResult> kept(GenerationResult r) {
        return r.candidates().stream().filter(c -> c.verdict() != Verdict.PRUNED).toList();
    }

    static List<CandidateResult> pruned(GenerationResult r) {
        return r.candidates().stream().filter(c -> c.verdict() == Verdict.PRUNED).toList();
    }

    @Test
    void aPrunedJobKeepsTheCandidatesWhosePreviewsScoredHighest() {
        GenerationResult r = EngineLoop.runAlone(pruning, job(300, 6, 10, new Prune(0.3, 2)), 16);
        assertEquals(6, r.candidates().size(), "every candidate is listed, pruned or not");
        assertEquals(2, kept(r).size());
        double lowestKept = kept(r).stream().mapToDouble(c -> c.scores().get("preview")).min().orElseThrow();
        for (CandidateResult p : pruned(r)) {
            assertTrue(p.scores().get("preview") <= lowestKept, "pruned " + p + " previewed no better than the kept");
            assertEquals(Set.of("preview"), p.scores().keySet(), "a pruned candidate has only its preview score");
        }
        assertTrue(r.timingsMs().containsKey("preview"));
        assertTrue(kept(r).stream().anyMatch(c -> c.index() == r.chosen().index()), "the image is a kept candidate");
    }

    @Test
    void keptCandidatesFinishByteForByteAsTheyWouldWithoutPruning() {
        GenerationResult prunedRun = EngineLoop.runAlone(pruning, job(300, 6, 10, new Prune(0.3, 2)), 16);
        GenerationResult fullRun = EngineLoop.runAlone(pruning, job(300, 6, 10, null), 16);
        for (CandidateResult k : kept(prunedRun)) {
            Map<String, Double> same = new java.util.LinkedHashMap<>(k.scores());
            same.remove("preview");
            assertEquals(fullRun.candidates().get(k.index()).scores(), same,
                    "candidate " + k.index() + " is judged the same pruned or not");
        }
        int chosen = prunedRun.chosen().index();
        GenerationResult alone = EngineLoop.runAlone(pruning, job(300 + chosen, 1, 10, null), 16);
        Determinism.assertSameImage(device, alone.png(), prunedRun.png(), "the kept candidate alone vs in a pruned job");
    }

    @Test
    void aSecondJobsSlotsFillTheRowsThatPruningFrees() throws Exception {
        loop = new EngineLoop(pruning, 4, 16, true, recording, new EngineObserver() { });
        // A: 8 candidates with guidance = 16 rows, every row of a call until it is pruned to 2 after 3 of 6 steps.
        CompletableFuture<GenerationResult> a = loop.submit(job(1000, 8, 6, new Prune(0.5, 2)));
        CompletableFuture<GenerationResult> b = loop.submit(job(5000, 4, 6, null));
        GenerationResult ra = a.get(120, TimeUnit.SECONDS);
        b.get(120, TimeUnit.SECONDS);
        Set<Long> keptSeeds = new HashSet<>();
        kept(ra).forEach(c -> keptSeeds.add(c.seed()));
        Set<Long> prunedSeeds = new HashSet<>();
        pruned(ra).forEach(c -> prunedSeeds.add(c.seed()));
        assertEquals(6, prunedSeeds.size());
        for (int i = 0; i < 3; i++) {
            assertEquals(seeds(1000, 8), calls.get(i), "before the prune point A fills every call alone");
        }
        List<List<Long>> after = calls.subList(3, calls.size());
        assertTrue(after.stream().noneMatch(c -> c.stream().anyMatch(prunedSeeds::contains)),
                "no pruned candidate takes another step: " + calls);
        assertTrue(after.stream().anyMatch(c -> c.containsAll(keptSeeds) && c.containsAll(seeds(5000, 4))),
                "B's slots share calls with A's kept slots in the rows pruning freed: " + calls);
        long aSlotSteps = calls.stream().mapToLong(c -> c.stream().filter(s -> s < 5000).count()).sum();
        assertEquals(8 * 3 + 2 * 3, aSlotSteps, "A spends 8 slots x 3 steps, then 2 x 3");
    }

    @Test
    void withoutPruningTheSecondJobWaitsForTheRowsOfTheFirst() throws Exception {
        loop = new EngineLoop(pruning, 4, 16, true, recording, new EngineObserver() { });
        CompletableFuture<GenerationResult> a = loop.submit(job(1000, 8, 6, null));
        CompletableFuture<GenerationResult> b = loop.submit(job(5000, 4, 6, null));
        a.get(120, TimeUnit.SECONDS);
        b.get(120, TimeUnit.SECONDS);
        assertTrue(calls.stream().noneMatch(c -> c.contains(1000L) && c.contains(5000L)), calls.toString());
    }

    @Test
    void whenThePreviewsCannotBeJudgedEveryCandidateGoesOn() throws Exception {
        BestOfN noPreviewJudge = new BestOfN(pipeline, nsfw, List.of(verifier),
                new RankingPolicy(Map.of("faithfulness", 1.0)));
        loop = new EngineLoop(noPreviewJudge, 4, 16, true, recording, new EngineObserver() { });
        GenerationResult r = loop.submit(job(300, 4, 6, new Prune(0.5, 1))).get(120, TimeUnit.SECONDS);
        assertTrue(pruned(r).isEmpty(), "pruning only saves work: a failed judgement prunes nothing");
        assertEquals(4, kept(r).size());
        assertFalse(r.candidates().get(0).scores().containsKey("preview"));
    }

    @Test
    void thePrunePointIsRoundedIntoTheStepsAndRowsAreCountedFromIt() {
        assertEquals(4, new Prune(0.2, 2).afterStep(20));
        assertEquals(1, new Prune(0.01, 2).afterStep(20), "at least one step, so there is a prediction to judge");
        assertEquals(19, new Prune(0.99, 2).afterStep(20), "at most steps - 1, so pruning saves a step");
        assertEquals((4 * 8 + 16 * 2) / (20.0 * 8), new Prune(0.2, 2).rowShare(8, 20), 1e-12);
    }

    @Test
    void aStagedRuleJudgesOnlyTheSurvivorsAgainAndSaysWhenEachWasPruned() throws Exception {
        loop = new EngineLoop(pruning, 4, 16, true, recording, new EngineObserver() { });
        Prune staged = new Prune(0.2, 4, 0, new Prune(0.5, 2));
        GenerationResult r = loop.submit(job(2000, 8, 10, staged)).get(120, TimeUnit.SECONDS);
        assertEquals(2, kept(r).size());
        assertEquals(4, pruned(r).stream().filter(c -> c.prunedAtStep() == 2).count(), "4 of 8 dropped after 2 steps");
        assertEquals(2, pruned(r).stream().filter(c -> c.prunedAtStep() == 5).count(), "2 of the 4 left after 5");
        assertTrue(kept(r).stream().allMatch(c -> c.prunedAtStep() == null));
        long slotSteps = calls.stream().mapToLong(List::size).sum();
        assertEquals(8 * 2 + 4 * 3 + 2 * 5, slotSteps, "8 slots x 2 steps, 4 x 3, then 2 x 5");
        assertEquals((8 * 2 + 4 * 3 + 2 * 5) / 80.0, staged.rowShare(8, 10), 1e-12);
        GenerationResult full = EngineLoop.runAlone(pruning, job(2000, 8, 10, null), 16);
        for (CandidateResult k : kept(r)) {
            Map<String, Double> same = new java.util.LinkedHashMap<>(k.scores());
            same.remove("preview");
            assertEquals(full.candidates().get(k.index()).scores(), same, "a survivor of two decisions finishes as unpruned");
        }
    }

    @Test
    void aMarginKeepsEveryCandidateTheJudgeCannotTellFromTheBest() throws Exception {
        PreparedJob job = PreparedJob.encode(pipeline, job(300, 6, 10, new Prune(0.3, 2, 0.1, new Prune(0.6, 1))));
        assertEquals(3, job.holdAtStep());
        for (int i = 0; i < 3; i++) {
            pipeline.step(job.slots());
        }
        assertEquals(6, job.takePreviews().size());
        List<Integer> dropped = job.prune(new double[] {0.9, 0.85, 0.5, 0.82, 0.1, Double.NaN});
        assertEquals(List.of(2, 4, 5), dropped, "0.82 is within 0.1 of 0.9 and goes on; a NaN never does");
        assertEquals(3, job.prunedAtStep(2));
        assertEquals(null, job.prunedAtStep(3));
        assertEquals(6, job.holdAtStep(), "the next decision holds the survivors at its own step");
        for (int i = 0; i < 3; i++) {
            pipeline.step(job.liveSlots());
        }
        assertEquals(3, job.takePreviews().size(), "only the survivors are previewed again");
        assertEquals(List.of(0, 3), job.prune(new double[] {0.2, 0.7, 0.4}), "scores come in the survivors' index order");
        assertEquals(Integer.MAX_VALUE, job.holdAtStep(), "no decision is left");
        assertEquals(0.7, job.previewScore(1), 1e-12);
        assertEquals(0.5, job.previewScore(2), 1e-12, "a pruned candidate keeps the score it was pruned on");
    }

    @Test
    void aMarginOfZeroKeepsExactlyKeepEvenOnTies() {
        PreparedJob job = PreparedJob.encode(pipeline, job(300, 4, 10, new Prune(0.3, 2)));
        assertEquals(List.of(2, 3), job.prune(new double[] {0.5, 0.5, 0.5, 0.5}), "ties go to the lower index");
        PreparedJob margin = PreparedJob.encode(pipeline, job(300, 4, 10, new Prune(0.3, 2, 0.01, null)));
        assertEquals(List.of(), margin.prune(new double[] {0.5, 0.5, 0.5, 0.5}), "with a margin, a tie goes on");
    }

    @Test
    void theServersStrategyBuildsItsStagesForAnyN() {
        Prune.Defaults staged = new Prune.Defaults(0.2, 0.5, 0.05, 0.4, 0.25);
        assertEquals(new Prune(0.2, 4, 0.05, new Prune(0.4, 2)), staged.forN(8));
        assertEquals(new Prune(0.2, 1, 0.05, new Prune(0.4, 1)), staged.forN(2), "each keeps at least 1, fewer than n");
        assertEquals(new Prune(0.2, 2), new Prune.Defaults(0.2, 0.25).forN(8), "the rule before stages");
    }

    private static List<Long> seeds(long first, int n) {
        List<Long> s = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            s.add(first + i);
        }
        return s;
    }
}
