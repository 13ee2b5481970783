package dev.winnow.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.DiffusionPipeline;
import dev.winnow.image.RgbImage;
import dev.winnow.judge.RankingPolicy;
import dev.winnow.judge.SafetyJudge;
import dev.winnow.judge.ScoreJudge;
import dev.winnow.judge.Verdict;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.testing.Determinism;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
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
        pipeline = DiffusionPipeline.load(Path.of("models/tiny-shapes"), sessions);
        nsfw = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), sessions, null);
        aesthetic = ScoreJudge.load(Path.of("models/judges/aesthetic-tiny"), sessions);
        faithfulness = ScoreJudge.load(Path.of("models/judges/faithfulness-tiny"), sessions);
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
                new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0)), 16);
        GenerationResult r = b.generate(job(6), rows -> { });
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
        BestOfN b = new BestOfN(pipeline, new ThrowingSafetyJudge(), List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)), 16);
        NoSafeCandidateException e = assertThrows(NoSafeCandidateException.class, () -> b.generate(job(3), rows -> { }));
        assertEquals(3, e.candidates().size());
        assertTrue(e.candidates().stream().allMatch(c -> c.verdict() == Verdict.SAFETY_ERROR));
    }

    @Test
    void splittingIntoSmallerUnetCallsChangesNothing() {
        BestOfN wide = new BestOfN(pipeline, nsfw, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)), 16);
        BestOfN narrow = new BestOfN(pipeline, nsfw, List.of(aesthetic), new RankingPolicy(Map.of("aesthetic", 1.0)), 2);
        List<Integer> rows = new java.util.ArrayList<>();
        GenerationResult a = wide.generate(job(4), rows::add);
        assertEquals(8, rows.get(0));
        rows.clear();
        GenerationResult b = narrow.generate(job(4), rows::add);
        assertTrue(rows.stream().allMatch(r -> r <= 2));
        assertEquals(a.chosen().index(), b.chosen().index());
        Determinism.assertSameImage(sessions.device(), a.png(), b.png(), "8-row call vs 2-row calls");
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
