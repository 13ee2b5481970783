package dev.winnow.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.winnow.image.RgbImage;
import dev.winnow.onnx.DeviceChoice;
import dev.winnow.onnx.OnnxSessions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Fixture packs of real SD exports load through the real loader and generate: SD 1.5, SD 2.1
 * (768-v) and SD-Turbo as Optimum's exporter writes them (their real classes at tiny widths,
 * models/tools/make_export_fixtures.sh), SD 1.5 after batch_timestep.py, and hand-built graphs
 * with the interfaces of older exporters (models/tools/make_fixture_packs.py).
 */
class FixturePacksTest {

    static final OnnxSessions CPU = OnnxSessions.create(DeviceChoice.CPU, 2, 0);

    @ParameterizedTest(name = "{0} loads as {2} timesteps, {3}-wide text, {1}px default, pad id {4}")
    @CsvSource({
        "sd15-optimum-fixture,        512, INT64_PER_ROW, 768,  619, 0.18215,  epsilon",
        "sd15-fp16-diffusers-fixture, 512, FLOAT_PER_ROW, 768,  619, 0.18215,  epsilon",
        "sd21-v-fixture,               768, SCALAR_FLOAT,  32,   0,   0.18215,  v_prediction",
        "sd-turbo-fixture,             512, SCALAR_FLOAT,  32,   0,   0.18215,  epsilon",
        "sd15-optimum-scalar-fixture,  512, SCALAR_FLOAT,  32,   619, 0.18215,  epsilon",
        "sd15-optimum-batched-fixture, 512, FLOAT_PER_ROW, 32,   619, 0.18215,  epsilon"})
    void aRealExportInterfaceLoadsAndGenerates(String pack, int defaultSize, UNet.TimestepKind kind, int width,
                                               int padId, double scaling, String prediction) throws Exception {
        try (DiffusionPipeline p = DiffusionPipeline.load(Path.of("src/test/fixture-packs", pack), CPU)) {
            assertEquals(defaultSize, p.defaultSize());
            assertEquals(kind, p.unet().timestepKind());
            assertEquals(width, p.unet().textWidth());
            assertEquals(padId, p.tokenizer().padId());
            assertEquals(scaling, p.scalingFactor(), 1e-9);
            assertEquals(prediction, p.schedulerConfig().predictionType());
            assertTrue(!p.fixedSize());
            assertEquals(64, p.sizeStep(), "an SD UNet (4 levels) halves the latent 3 times: sides in steps of 64 px");
            for (String scheduler : new String[] {"ddim", "euler", "dpmpp_2m"}) {
                PromptEmbedding prompt = p.encodePrompt("a red circle", "blurry");
                List<DenoisingSlot> slots = new ArrayList<>();
                slots.add(p.newSlot(1, prompt, scheduler, 3, 5.0, 256, 192));
                slots.add(p.newSlot(2, prompt, scheduler, 3, 5.0, 256, 192));
                while (!slots.get(0).isDone()) {
                    p.step(slots);
                }
                List<RgbImage> images = p.decode(slots, 4);
                assertEquals(256, images.get(0).width());
                assertEquals(192, images.get(0).height());
            }
        }
    }

    @Test
    void aScalarTimestepUnetRunsRowsAtDifferentStepsGroupByGroup() throws Exception {
        try (DiffusionPipeline p = DiffusionPipeline.load(Path.of("src/test/fixture-packs/sd-turbo-fixture"), CPU)) {
            int perRow = 4 * 8 * 8;
            int stateRow = 77 * p.unet().textWidth();
            float[] samples = new float[3 * perRow];
            float[] states = new float[3 * stateRow];
            for (int i = 0; i < samples.length; i++) {
                samples[i] = (float) Math.sin(i);
            }
            double[] t = {999, 500, 999};
            float[] together = p.unet().predict(samples, 3, 8, 8, t, states, 77);
            for (int r = 0; r < 3; r++) {
                float[] one = java.util.Arrays.copyOfRange(samples, r * perRow, (r + 1) * perRow);
                float[] alone = p.unet().predict(one, 1, 8, 8, new double[] {t[r]}, new float[stateRow], 77);
                for (int k = 0; k < perRow; k++) {
                    assertEquals(alone[k], together[r * perRow + k], 0f, "row " + r);
                }
            }
        }
    }
}
