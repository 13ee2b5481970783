package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.diffusion.scheduler.Schedulers;
import dev.winnow.image.RgbImage;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The embedded tiny-shapes pack through the real loader, run end to end on ONNX Runtime. */
class DiffusionPipelineTest {

    static DiffusionPipeline pipeline;

    @BeforeAll
    static void load() {
        pipeline = DiffusionPipeline.load(Path.of("models", "tiny-shapes"), OnnxSessions.create(DeviceChoice.CPU, 2, 0));
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    static List<RgbImage> generate(String prompt, long seed, int n, int maxSlotsPerCall, String scheduler) throws Exception {
        PromptEmbedding p = pipeline.encodePrompt(prompt, "");
        List<DenoisingSlot> slots = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            slots.add(pipeline.newSlot(seed + i, p, scheduler, 12, 5.0, 64, 64));
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
        assertEquals("tiny-shapes", pipeline.name());
        assertEquals(64, pipeline.defaultSize());
        assertEquals(8, pipeline.vaeScale());
        assertTrue(pipeline.fixedSize());
        assertTrue(pipeline.unet().acceptsPerRowTimesteps());
        assertTrue(pipeline.scalingFactor() > 0 && pipeline.scalingFactor() != DiffusionPipeline.DEFAULT_SCALING_FACTOR);
    }

    @Test
    void theSameSeedGivesIdenticalPixels() throws Exception {
        RgbImage a = generate("a red circle on a white background", 100, 1, 1, "ddim").get(0);
        RgbImage b = generate("a red circle on a white background", 100, 1, 1, "ddim").get(0);
        assertArrayEquals(a.rgb(), b.rgb());
        RgbImage c = generate("a red circle on a white background", 101, 1, 1, "ddim").get(0);
        assertFalse(java.util.Arrays.equals(a.rgb(), c.rgb()));
    }

    @Test
    void aCandidateInABatchOfEightEqualsItsSingleRun() throws Exception {
        List<RgbImage> batch = generate("a blue square on a black background", 200, 8, 8, "euler_a");
        int worst = 0;
        for (int i : new int[] {0, 3, 7}) {
            RgbImage alone = generate("a blue square on a black background", 200 + i, 1, 1, "euler_a").get(0);
            worst = Math.max(worst, maxPixelDifference(batch.get(i), alone));
        }
        System.out.println("batch-vs-alone max per-pixel difference: " + worst);
        assertTrue(worst <= 2, "max per-pixel difference " + worst + " (documented tolerance 2/255)");
    }

    @Test
    void everySchedulerProducesAnImage() throws Exception {
        for (String s : Schedulers.NAMES) {
            RgbImage img = generate("a green triangle", 5, 1, 1, s).get(0);
            assertEquals(64, img.width());
        }
    }

    static int maxPixelDifference(RgbImage a, RgbImage b) {
        int worst = 0;
        for (int i = 0; i < a.rgb().length; i++) {
            worst = Math.max(worst, Math.abs((a.rgb()[i] & 0xff) - (b.rgb()[i] & 0xff)));
        }
        return worst;
    }
}
