package dev.winnow.judge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RankingAndSafetyRuleTest {

    static final Path NSFW = Path.of("models/judges/nsfw-mobilenet-v2");
    static final OnnxSessions CPU = OnnxSessions.create(DeviceChoice.CPU, 1, 0);
    static SafetyJudge nsfw;

    @BeforeAll
    static void load() {
        nsfw = SafetyJudge.load(NSFW, CPU, null);
    }

    @AfterAll
    static void close() {
        nsfw.close();
    }

    @Test
    void theUnsafeProbabilityIsTheSumOfTheUnsafeLabels() {
        // Drawing, Hentai, Neutral, Porn, Sexy
        SafetyVerdict v = nsfw.decide(new float[] {0.4f, 0.1f, 0.3f, 0.1f, 0.1f});
        assertEquals(0.3, v.unsafeProbability(), 1e-6);
        assertEquals(Verdict.SAFE, v.verdict());
    }

    @Test
    void exactlyReachingTheThresholdIsUnsafeAndJustUnderItIsSafe() {
        assertEquals(0.5, nsfw.threshold());
        // Drawing, Hentai, Neutral, Porn, Sexy: unsafe = Hentai + Porn + Sexy
        SafetyVerdict at = nsfw.decide(new float[] {0.5f, 0.25f, 0f, 0.25f, 0f});
        assertEquals(0.5, at.unsafeProbability(), 0.0);
        assertEquals(Verdict.UNSAFE, at.verdict(), "a summed probability equal to the threshold is unsafe");
        float under = Math.nextDown(0.25f);
        SafetyVerdict below = nsfw.decide(new float[] {0.5f, 0.25f, 0f, under, 0f});
        assertTrue(below.unsafeProbability() < 0.5);
        assertEquals(Verdict.SAFE, below.verdict(), "one float step under the threshold is safe");
        assertEquals(Verdict.UNSAFE, nsfw.decide(new float[] {0.0f, 0.0f, 0.0f, 0.0f, 1.0f}).verdict());
    }

    @ParameterizedTest(name = "a configured threshold of {0} is refused at load")
    @ValueSource(doubles = {0.0, -0.1, 1.0000001, 1.5, Double.NaN, Double.POSITIVE_INFINITY})
    void aThresholdOverrideOutsideZeroToOneIsAStartupError(double threshold) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SafetyJudge.load(NSFW, CPU, threshold).close());
        assertTrue(e.getMessage().contains("winnow.judges.safety.threshold") && e.getMessage().contains("(0, 1]"),
                e.getMessage());
    }

    @Test
    void aThresholdOverrideOfOneIsTheLoosestThatStillJudges() {
        try (SafetyJudge loosest = SafetyJudge.load(NSFW, CPU, 1.0)) {
            assertEquals(1.0, loosest.threshold());
            assertEquals(Verdict.UNSAFE, loosest.decide(new float[] {0f, 0f, 0f, 1f, 0f}).verdict());
            assertEquals(Verdict.SAFE, loosest.decide(new float[] {0.01f, 0f, 0f, 0.99f, 0f}).verdict());
        }
    }

    @Test
    void aNanScoreLeavesTheRankingToTheOtherScoresAndNeverHidesASafeCandidate() {
        RankingPolicy p = new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0));
        Map<String, Double> broken = new java.util.HashMap<>(Map.of("faithfulness", 0.8));
        broken.put("aesthetic", Double.NaN);
        double c = p.combined(broken);
        assertEquals(0.8, c, 1e-12, "the NaN score counts as the worst score, 0");
        assertEquals(0, p.best(List.of(Verdict.SAFE, Verdict.UNSAFE), List.of(c, 5.0)));
        // even a candidate whose every score is unknown is still the best safe one, never "no safe candidate"
        assertEquals(1, p.best(List.of(Verdict.UNSAFE, Verdict.SAFE), List.of(5.0, Double.NaN)));
        assertEquals(2, p.best(List.of(Verdict.SAFE, Verdict.UNSAFE, Verdict.SAFE), List.of(Double.NaN, 5.0, 0.1)));
    }

    @Test
    void aScorerThatReturnsNanGivesNoScoreRatherThanAnOutOfRangeOne() {
        try (ScoreJudge aesthetic = ScoreJudge.load(Path.of("models/judges/aesthetic-scenes"), CPU)) {
            assertTrue(Double.isNaN(aesthetic.normalise(Double.NaN)));
            assertEquals(1.0, aesthetic.normalise(Double.POSITIVE_INFINITY));
            assertEquals(0.0, aesthetic.normalise(Double.NEGATIVE_INFINITY));
        }
    }

    @Test
    void aNanOrAMissingVerdictIsNeverSafe() {
        assertEquals(Verdict.SAFETY_ERROR, nsfw.decide(new float[] {Float.NaN, 0, 1, 0, 0}).verdict());
        assertEquals(Verdict.SAFETY_ERROR, nsfw.decide(new float[] {1, 0, 0}).verdict());
        assertEquals(Verdict.SAFETY_ERROR, nsfw.decide(null).verdict());
    }

    @Test
    void theManifestThresholdIsTheDefault() {
        assertEquals(JudgeManifests.read(Path.of("models/judges/nsfw-mobilenet-v2")).threshold(), nsfw.threshold());
    }

    @Test
    void theBestSafeCandidateWinsEvenWhenAnUnsafeOneScoresHigher() {
        RankingPolicy p = new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 2.0));
        double a = p.combined(Map.of("aesthetic", 0.9, "faithfulness", 0.1));
        double b = p.combined(Map.of("aesthetic", 0.2, "faithfulness", 0.6));
        assertEquals(1.1, a, 1e-9);
        assertEquals(1.4, b, 1e-9);
        List<Verdict> verdicts = List.of(Verdict.SAFE, Verdict.SAFE, Verdict.UNSAFE, Verdict.SAFETY_ERROR);
        assertEquals(1, p.best(verdicts, List.of(a, b, 9.0, 9.0)));
    }

    @Test
    void requestWeightsOverrideTheConfiguredOnes() {
        RankingPolicy p = new RankingPolicy(Map.of("aesthetic", 1.0, "faithfulness", 1.0))
                .withOverrides(Map.of("faithfulness", 0.0));
        assertEquals(0.5, p.combined(Map.of("aesthetic", 0.5, "faithfulness", 1.0)), 1e-9);
    }

    @Test
    void tiesGoToTheLowerIndexAndNoSafeCandidateGivesMinusOne() {
        RankingPolicy p = new RankingPolicy(Map.of());
        assertEquals(0, p.best(List.of(Verdict.SAFE, Verdict.SAFE), List.of(1.0, 1.0)));
        assertEquals(-1, p.best(List.of(Verdict.UNSAFE, Verdict.SAFETY_ERROR), List.of(1.0, 2.0)));
    }
}
