package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.image.RgbImage;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import dev.winnow.testing.DominantColours;
import dev.winnow.testing.Determinism;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The embedded shapes-scenes pack through the real loader, run end to end on ONNX Runtime. */
class DiffusionPipelineTest {

    static OnnxSessions sessions;
    static DiffusionPipeline pipeline;

    @BeforeAll
    static void load() {
        sessions = OnnxSessions.create(DeviceChoice.CPU, 2, 0);
        pipeline = DiffusionPipeline.load(Path.of("models", "shapes-scenes"), sessions);
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    static List<RgbImage> generate(String prompt, long seed, int n, int maxSlotsPerCall, String scheduler) throws Exception {
        return generate(prompt, seed, n, maxSlotsPerCall, scheduler, 12);
    }

    static List<RgbImage> generate(String prompt, long seed, int n, int maxSlotsPerCall, String scheduler, int steps)
            throws Exception {
        PromptEmbedding p = pipeline.encodePrompt(prompt, "");
        List<DenoisingSlot> slots = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            slots.add(pipeline.newSlot(seed + i, p, scheduler, steps, 5.0, 64, 64));
        }
        while (!slots.get(0).isDone()) {
            for (int from = 0; from < n; from += maxSlotsPerCall) {
                pipeline.step(slots.subList(from, Math.min(n, from + maxSlotsPerCall)));
            }
        }
        return pipeline.decode(slots, 16);
    }

    @Test
    void thePackReadsItsOwnSettings() {
        assertEquals("shapes-scenes", pipeline.name());
        assertEquals(64, pipeline.defaultSize());
        assertEquals(4, pipeline.vaeScale()); // a 4x autoencoder: the scenes' small objects survive it
        assertTrue(pipeline.fixedSize());
        assertTrue(pipeline.unet().acceptsPerRowTimesteps());
        assertTrue(pipeline.scalingFactor() > 0 && pipeline.scalingFactor() != DiffusionPipeline.DEFAULT_SCALING_FACTOR);
    }

    @Test
    void theSameSeedGivesTheSameImageAndAnotherSeedAnother() throws Exception {
        RgbImage a = generate("a red circle on a white background", 100, 1, 1, "ddim").get(0);
        RgbImage b = generate("a red circle on a white background", 100, 1, 1, "ddim").get(0);
        Determinism.assertSameImage(sessions.device(), a, b, "seed 100 twice");
        RgbImage c = generate("a red circle on a white background", 101, 1, 1, "ddim").get(0);
        assertTrue(Determinism.maxChannelDifference(a, c) > Determinism.GPU_TOLERANCE, "seeds 100 and 101 differ");
    }

    @Test
    void aCandidateInABatchOfEightEqualsItsSingleRun() throws Exception {
        List<RgbImage> batch = generate("a blue square on a black background", 200, 8, 8, "euler_a");
        for (int i : new int[] {0, 3, 7}) {
            RgbImage alone = generate("a blue square on a black background", 200 + i, 1, 1, "euler_a").get(0);
            Determinism.assertSameImage(sessions.device(), alone, batch.get(i), "candidate " + i + " of 8 vs alone");
        }
    }

    // LCM at 8 steps: the pack is not consistency-distilled, and at 4 its single samples are only
    // sometimes right (a red circle on white, seeds 1-24: v3 19, v4 16; at 8 steps both 24)
    @ParameterizedTest(name = "{0} in {1} steps draws a red circle on white")
    @CsvSource({"ddim, 12", "euler, 12", "euler_a, 12", "dpmpp_2m, 12", "lcm, 8"})
    void everySchedulerDrawsWhatThePromptSays(String scheduler, int steps) throws Exception {
        for (long seed : new long[] {5, 6}) {
            RgbImage img = generate("a red circle on a white background", seed, 1, 1, scheduler, steps).get(0);
            DominantColours c = DominantColours.of(img);
            System.out.println(scheduler + " seed " + seed + ": " + c);
            assertTrue(c.background().isNear(245, 245, 245, 60), scheduler + ": background should be white, was " + c.background());
            assertTrue(c.foreground().isNear(220, 40, 40, 90), scheduler + ": shape should be red, was " + c.foreground());
        }
    }
}
