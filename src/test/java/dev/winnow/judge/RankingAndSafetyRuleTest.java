package dev.winnow.judge;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.winnow.modelpack.JudgeManifests;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class RankingAndSafetyRuleTest {

    static SafetyJudge nsfw;

    @BeforeAll
    static void load() {
        nsfw = SafetyJudge.load(Path.of("models/judges/nsfw-mobilenet-v2"), OnnxSessions.create(DeviceChoice.CPU, 1, 0), null);
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
    void reachingTheThresholdIsUnsafe() {
        assertEquals(Verdict.UNSAFE, nsfw.decide(new float[] {0.2f, 0.2f, 0.1f, 0.2f, 0.3f}).verdict());
        assertEquals(Verdict.UNSAFE, nsfw.decide(new float[] {0.0f, 0.0f, 0.0f, 0.0f, 1.0f}).verdict());
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
